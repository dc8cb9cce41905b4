"""Tests for dimedia_course.data.phantoms."""

import pytest
import torch

from dimedia_course import make_generator
from dimedia_course.data.phantoms import random_ellipse_phantoms, shepp_logan


def test_shepp_logan():
    x = shepp_logan(64)
    assert x.shape == (1, 1, 64, 64) and x.dtype == torch.float32
    assert x.min() == -1 and x.max() <= 1 and x.max() > 0.5
    assert shepp_logan(32).shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="size"):
        shepp_logan(0)


def test_random_phantoms_reproducible():
    a = random_ellipse_phantoms(3, 32, generator=make_generator(1))
    b = random_ellipse_phantoms(3, 32, generator=make_generator(1))
    assert a.shape == (3, 1, 32, 32) and torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1
    assert not torch.equal(a[0], a[1])
    with pytest.raises(ValueError, match="n_ellipses"):
        random_ellipse_phantoms(1, 32, n_ellipses=(5, 2))
