"""Tests for dimedia_course.nn.monai_adapter (MONAI DiffusionModelUNet behind model(x, t, y))."""

import pytest
import torch

from dimedia_course.nn import MonaiUNetAdapter


def test_unconditional_shape():
    model = MonaiUNetAdapter(channels=(16, 32), attention_levels=(False, True), num_head_channels=16)
    assert (model.in_channels, model.out_channels, model.num_classes) == (1, 1, None)
    x = torch.randn(2, 1, 16, 16)
    assert model(x, torch.tensor([0, 999])).shape == x.shape
    with pytest.raises(ValueError, match="unconditional"):
        model(x, torch.tensor([0, 1]), torch.tensor([0, 1]))


def test_default_config_runs_with_labels_and_null():
    torch.manual_seed(0)
    model = MonaiUNetAdapter(num_classes=2).eval()
    assert model.unet.num_class_embeds == 3
    x = torch.randn(2, 1, 32, 32)
    t = torch.tensor([5, 5])
    with torch.no_grad():
        null = model(x, t)
        assert torch.allclose(null, model(x, t, torch.tensor([2, 2])))
        assert model(x, t, torch.tensor([0, 1])).shape == x.shape
    with pytest.raises(ValueError, match="labels y"):
        model(x, t, torch.tensor([0, 3]))


def test_bad_config_and_size():
    with pytest.raises(ValueError, match="norm_num_groups"):
        MonaiUNetAdapter(channels=(12, 24), attention_levels=(False, False))
    model = MonaiUNetAdapter(channels=(8, 16), attention_levels=(False, False), num_head_channels=8)
    with pytest.raises(ValueError, match="divisible"):
        model(torch.randn(1, 1, 15, 15), torch.tensor([1]))
