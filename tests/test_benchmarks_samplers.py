"""The samplers benchmark (dimedia_course.course.benchmarks.samplers) on a few samples of the shipped checkpoint."""

from __future__ import annotations

import json

import pytest

from dimedia_course.course.benchmarks import samplers


def test_rows_share_one_floor_and_the_table_reads_them(tmp_path, capsys):
    assert samplers.main(["--n", "8", "--samplers", "ddim10", "ddim25", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "samplers.json").read_text())
    rows = result["rows"]
    assert [r["sampler"] for r in rows] == ["ddim10", "ddim25"] and [r["steps"] for r in rows] == [10, 25]
    assert rows[0]["mmd_floor"] == rows[1]["mmd_floor"] and rows[0]["precision_floor"] == rows[1]["precision_floor"]
    for r in rows:
        assert (
            r["n"] == 8
            and r["cpu_seconds"] > 0
            and r["mmd_ratio"] == pytest.approx(r["mmd"] / r["mmd_floor"], rel=1e-3)
        )
        assert r["samples_per_cpu_minute"] == pytest.approx(60 * 8 / r["cpu_seconds"], rel=0.05)
    out = capsys.readouterr().out
    assert "| ddim10 | 10 |" in out and "<td>ddim25</td>" in samplers.format_html(result)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="samplers: unknown"):
        samplers.run(samplers=["euler"], n=8)
    with pytest.raises(ValueError, match="n: expected at least 8"):
        samplers.run(n=4)
    with pytest.raises(SystemExit):
        samplers.main(["--threads", "0"])
