"""Smoke test of the core benchmark script (structure only; timings are not asserted)."""

import json

from dimedia_course.course.benchmarks.core import format_table, main


def test_core_benchmark_quick(tmp_path, capsys):
    out = tmp_path / "bench.json"
    results = main(["--quick", "--out", str(out), "--device", "cpu", "--threads", "1"])
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["device"] == "cpu"
    assert data["model"]["parameters"] > 0
    assert data["train_step"]["mean_ms"] > 0 and data["train_step"]["repeats"] == 2
    combos = {(r["library"], r["sampler"]) for r in data["sampling"]}
    assert combos == {("dimedia_course", "DDPM"), ("dimedia_course", "DDIM"), ("monai", "DDPM"), ("monai", "DDIM")}
    for row in data["sampling"]:
        assert row["seconds"] > 0 and row["finite"]
        assert row["steps"] == (10 if row["sampler"] == "DDPM" else 3)
    assert len(data["scheduler_overhead"]) == 4
    printed = capsys.readouterr().out
    assert "SmallUNet" in printed and "monai" in printed and "DDIM" in printed
    assert format_table(results).splitlines()[0].startswith("device: cpu")
