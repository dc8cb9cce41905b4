"""The training entry point (dimedia_course.train): configs, exact resume, kill + resume, and DDP on CPU (gloo)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dimedia_course.train import CONFIG_DIR, load_config, main, train

TINY = ["data.size=16", "data.n=32", "model.base_channels=8", "train.batch_size=4", "train.log_every=1"]


def _state(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", weights_only=True)


def _same(a: dict, b: dict, atol=0.0):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=atol)


def test_shipped_configs_load_and_bad_keys_are_named(tmp_path):
    names = sorted(p.name for p in CONFIG_DIR.glob("*.yaml"))
    assert {"cpu_demo.yaml", "mednist_ddpm_64.yaml", "mednist_cfg_64.yaml", "cpu_cfg.yaml"} <= set(names)
    for name in names:
        load_config(name)
    big = load_config("mednist_ddpm_64.yaml")
    assert big.model.kind == "monai_unet" and big.data.size == 64 and big.train.amp
    from dimedia_course.train import build_model

    params = sum(p.numel() for p in build_model(big.model).parameters())
    assert 15e6 < params < 22e6, params  # about the tutorial's 18 M-parameter network
    cfg = load_config("cpu_demo.yaml", ["train.steps=7", "model.base_channels=8"])
    assert cfg.train.steps == 7 and cfg.model.base_channels == 8
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {stepz: 3}\n")
    with pytest.raises(ValueError, match="stepz"):
        load_config(bad)
    with pytest.raises(FileNotFoundError, match="shipped configs"):
        load_config(tmp_path / "none.yaml")
    with pytest.raises(ValueError, match="section.key=value"):
        load_config("cpu_demo.yaml", ["oops"])


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    full = load_config("cpu_demo.yaml", TINY + ["train.steps=4", "train.checkpoint_every=2", "train.ema_decay=0.9"])
    train(full, tmp_path / "full", progress=False)
    half = load_config("cpu_demo.yaml", TINY + ["train.steps=2", "train.checkpoint_every=2", "train.ema_decay=0.9"])
    train(half, tmp_path / "resumed", progress=False)
    train(full, tmp_path / "resumed", resume=True, progress=False)
    a, b = _state(tmp_path / "full"), _state(tmp_path / "resumed")
    assert a["step"] == b["step"] == 4
    _same(a["model"], b["model"])
    _same(a["ema"], b["ema"])
    rows = (tmp_path / "resumed" / "metrics.csv").read_text().splitlines()
    assert rows[0] == "step,loss,lr,seconds,images_per_s" and [r.split(",")[0] for r in rows[1:]] == [
        "1",
        "2",
        "3",
        "4",
    ]


def test_a_killed_run_loses_at_most_one_interval(tmp_path):
    args = ["cpu_demo.yaml", *TINY, "train.steps=400", "train.checkpoint_every=2", "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dimedia_course.train", *args, "--out", str(tmp_path / "run")], env=env
    )
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    deadline = time.time() + 120
    while time.time() < deadline and not (checkpoint.is_file() and _state(tmp_path / "run")["step"] >= 4):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = _state(tmp_path / "run")["step"]  # a complete checkpoint, never half of one
    assert saved >= 4 and saved % 2 == 0
    metrics = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert int(metrics[-1].split(",")[0]) - saved < 2 + 1  # at most one interval of work lost
    stop = saved + 2
    assert (
        main(
            [
                "cpu_demo.yaml",
                *TINY,
                f"train.steps={stop}",
                "train.checkpoint_every=2",
                "--no-progress",
                "--resume",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "cpu_demo.yaml",
                *TINY,
                f"train.steps={stop}",
                "train.checkpoint_every=2",
                "--no-progress",
                "--out",
                str(tmp_path / "straight"),
            ]
        )
        == 0
    )
    _same(_state(tmp_path / "run")["model"], _state(tmp_path / "straight")["model"])


def test_ddp_on_two_cpu_processes_equals_one_process(tmp_path):
    """torchrun with 2 gloo processes and global batch 4 (2 each) = 1 process with batch 4. SGD keeps the update
    linear in the gradient, so the comparison sees the averaged gradients (Adam would amplify float rounding of
    near-zero gradients to the size of the learning rate); the losses match too."""
    common = [
        "cpu_demo.yaml",
        *TINY,
        "train.steps=3",
        "train.checkpoint_every=3",
        "train.optimizer=sgd",
        "train.lr=0.05",
        "--no-progress",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    single = subprocess.run(
        [sys.executable, "-m", "dimedia_course.train", *common, "--out", str(tmp_path / "one")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr[-2000:]
    ddp = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "dimedia_course.train",
            *common,
            "--out",
            str(tmp_path / "two"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    _same(_state(tmp_path / "one")["model"], _state(tmp_path / "two")["model"], atol=1e-5)
    losses = [
        [float(r.split(",")[1]) for r in (tmp_path / d / "metrics.csv").read_text().splitlines()[1:]]
        for d in ("one", "two")
    ]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
