"""Smoke test of the applications benchmark: --quick run into a temporary folder, check the tables; its --data
choice on the offline fixtures of test_data_medical (MONAI's on-disk layouts, nothing downloaded)."""

import csv

import pytest
import torch
from test_data_medical import decathlon_root, mednist_root  # noqa: F401 (fixtures)

from dimedia_course.course.benchmarks import applications as bench
from dimedia_course.data import DatasetUnavailableError, load_dataset


@pytest.mark.slow
def test_quick_benchmark_writes_tables(tmp_path):
    assert (
        bench.main(
            [
                "--quick",
                "--threads",
                "1",
                "--out-dir",
                str(tmp_path),
                "--seeds",
                "0",
                "1",
                "--figures",
                str(tmp_path / "figures"),
            ]
        )
        == 0
    )
    assert {p.name for p in (tmp_path / "figures").glob("*.png")} == {
        "anomaly.png",
        "segmentation.png",
        "reconstruction.png",
        "synthesis.png",
    }
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert rows and set(rows[0]) == {"seed", "task", "method", "metric", "value"}
    tasks = {r["task"] for r in rows}
    for task in ("anomaly", "segmentation", "MRI 4x", "CT 8 views", "synthesis", "latent diffusion"):
        assert task in tasks
    metrics = {(r["task"], r["metric"]) for r in rows}
    for needed in (
        ("anomaly", "AUROC"),
        ("anomaly", "Dice@p98 healthy"),
        ("segmentation", "Dice"),
        ("MRI 4x", "PSNR"),
        ("MRI 4x", "SSIM"),
        ("CT 8 views", "PSNR"),
        ("synthesis", "MMD"),
        ("synthesis", "MS-SSIM (samples)"),
        ("latent diffusion", "MMD"),
    ):
        assert needed in metrics
    methods = {r["method"] for r in rows}
    assert {"zero-filled", "FBP (ramp)"} <= methods
    assert all(float(r["value"]) >= 0 for r in rows if r["metric"] == "seconds")
    md = (tmp_path / "results_table.md").read_text()
    assert "| task | method | metric | mean +- std |" in md and "wall-clock seconds" in md
    assert ("anomaly", "baseline: intensity threshold") in {(r["task"], r["method"]) for r in rows}
    assert ("segmentation", "baseline: supervised UNet") in {(r["task"], r["method"]) for r in rows}


def test_bad_arguments():
    with pytest.raises(SystemExit):
        bench.main(["--threads", "0", "--out-dir", "/nonexistent"])
    with pytest.raises(SystemExit):
        bench.main(["--no-such-flag"])
    with pytest.raises(SystemExit):
        bench.main(["--seeds", "1", "1"])


def test_summarize_mean_and_std():
    rows = {s: [{"task": "t", "method": "m", "metric": "x", "value": v}] for s, v in ((0, 1.0), (1, 3.0))}
    (row,) = bench.summarize(rows)
    assert row["mean"] == 2.0 and abs(row["std"] - 2**0.5) < 1e-12 and row["n"] == 2


def _rows_of(images, pool):
    """The row of ``pool`` that each image is (-1 if none)."""
    same = (images.flatten(1)[:, None] == pool.flatten(1)[None]).all(-1)
    return torch.where(same.any(1), same.float().argmax(1), -1)


def test_data_mni152_default():
    splits = bench._data(bench.QUICK, 0)
    train = splits["train"]
    assert train["healthy"].shape == (32, 1, 32, 32) and splits["test"]["healthy"].shape == (4, 1, 32, 32)
    assert train["lesioned"].shape == train["masks"].shape == train["seg_masks"].shape == (32, 1, 32, 32)
    assert torch.equal(train["classes"], torch.cat([train["healthy"], train["lesioned"]]))
    assert train["class_labels"].tolist() == [0] * 32 + [1] * 32 and splits["info"]["lesion_sign"] == -1


def test_data_decathlon_brain_uses_tumour_slices_and_masks(decathlon_root):  # noqa: F811
    cfg = dict(bench.QUICK, n_train=6, n_test=3)
    splits = bench._data(cfg, 0, "decathlon-brain", decathlon_root)
    images, labels, masks = load_dataset("decathlon-brain", size=32, root=decathlon_root, return_masks=True)
    assert splits["info"]["lesion_sign"] == 1  # tumours are bright in FLAIR
    seen = []
    for name, n in (("train", 6), ("val", 3), ("test", 3)):
        split = splits[name]
        assert split["healthy"].shape == split["lesioned"].shape == split["masks"].shape == (n, 1, 32, 32)
        healthy, tumour = _rows_of(split["healthy"], images), _rows_of(split["lesioned"], images)
        assert bool((healthy >= 0).all() and (tumour >= 0).all())  # slices of the dataset, unchanged
        assert labels[healthy].tolist() == [0] * n and labels[tumour].tolist() == [1] * n
        assert torch.equal(split["masks"], masks[tumour]) and torch.equal(split["seg_masks"], masks[tumour])
        assert bool((split["masks"].flatten(1).amax(1) == 1).all())
        assert torch.equal(split["brain"], (split["healthy"] > -0.98).float())
        assert split["class_labels"].tolist() == [0] * n + [1] * n
        seen += healthy.tolist() + tumour.tolist()
    assert len(set(seen)) == len(seen)  # train / val / test do not overlap
    other = bench._data(cfg, 1, "decathlon-brain", decathlon_root)
    assert not torch.equal(other["train"]["healthy"], splits["train"]["healthy"])  # the seed redraws the split
    with pytest.raises(bench.DataError, match="12 with tumour; the benchmark needs 40 of each"):
        bench._data(bench.QUICK, 0, "decathlon-brain", decathlon_root)


def test_data_mednist_has_classes_and_no_masks(mednist_root, capsys):  # noqa: F811
    cfg = dict(bench.QUICK, n_train=10, n_test=4)
    splits = bench._data(cfg, 0, "mednist", mednist_root)
    images, labels = load_dataset("mednist", size=32, root=mednist_root)
    train = splits["train"]
    assert set(train) == {"healthy", "classes", "class_labels"} and train["healthy"].shape == (10, 1, 32, 32)
    rows = _rows_of(train["classes"], images)
    assert bool((rows >= 0).all()) and torch.equal(train["class_labels"], labels[rows])
    with pytest.raises(bench.DataError, match="--data mednist has no lesion masks.*anomaly, segmentation.*--tasks"):
        bench.check_tasks("mednist", list(bench.TASKS))
    bench.check_tasks("mednist", ["mri", "ct", "synthesis", "latent"])
    with pytest.raises(SystemExit):  # at once, before any data is read or model trained
        bench.main(["--quick", "--data", "mednist", "--data-root", str(mednist_root), "--tasks", "anomaly", "mri"])
    assert "--data mednist has no lesion masks" in capsys.readouterr().err


def test_missing_dataset_fails_at_once(tmp_path, capsys):
    with pytest.raises(DatasetUnavailableError, match="MedNIST is not in"):
        bench._data(bench.QUICK, 0, "mednist", tmp_path)
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--data", "decathlon-brain", "--data-root", str(tmp_path), "--out-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert "Task01_BrainTumour is not in" in err and "dataset.json" in err and "Here: add --download." in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_quick_run_on_decathlon_fixture(decathlon_root, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setattr(bench, "QUICK", dict(bench.QUICK, n_train=6, n_test=3, synth_per_class=2))
    args = ["--quick", "--threads", "1", "--data", "decathlon-brain", "--data-root", str(decathlon_root)]
    assert bench.main([*args, "--tasks", "anomaly", "segmentation", "synthesis", "--out-dir", str(tmp_path)]) == 0
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert {r["task"] for r in rows if r["method"] != "(wall clock)"} == {"anomaly", "segmentation", "synthesis"}
    md = (tmp_path / "results_table.md").read_text()
    assert "--data decathlon-brain --tasks anomaly segmentation synthesis" in md and "BraTS FLAIR slices" in md
