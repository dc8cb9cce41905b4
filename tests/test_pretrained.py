"""Shipped checkpoints: export, the config-hash check and its one-line error."""

import dataclasses

import pytest
import torch

from dimedia_course.pretrained import CHECKPOINT_DIR, config_hash, export_pretrained, load_pretrained
from dimedia_course.train import load_config, train

TINY = """# a comment does not change the hash
data: {name: mni152, size: 16, n: 16}
model: {kind: small_unet, base_channels: 8}
train: {steps: 2, batch_size: 4, ema_decay: 0.9, checkpoint_every: 2, log_every: 1}
"""


def test_export_load_and_hash_mismatch(tmp_path):
    configs, ckpts = tmp_path / "configs", tmp_path / "ckpts"
    configs.mkdir()
    (configs / "tiny.yaml").write_text(TINY)
    cfg = load_config(configs / "tiny.yaml")
    result = train(cfg, tmp_path / "run", progress=False)
    path = export_pretrained(tmp_path / "run", "tiny", configs / "tiny.yaml", ckpts, training_minutes=0.1)
    loaded = load_pretrained("tiny", ckpts, configs)
    assert loaded["meta"]["config_hash"] == config_hash(cfg) and loaded["meta"]["step"] == 2
    for p_loaded, p_ema in zip(loaded["model"].parameters(), result["ema_model"].parameters()):
        assert p_loaded.dtype == torch.float32
        torch.testing.assert_close(p_loaded, p_ema.half().float())  # float16 on disk
    assert path.stat().st_size < 2_000_000
    (configs / "tiny.yaml").write_text("# reformatted\n" + TINY.replace("n: 16}", "n: 16 }"))
    load_pretrained("tiny", ckpts, configs)  # same parsed config: same hash
    (configs / "tiny.yaml").write_text(TINY.replace("steps: 2", "steps: 3"))
    with pytest.raises(
        ValueError,
        match=r"^checkpoint tiny.pt was trained from config hash \w+ but tiny.yaml now "
        r"hashes to \w+; retrain it: python -m dimedia_course.pretrained retrain tiny$",
    ):
        load_pretrained("tiny", ckpts, configs)
    with pytest.raises(FileNotFoundError, match="no checkpoint .*retrain it"):
        load_pretrained("tiny", tmp_path / "elsewhere", configs)
    # export refuses a run of another config (here steps: 3 against the run's 2) and a run that stopped early
    with pytest.raises(ValueError, match=r"^\S+run: this run was not trained from tiny.yaml as it is now .*retrain"):
        export_pretrained(tmp_path / "run", "tiny", configs / "tiny.yaml", ckpts)
    (configs / "tiny.yaml").write_text(TINY)
    raw = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    raw["meta"]["step"] = 1
    torch.save(raw, tmp_path / "run" / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"this run stopped at step 1 of 2; finish it with .* --resume$"):
        export_pretrained(tmp_path / "run", "tiny", configs / "tiny.yaml", ckpts)


def test_config_hash_changes_with_any_field():
    cfg = load_config("cpu_ddpm_axial.yaml")
    assert config_hash(cfg) == config_hash(load_config("cpu_ddpm_axial.yaml"))
    assert config_hash(cfg) != config_hash(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, lr=2e-3)))


@pytest.mark.parametrize("name", sorted(p.stem for p in CHECKPOINT_DIR.glob("*.pt")))
def test_shipped_checkpoints_match_their_configs(name):
    assert load_pretrained(name)["model"] is not None


def test_measure_sampler_samples_through_the_loop_and_measures_against_the_floor():
    """A flow that sends noise x to the constant image c in one Euler step (velocity c - x at s = 1): its
    samples are exact, so sample_quality must see the same set as ``real['reference'][0]`` repeated."""
    from dimedia_course.metrics import sample_quality
    from dimedia_course.pretrained import measure_sampler
    from dimedia_course.schedulers import RFlowScheduler

    g = torch.Generator().manual_seed(0)
    real = {k: torch.rand(12, 1, 16, 16, generator=g) * 2 - 1 for k in ("train", "held_out", "reference")}
    c = real["reference"][:1]
    out = measure_sampler(lambda x, t, y=None: c - x, RFlowScheduler(), 1, 6, real, seed=0)
    spread = torch.linspace(0, 11, 6).round().long()
    expected = sample_quality(c.expand(6, -1, -1, -1), real["train"], real["held_out"], real["reference"][spread])
    assert out["n"] == 6 and out["sampling_seconds"] >= 0
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=2e-6), key


def test_options_added_later_keep_the_hash_at_their_neutral_value():
    cfg = load_config("cpu_ddpm_axial.yaml")
    assert config_hash(cfg) == "47639fbba05edc33"  # the hash stored in the shipped checkpoint since it was trained
    grid = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, sample_grid=0))
    assert config_hash(grid) == config_hash(cfg)  # the sample grid never changes the weights
    floor = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, lr_min_ratio=0.05))
    assert config_hash(floor) != config_hash(cfg)
