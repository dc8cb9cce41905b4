"""Smoke test of the applications benchmark: --quick run into a temporary folder, check the tables."""

import csv

import pytest

from dimedia_course.course.benchmarks import applications as bench


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
