"""Tests for dimedia_course.data.lesions."""

import pytest
import torch

from dimedia_course import make_generator
from dimedia_course.data.lesions import add_synthetic_lesions, brain_lesion_dataset, make_lesion_dataset


def _disc_images(n=4, size=32):
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2).float()
    return (disc * 0.6 - 1 + 0.4 * disc).expand(n, 1, size, size).clone()


def test_lesions_inside_region_and_mask_binary():
    x = _disc_images()
    region = torch.zeros(1, 1, 32, 32)
    region[..., 12:20, 12:20] = 1
    y, m = add_synthetic_lesions(
        x, n_lesions=2, radius=2, intensity=1.0, mask_region=region, generator=make_generator(0)
    )
    assert y.shape == x.shape and m.shape == (4, 1, 32, 32)
    assert set(m.unique().tolist()) == {0.0, 1.0}
    assert m[..., :8, :].sum() == 0 and m[..., 26:, :].sum() == 0  # centres inside region, r = 2
    assert torch.allclose(y[m == 0][(y - x)[m == 0].abs() > 0.5], torch.empty(0))
    assert (y[m == 1] > 0.5).all()  # bright lesions
    assert y.min() >= -1 and y.max() <= 1


def test_reproducible_and_dark_lesions():
    x = _disc_images(2)
    a = add_synthetic_lesions(x, intensity=-1.0, generator=make_generator(5))
    b = add_synthetic_lesions(x, intensity=-1.0, generator=make_generator(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert (a[0][a[1] == 1] < -0.5).all()


def test_lesion_dataset():
    x = _disc_images(10)
    d = make_lesion_dataset(x, p_lesion=0.3, generator=make_generator(0))
    assert d["labels"].sum() == 3
    assert (d["masks"].sum((1, 2, 3)) > 0).long().eq(d["labels"]).all()
    healthy = d["labels"] == 0
    assert torch.equal(d["images"][healthy], x[healthy])


def test_brain_lesion_dataset():
    d = brain_lesion_dataset(n=4, size=32, p_lesion=0.5)
    assert d["images"].shape == (4, 1, 32, 32) and d["labels"].sum() == 2


def test_errors():
    x = _disc_images(1)
    with pytest.raises(ValueError, match="images"):
        add_synthetic_lesions(x[0])
    with pytest.raises(ValueError, match="intensity"):
        add_synthetic_lesions(x, intensity=2.0)
    with pytest.raises(ValueError, match="mask_region"):
        add_synthetic_lesions(x, mask_region=torch.ones(1, 1, 8, 8))
    with pytest.raises(ValueError, match="p_lesion"):
        make_lesion_dataset(x, p_lesion=1.5)
