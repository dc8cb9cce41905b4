"""Tests of dimedia_course.applications.synthesis (classifier-free guided sampling, MMD / MS-SSIM)."""

import pytest
import torch

from dimedia_course import make_generator
from dimedia_course.applications.synthesis import evaluate_synthesis, synthesize
from dimedia_course.sampling import sample
from dimedia_course.schedulers import DDIMScheduler


class TinyClassDenoiser(torch.nn.Module):
    def __init__(self, num_classes=2):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)
        self.embed = torch.nn.Embedding(num_classes + 1, 1)

    def forward(self, x, t, y=None):
        return self.conv(x) + self.embed(y).view(-1, 1, 1, 1)


def test_synthesize_is_guided_sampling():
    """synthesize = sampling.sample with labels and guidance_scale (one sampler, one CFG formula)."""
    model, sched = TinyClassDenoiser(), DDIMScheduler(num_train_timesteps=100)
    labels = torch.tensor([0, 1, 1])
    out = synthesize(
        model,
        sched,
        labels,
        image_shape=(1, 8, 8),
        num_classes=2,
        guidance_scale=3.0,
        num_inference_steps=5,
        generator=make_generator(3),
    )
    x_T = torch.randn((3, 1, 8, 8), generator=make_generator(3))
    ref = sample(model, sched, x_T=x_T, y=labels, guidance_scale=3.0, null_label=2, num_inference_steps=5)
    torch.testing.assert_close(out, ref)


def test_synthesize_and_evaluate():
    model, sched = TinyClassDenoiser(), DDIMScheduler(num_train_timesteps=100)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    samples = synthesize(
        model,
        sched,
        labels,
        image_shape=(1, 32, 32),
        num_classes=2,
        guidance_scale=2.0,
        num_inference_steps=3,
        generator=make_generator(0),
    )
    assert samples.shape == (6, 1, 32, 32) and samples.abs().max() <= 1
    again = synthesize(
        model,
        sched,
        labels,
        image_shape=(1, 32, 32),
        num_classes=2,
        guidance_scale=2.0,
        num_inference_steps=3,
        generator=make_generator(0),
    )
    torch.testing.assert_close(samples, again)
    real = torch.rand(8, 1, 32, 32, generator=make_generator(1)) * 2 - 1
    real_labels = torch.tensor([0, 1] * 4)
    ev = evaluate_synthesis(samples, labels, real, real_labels)
    assert set(ev["per_class"]) == {0, 1}
    assert all(k in ev for k in ("mmd", "ms_ssim", "ms_ssim_real"))
    # identical sets: MMD of real vs itself-like copies is smaller than vs the samples
    same = evaluate_synthesis(real, real_labels, real, real_labels)
    assert same["mmd"] < ev["mmd"]


def test_bad_inputs_raise_clear_errors():
    model, sched = TinyClassDenoiser(), DDIMScheduler(num_train_timesteps=100)
    kw = dict(image_shape=(1, 8, 8), num_classes=2, num_inference_steps=2)
    with pytest.raises(ValueError, match="labels"):
        synthesize(model, sched, torch.tensor([0, 2]), **kw)
    with pytest.raises(TypeError, match="labels"):
        synthesize(model, sched, torch.tensor([0.0, 1.0]), **kw)
    with pytest.raises(ValueError, match="guidance_scale"):
        synthesize(model, sched, torch.tensor([0, 1]), guidance_scale=-1, **kw)
    with pytest.raises(ValueError, match="image_shape"):
        synthesize(model, sched, torch.tensor([0, 1]), image_shape=(8, 8), num_classes=2)
    real = torch.rand(4, 1, 8, 8)
    with pytest.raises(ValueError, match="differ in size"):
        evaluate_synthesis(torch.rand(4, 1, 16, 16), torch.tensor([0, 0, 1, 1]), real, torch.tensor([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="one label per image"):
        evaluate_synthesis(real, torch.tensor([0, 1]), real, torch.tensor([0, 0, 1, 1]))
