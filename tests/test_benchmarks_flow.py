"""The flow-vs-DDIM benchmark's table and merging (the measuring itself is run by hand: it samples)."""

import pytest

from dimedia_course.course.benchmarks.flow import CONTENDERS, format_table, merge_results, run_benchmark

KEYS = ("mmd_ratio", "precision", "precision_floor", "recall", "recall_floor", "sampling_seconds")


def _row(name, steps, value):
    label = next(k for k, v in CONTENDERS.items() if v == name)
    return {"sampler": label, "checkpoint": name, "steps": steps} | dict.fromkeys(KEYS, value)


def _results(rows, n=256, seed=0):
    return {"rows": rows, "n": n, "seed": seed, "machine": "x86_64, 2 CPU thread(s)"}


def test_merge_keeps_the_other_checkpoint_and_orders_rows():
    old = _results([_row("cpu_ddpm_axial", 10, 1.0), _row("cpu_ddpm_axial", 50, 2.0)])
    new = _results([_row("cpu_rflow_axial", 25, 3.0), _row("cpu_rflow_axial", 10, 4.0)])
    merged = merge_results(old, new)
    assert [(r["checkpoint"], r["steps"]) for r in merged["rows"]] == [
        ("cpu_ddpm_axial", 10),
        ("cpu_ddpm_axial", 50),
        ("cpu_rflow_axial", 10),
        ("cpu_rflow_axial", 25),
    ]
    remeasured = merge_results(merged, _results([_row("cpu_ddpm_axial", 10, 9.0)]))
    assert [r["mmd_ratio"] for r in remeasured["rows"]] == [9.0, 4.0, 3.0]  # the old ddpm rows are replaced
    assert merge_results(old, _results(new["rows"], n=64)) == _results(new["rows"], n=64)  # other n: not merged


def test_table_prints_one_line_per_row_with_floors():
    text = format_table(_results([_row("cpu_ddpm_axial", 10, 1.5), _row("cpu_rflow_axial", 50, 0.25)]))
    lines = text.splitlines()
    assert "MMD/floor" in lines[1] and "precision" in lines[1] and "recall" in lines[1]
    assert lines[2].split()[:2] == ["DDIM", "(cpu_ddpm_axial)"] and "1.50" in lines[2] and "(1.500)" in lines[2]
    assert "rectified flow" in lines[3] and "0.250 (0.250)" in lines[3]


def test_unknown_checkpoint_is_named():
    with pytest.raises(ValueError, match="unknown \\['nope'\\]"):
        run_benchmark(checkpoints=["nope"])
