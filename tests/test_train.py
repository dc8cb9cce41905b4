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

TINY = [
    "data.size=16",
    "data.n=32",
    "model.base_channels=8",
    "train.batch_size=4",
    "train.log_every=1",
    "train.sample_grid=0",
]
LDM_TINY = [
    "data.size=16",
    "data.n=32",
    "model.ae_channels=[8, 8]",
    "model.base_channels=8",
    "train.batch_size=4",
    "train.log_every=1",
    "train.ae_steps=3",
    "train.steps=3",
    "train.checkpoint_every=2",
    "train.ema_decay=0.9",
    "train.sample_grid=0",
]


def _state(out: Path) -> dict:
    """A run's checkpoint in the package's one format: the model's weights, its further states and metadata."""
    from dimedia_course.checkpoint import load_checkpoint

    saved = load_checkpoint(out if out.suffix == ".pt" else out / "checkpoint.pt")
    return {"model": saved["state_dict"], **saved["states"], **saved["meta"]}


def _same(a: dict, b: dict, atol=0.0):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=atol)


def test_shipped_configs_load_and_bad_keys_are_named(tmp_path):
    names = sorted(p.name for p in CONFIG_DIR.glob("*.yaml"))
    assert {
        "cpu_demo.yaml",
        "mednist_ddpm_64.yaml",
        "mednist_cfg_64.yaml",
        "cpu_cfg.yaml",
        "cpu_ldm.yaml",
        "mednist_ldm_64.yaml",
    } <= set(names)
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
    final = load_config("cpu_demo.yaml", TINY + ["train.steps=4", "train.checkpoint_every=2", "train.ema_decay=0.9"])
    final.train.sample_grid = 4
    train(final, tmp_path / "resumed", resume=True, progress=False)
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
    seconds = [float(r.split(",")[3]) for r in rows[1:]]  # issue 17: wall clock continues across the resume
    assert seconds == sorted(seconds) and seconds[0] > 0 and b["seconds"] >= seconds[-1]
    for name in ("samples.png", "loss.png"):  # written at the end, beside the checkpoint
        assert (tmp_path / "resumed" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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


@pytest.mark.parametrize("config", ["cpu_demo.yaml", "cpu_ldm.yaml"])
def test_ddp_on_two_cpu_processes_equals_one_process(tmp_path, config):
    """torchrun with 2 gloo processes and global batch 4 (2 each) = 1 process with batch 4. SGD keeps the update
    linear in the gradient, so the comparison sees the averaged gradients (Adam would amplify float rounding of
    near-zero gradients to the size of the learning rate); the losses match too. The latent model runs 3
    autoencoder steps (its loss module wrapped in DDP) and 3 denoiser steps."""
    common = [
        config,
        *(TINY if config == "cpu_demo.yaml" else LDM_TINY),
        "train.steps=3",
        "train.checkpoint_every=3",
        "train.optimizer=sgd",
        "train.lr=0.05",
        "--no-progress",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # the one-process reference runs in this process (torch and MONAI are imported already; one thread here too)
    train(load_config(config, [a for a in common[1:] if "=" in a]), tmp_path / "one", progress=False)
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
    one, two = _state(tmp_path / "one"), _state(tmp_path / "two")
    for key in ("model", "autoencoder") if config == "cpu_ldm.yaml" else ("model",):
        _same(one[key], two[key], atol=1e-5)
    losses = [
        [float(r.split(",")[1]) for r in (tmp_path / d / "metrics.csv").read_text().splitlines()[1:]]
        for d in ("one", "two")
    ]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_latent_config_trains_in_two_stages_resumes_exactly_and_samples(tmp_path, monkeypatch):
    """cpu_ldm.yaml (model.kind latent): 3 autoencoder steps then 3 denoiser steps. Resuming from the checkpoint of
    step 2 (inside stage 1) or step 4 (inside stage 2) ends with the weights of the uninterrupted run."""
    import dimedia_course.train as train_module

    save = train_module.save_checkpoint

    def save_every_step(path, model, states=None, **meta):  # keep a copy of every checkpoint, to resume from each
        save(path, model, states=states, **meta)
        save(path.with_name(f"checkpoint-{meta['step']}.pt"), model, states=states, **meta)

    monkeypatch.setattr(train_module, "save_checkpoint", save_every_step)
    cfg = load_config("cpu_ldm.yaml", LDM_TINY)
    assert cfg.model.kind == "latent" and cfg.model.denoiser == "small_unet"
    full = train(cfg, tmp_path / "full", progress=False)
    assert full["step"] == 6 and sorted(p.name for p in (tmp_path / "full").glob("checkpoint-*.pt")) == [
        "checkpoint-2.pt",
        "checkpoint-4.pt",
        "checkpoint-6.pt",
    ]
    rows = (tmp_path / "full" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4", "5", "6"]
    a = _state(tmp_path / "full")
    assert {"model", "ema", "autoencoder", "ae_optimizer", "scale_factor"} <= set(a)
    assert _state(tmp_path / "full" / "checkpoint-2.pt")["scale_factor"] is None  # stage 1
    assert a["scale_factor"] > 0
    ldm = full["ldm"]
    assert ldm.scale_factor == a["scale_factor"] and ldm.latent_shape == (2, 8, 8)
    # the scale factor is computed as in LatentDiffusion, over the training images
    from dimedia_course.data import load_dataset

    images, _ = load_dataset("mni152", size=16, n=32)
    assert ldm.compute_scale_factor(images) == pytest.approx(a["scale_factor"], rel=1e-6)
    # the autoencoder learns in stage 1 (step 2 -> 4) and is frozen in stage 2 (step 4 -> 6)
    ae = {k: _state(tmp_path / "full" / f"checkpoint-{k}.pt")["autoencoder"] for k in (2, 4)}
    assert any(not torch.equal(ae[2][key], ae[4][key]) for key in ae[2])
    _same(ae[4], a["autoencoder"])
    for k in (2, 4):
        folder = tmp_path / f"resumed-{k}"
        folder.mkdir()
        (folder / "checkpoint.pt").write_bytes((tmp_path / "full" / f"checkpoint-{k}.pt").read_bytes())
        train(cfg, folder, resume=True, progress=False)
        b = _state(folder)
        assert b["step"] == 6 and b["scale_factor"] == a["scale_factor"]
        for key in ("model", "ema", "autoencoder"):
            _same(a[key], b[key])
    samples = ldm.sample(3, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (3, 1, 16, 16) and bool(torch.isfinite(samples).all())
    assert float(samples.abs().max()) <= 1


def test_latent_config_errors_and_gpu_config():
    with pytest.raises(ValueError, match="train.ae_steps"):
        train(load_config("cpu_ldm.yaml", ["train.ae_steps=0"]), "/nonexistent", progress=False)
    with pytest.raises(ValueError, match="train.ae_steps"):
        train(load_config("cpu_demo.yaml", ["train.ae_steps=5"]), "/nonexistent", progress=False)
    from dimedia_course.train import build_latent

    with pytest.raises(ValueError, match="num_classes"):
        build_latent(load_config("cpu_ldm.yaml", ["model.num_classes=2"]).model, 32)
    big = load_config("mednist_ldm_64.yaml")
    assert big.model.kind == "latent" and big.data.name == "mednist" and big.data.size == 64
    ldm = build_latent(big.model, big.data.size, 1, big.schedule)
    assert ldm.latent_shape == (3, 16, 16) and not ldm.scheduler.clip_sample


def test_cosine_lr_schedule_decays_to_zero_and_bad_names_are_named(tmp_path):
    import csv
    import math

    flow = ["schedule.prediction_type=flow_velocity", "schedule.schedule=logit-normal"]  # the flow branch too
    grid = ["train.sample_grid=4"]  # the sample grid of a flow run is drawn with Euler steps, not DDIM
    cfg = load_config(
        "cpu_demo.yaml", TINY + flow + grid + ["train.steps=4", "train.lr_schedule=cosine", "train.lr=0.001"]
    )
    train(cfg, tmp_path, progress=False)
    assert (tmp_path / "samples.png").stat().st_size > 0
    with (tmp_path / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    lrs = [float(row["lr"]) for row in rows]
    assert all(math.isfinite(float(row["loss"])) for row in rows) and _state(tmp_path)["step"] == 4
    expected = [0.001 * 0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(4)]  # lr of step k = 0..3
    assert lrs == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="train.lr_schedule"):
        train(load_config("cpu_demo.yaml", TINY + ["train.lr_schedule=step"]), tmp_path / "b", progress=False)


def test_flow_config_builds_a_rectified_flow_and_bad_laws_are_named():
    from dimedia_course.schedulers import RFlowScheduler
    from dimedia_course.train import build_flow_scheduler

    cfg = load_config("cpu_rflow_axial.yaml")
    scheduler = build_flow_scheduler(cfg.schedule)
    assert isinstance(scheduler, RFlowScheduler) and scheduler.sample_method == "logit-normal"
    assert cfg.schedule.prediction_type == "flow_velocity" and cfg.train == load_config("cpu_ddpm_axial.yaml").train
    assert cfg.model == load_config("cpu_ddpm_axial.yaml").model  # the same network and budget as the DDPM
    with pytest.raises(ValueError, match="schedule.schedule: a flow_velocity config needs one of"):
        build_flow_scheduler(load_config("cpu_rflow_axial.yaml", ["schedule.schedule=cosine"]).schedule)


def test_volumes_need_and_get_a_3d_monai_unet():
    from dimedia_course.train import ModelConfig, build_model, spatial_dims

    cfg = load_config("cpu_ddpm3d.yaml")
    assert spatial_dims(cfg.data) == 3
    small = ModelConfig(kind="monai_unet", channels=[8, 8], attention_levels=[False, False], num_head_channels=8)
    net = build_model(small, dims=3)
    x = torch.zeros(2, 1, 8, 8, 8)
    assert net(x, torch.tensor([1, 2])).shape == x.shape
    with pytest.raises(ValueError, match="volumes .* need 'monai_unet'"):
        build_model(ModelConfig(kind="small_unet"), dims=3)


def test_cli_never_overwrites_and_errors_are_one_line(tmp_path, capsys):
    """Issue 17: an existing run is not overwritten, --resume needs a checkpoint, overrides may follow --out,
    and bad YAML / keys / types end in one line naming the file and key (no training runs here)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("step,loss\n1,0.5\n")
    assert main(["cpu_demo.yaml", "--out", str(run), "--no-progress", *TINY, "train.steps=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--overwrite" in err and str(run) in err
    assert (run / "metrics.csv").read_text() == "step,loss\n1,0.5\n"
    assert main(["cpu_demo.yaml", "--out", str(tmp_path / "typo"), "--resume", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "does not exist" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {steps: [1,\n")
    assert main([str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(bad) in err and "YAML" in err
    bad.write_text("train:\n  stepz: 3\n")
    assert main([str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(bad) in err and "stepz" in err
    bad.write_text("train:\n  steps: many\n")
    assert main([str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "train.steps" in err and "int" in err
    assert main(["cpu_demo.yaml", "--out", str(tmp_path / "x"), "train.lr=fast"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "train.lr" in err and "float" in err
    assert load_config("cpu_demo.yaml", ["train.ema_decay=null", "train.lr=1"]).train.lr == 1


def test_ctrl_c_writes_a_checkpoint_and_exits_130_with_one_line(tmp_path):
    args = ["cpu_demo.yaml", *TINY, "train.steps=100000", "train.checkpoint_every=1000", "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dimedia_course.train", *args, "--out", str(tmp_path / "run")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = tmp_path / "run" / "metrics.csv"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 4):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err and len(err.strip().splitlines()) == 1, err
    done = int(metrics.read_text().splitlines()[-1].split(",")[0])
    assert _state(tmp_path / "run")["step"] >= done >= 3  # the checkpoint holds every logged step (none is lost)


@pytest.mark.parametrize("config", ["cpu_demo.yaml", "cpu_cfg_levels.yaml", "cpu_rflow_axial.yaml"])
def test_notebook_loop_and_command_line_loop_train_the_same_weights(tmp_path, config):
    """Issue 17: one rule for the steps of both loops. The command-line run and ``train_diffusion`` on the same
    images, initial weights, seed, batch, optimiser and EMA end with the same weights (diffusion, classifier-free
    guidance with label dropout, rectified flow), and the command-line run leaves the global random state alone."""
    from dimedia_course.data import load_dataset
    from dimedia_course.schedulers import DDPMScheduler
    from dimedia_course.train import build_flow_scheduler, build_model
    from dimedia_course.training import train_diffusion

    overrides = ["train.steps=3", "train.checkpoint_every=3", "train.lr_schedule=constant", "train.ema_decay=0.9"]
    cfg = load_config(config, [*TINY, *overrides])
    before = torch.random.get_rng_state()
    train(cfg, tmp_path / "cli", progress=False)
    assert torch.equal(torch.random.get_rng_state(), before)
    cli = _state(tmp_path / "cli")

    images, labels = load_dataset(cfg.data.name, size=cfg.data.size, n=cfg.data.n)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        model = build_model(cfg.model, images.shape[1], images.ndim - 2)
    flow = cfg.schedule.prediction_type == "flow_velocity"
    scheduler = (
        build_flow_scheduler(cfg.schedule)
        if flow
        else DDPMScheduler(
            cfg.schedule.num_train_timesteps, cfg.schedule.schedule, prediction_type=cfg.schedule.prediction_type
        )
    )
    history = train_diffusion(
        model,
        images,
        scheduler,
        steps=3,
        batch_size=cfg.train.batch_size,
        lr=cfg.train.lr,
        seed=cfg.train.seed,
        labels=labels if cfg.model.num_classes is not None else None,
        num_classes=cfg.model.num_classes,
        p_uncond=cfg.train.p_uncond,
        grad_clip=cfg.train.grad_clip,
        ema_decay=cfg.train.ema_decay,
        device="cpu",
        progress=False,
    )
    if cfg.model.num_classes is not None:
        assert cfg.train.p_uncond > 0  # label dropout is part of what both loops must draw alike
    _same(model.state_dict(), cli["model"], atol=1e-6)
    _same(history["ema_model"].state_dict(), cli["ema"], atol=1e-6)


def test_a_command_line_run_is_a_package_checkpoint(tmp_path):
    """Issue 17: one checkpoint format. A run's checkpoint.pt loads with dimedia_course.checkpoint.load_checkpoint
    into the model of its config (weights-only loading), with its EMA, optimiser state and step beside it."""
    from dimedia_course.checkpoint import load_checkpoint, save_checkpoint
    from dimedia_course.train import build_model

    cfg = load_config("cpu_demo.yaml", [*TINY, "train.steps=2", "train.checkpoint_every=2", "train.ema_decay=0.9"])
    result = train(cfg, tmp_path / "run", progress=False)
    model = build_model(cfg.model)
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.pt", model)
    _same(model.state_dict(), result["model"].state_dict())
    assert saved["meta"]["step"] == 2 and saved["meta"]["config"]["train"]["steps"] == 2
    assert {"ema", "optimizer", "scaler"} <= set(saved["states"])
    _same(saved["states"]["ema"], result["ema_model"].state_dict())
    with pytest.raises(TypeError, match="states"):
        save_checkpoint(tmp_path / "bad.pt", model, states=[1, 2])
    assert not (tmp_path / "bad.pt").exists()
