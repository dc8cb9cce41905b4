"""Tests for dimedia_course.nn.unet and embeddings."""

import math

import pytest
import torch

from dimedia_course import make_generator
from dimedia_course.nn import SmallUNet, count_parameters, timestep_embedding


def test_timestep_embedding_formula():
    t = torch.tensor([0, 7])
    emb = timestep_embedding(t, 8)
    assert emb.shape == (2, 8)
    # t = 0: sin part 0, cos part 1
    assert torch.allclose(emb[0, :4], torch.zeros(4)) and torch.allclose(emb[0, 4:], torch.ones(4))
    # first frequency is 1
    assert math.isclose(emb[1, 0].item(), math.sin(7.0), abs_tol=1e-6)
    with pytest.raises(ValueError, match="dim"):
        timestep_embedding(t, 7)


def test_default_model_is_small():
    assert count_parameters(SmallUNet()) < 1_000_000
    assert count_parameters(SmallUNet(num_classes=10)) < 1_000_000


@pytest.mark.parametrize("size", [32, 64])
def test_shapes_and_attributes(size):
    model = SmallUNet()
    assert (model.in_channels, model.out_channels, model.num_classes) == (1, 1, None)
    x = torch.randn(2, 1, size, size, generator=make_generator(0))
    out = model(x, torch.tensor([0, 999]))
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_multichannel_input_for_segmentation():
    model = SmallUNet(in_channels=2, out_channels=1, base_channels=16)
    out = model(torch.randn(3, 2, 16, 16), torch.tensor([1, 2, 3]))
    assert out.shape == (3, 1, 16, 16)


def test_class_conditioning_and_null_label():
    torch.manual_seed(0)
    model = SmallUNet(base_channels=16, num_classes=3).eval()
    x = torch.randn(2, 1, 16, 16)
    t = torch.tensor([10, 10])
    out_null = model(x, t)
    out_explicit_null = model(x, t, torch.tensor([3, 3]))
    assert torch.allclose(out_null, out_explicit_null)
    out_y = model(x, t, torch.tensor([0, 1]))
    assert not torch.allclose(out_y, out_null)
    with pytest.raises(ValueError, match="labels y"):
        model(x, t, torch.tensor([0, 4]))


def test_timestep_changes_output_and_scalar_t():
    torch.manual_seed(0)
    model = SmallUNet(base_channels=16).eval()
    x = torch.randn(2, 1, 16, 16)
    assert not torch.allclose(model(x, torch.tensor([1, 1])), model(x, torch.tensor([500, 500])))
    assert torch.allclose(model(x, torch.tensor(5)), model(x, torch.tensor([5, 5])))


def test_bad_inputs():
    model = SmallUNet(base_channels=16)
    with pytest.raises(ValueError, match="divisible"):
        model(torch.randn(1, 1, 30, 30), torch.tensor([1]))
    with pytest.raises(ValueError, match="channel"):
        model(torch.randn(1, 2, 16, 16), torch.tensor([1]))
    with pytest.raises(ValueError, match="unconditional"):
        model(torch.randn(1, 1, 16, 16), torch.tensor([1]), torch.tensor([0]))
    with pytest.raises(ValueError, match="attention_levels"):
        SmallUNet(attention_levels=(True,))
    with pytest.raises(ValueError, match="num_classes"):
        SmallUNet(num_classes=0)


def test_gradients_flow():
    model = SmallUNet(base_channels=16, num_classes=2)
    out = model(torch.randn(2, 1, 16, 16), torch.tensor([3, 4]), torch.tensor([0, 1]))
    out.pow(2).mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_weights_are_channels_last_and_outputs_match_the_contiguous_layout():
    """The layout (a CPU speed-up for sampling) changes no result beyond float rounding and returns a contiguous
    tensor, also after load_state_dict."""
    torch.manual_seed(0)
    net = SmallUNet(in_channels=1, out_channels=1, base_channels=8).eval()
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in net.parameters() if p.ndim == 4)
    plain = SmallUNet(in_channels=1, out_channels=1, base_channels=8).eval().to(memory_format=torch.contiguous_format)
    plain.load_state_dict(net.state_dict())
    assert all(p.is_contiguous() for p in plain.parameters())
    x, t = torch.randn(3, 1, 16, 16), torch.tensor([1, 500, 999])
    with torch.no_grad():
        out, ref = net(x, t), plain(x, t)
    assert out.is_contiguous() and out.shape == (3, 1, 16, 16)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    again = SmallUNet(in_channels=1, out_channels=1, base_channels=8)
    again.load_state_dict(plain.state_dict())  # a contiguous state dict keeps the channels-last layout
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in again.parameters() if p.ndim == 4)
