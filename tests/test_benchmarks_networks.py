"""Smoke test of the side-by-side network benchmark (tiny networks, 2 repeats): table, ratios, files."""

import json

import pytest

from dimedia_course.course.benchmarks import networks as bench


def test_quick_run_writes_matched_side_by_side_rows(tmp_path, capsys):
    assert bench.main(["--quick", "--sizes", "16", "--threads", "1", "--quality", "--out", str(tmp_path)]) == 0
    assert "| size | network | params | variant |" in capsys.readouterr().out
    result = json.loads((tmp_path / "networks.json").read_text())
    rows = result["rows"]
    quality = result["quality"]
    same_params = "SmallUNet, same parameters (dimedia_course)"
    assert {r["network"] for r in quality} == {same_params, "DiffusionModelUNet (MONAI)"}
    assert all(r["mmd"] >= 0 and r["train_seconds"] >= 0 for r in quality)
    assert {r["network"] for r in rows} == {
        "SmallUNet, same channels (dimedia_course)",
        same_params,
        "DiffusionModelUNet (MONAI)",
        "UNet2DModel (diffusers)",
    }
    assert {r["variant"] for r in rows} == {"default", "channels_last"}
    for variant in ("default", "channels_last"):
        same = [r for r in rows if r["variant"] == variant]
        assert min(r["train_ratio"] for r in same) == 1.0 and all(r["train_ratio"] >= 1.0 for r in same)
    assert "network" in (tmp_path / "networks.csv").read_text().splitlines()[0]


def test_full_size_networks_have_matched_parameter_counts_or_channels():
    nets = bench.build_networks()
    counts = {name: sum(p.numel() for p in net.parameters()) for name, net in nets.items()}
    matched = {k: v for k, v in counts.items() if "same channels" not in k}
    assert max(matched.values()) / min(matched.values()) < 1.01, counts
    small = nets["SmallUNet, same channels (dimedia_course)"]
    assert [lvl.blocks[0].conv1.out_channels for lvl in small.down_levels] == [32, 64, 64]


def test_bad_arguments():
    with pytest.raises(SystemExit):
        bench.main(["--sizes", "28"])
    with pytest.raises(SystemExit):
        bench.main(["--threads", "0"])
