"""Tests for dimedia_course.data.brain (MNI152 slices, offline)."""

import pytest
import torch

from dimedia_course import make_generator
from dimedia_course.data.brain import augment_slices, brain_mask, mni152_slices, mni152_volume


def test_slices_shape_range_and_determinism():
    x = mni152_slices(n=6, size=32, seed=3)
    assert x.shape == (6, 1, 32, 32) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert x.min() == -1  # background
    assert torch.equal(x, mni152_slices(n=6, size=32, seed=3))
    assert not torch.equal(x, mni152_slices(n=6, size=32, seed=4))


def test_no_augmentation_is_deterministic_and_masks_match():
    x, m = mni152_slices(n=4, size=64, augment=False, return_mask=True)
    assert x.shape == m.shape == (4, 1, 64, 64)
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    # the brain (bright tissue) lies inside the mask
    tissue = x > -0.5
    assert (m[tissue] == 1).float().mean() > 0.95
    assert torch.equal(x, mni152_slices(n=4, size=64, augment=False, seed=99))


@pytest.mark.parametrize("axis", ["coronal", "sagittal"])
def test_other_axes(axis):
    x = mni152_slices(n=2, size=32, axis=axis, augment=False)
    assert x.shape == (2, 1, 32, 32) and (x > -0.5).any()


def test_augment_keeps_background_and_range():
    x = mni152_slices(n=3, size=32, augment=False)
    y, _ = augment_slices(x, generator=make_generator(0))
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    assert torch.allclose(y[..., 0, 0], torch.full_like(y[..., 0, 0], -1.0), atol=1e-4)


def test_volume_and_rough_mask():
    v = mni152_volume()
    assert v.ndim == 3 and v.min() >= -1 and v.max() <= 1
    x = mni152_slices(n=1, size=32, augment=False)
    assert brain_mask(x).sum() > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="axis"):
        mni152_slices(n=1, axis="oblique")
    with pytest.raises(ValueError, match="slice_range"):
        mni152_slices(n=1, slice_range=(0.8, 0.2))
    with pytest.raises(ValueError, match="n must"):
        mni152_slices(n=0)
    with pytest.raises(ValueError, match="resolution"):
        mni152_slices(n=1, resolution=3)


def test_mni152_volumes_are_augmented_cubes_of_the_brain():
    from dimedia_course.data import mni152_volumes

    v = mni152_volumes(n=4, size=16, seed=0)
    assert v.shape == (4, 1, 16, 16, 16) and float(v.min()) >= -1 and float(v.max()) <= 1
    assert 0.1 < float((v > -0.9).float().mean()) < 0.7  # a brain, surrounded by background
    assert not torch.equal(v[0], v[1])  # augmented copies differ
    assert torch.equal(v, mni152_volumes(n=4, size=16, seed=0))  # deterministic
    plain = mni152_volumes(n=2, size=16, augment=False)
    assert torch.equal(plain[0], plain[1])
    with pytest.raises(ValueError, match="size"):
        mni152_volumes(n=1, size=4)


def test_template_cache_holds_what_nilearn_gives_and_survives_a_broken_file(tmp_path, monkeypatch):
    """The on-disk cache of the template: its values are nilearn's (read here independently), a corrupted cache
    file is computed again and repaired, and an unwritable cache folder only skips the cache."""
    import numpy as np
    from nilearn.datasets import load_mni152_template

    from dimedia_course.data import brain

    monkeypatch.setenv("DIMEDIA_DATA", str(tmp_path / "data"))
    brain._mni152_volumes.cache_clear()
    try:
        cache = brain.mni152_cache_file(2)
        assert cache.parent == tmp_path / "data" / "mni152" and not cache.exists()
        t1 = mni152_volume(2)
        assert cache.is_file() and [p.name for p in cache.parent.iterdir()] == [cache.name]  # no temporary left
        oracle = np.asarray(load_mni152_template(resolution=2).get_fdata(), dtype=np.float64)
        np.testing.assert_allclose(t1.double().numpy(), oracle / oracle.max() * 2 - 1, atol=1e-6)
        brain._mni152_volumes.cache_clear()
        assert torch.equal(mni152_volume(2), t1)  # read back from the file
        cache.write_bytes(b"not a checkpoint")
        brain._mni152_volumes.cache_clear()
        assert torch.equal(mni152_volume(2), t1) and torch.load(cache, weights_only=True)["t1"].shape == t1.shape
        monkeypatch.setenv("DIMEDIA_DATA", "/proc/no-such-folder")  # cannot be created
        brain._mni152_volumes.cache_clear()
        assert torch.equal(mni152_volume(2), t1)
    finally:
        brain._mni152_volumes.cache_clear()
