"""Tests of dimedia_course.applications.segmentation (conditional mask diffusion, ensemble uncertainty)."""

import pytest
import torch

from dimedia_course import make_generator
from dimedia_course.applications.segmentation import (
    evaluate_segmentation,
    mask_to_signal,
    segment,
    signal_to_mask,
    train_segmentation_model,
)
from dimedia_course.schedulers import DDIMScheduler


class TinyCondDenoiser(torch.nn.Module):
    """Sees cat([m_t, image]) and predicts epsilon for the mask channel."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 1, 3, padding=1)

    def forward(self, x, t, y=None):
        return self.conv(x)


def _data(n=4, size=16):
    masks = torch.zeros(n, 1, size, size)
    masks[:, :, 4:10, 5:11] = 1
    images = masks * 1.5 - 0.75
    return images, masks


def test_signal_roundtrip():
    _, masks = _data()
    torch.testing.assert_close(signal_to_mask(mask_to_signal(masks)), masks)


def test_train_and_segment_shapes_and_uncertainty():
    images, masks = _data()
    model, sched = TinyCondDenoiser(), DDIMScheduler(num_train_timesteps=100)
    hist = train_segmentation_model(model, images, masks, sched, steps=3, batch_size=2, generator=make_generator(0))
    assert len(hist) == 3
    res = segment(model, sched, images, n_samples=3, num_inference_steps=4, generator=make_generator(1))
    assert res["samples"].shape == (3, 4, 1, 16, 16)
    assert res["mean"].shape == res["variance"].shape == res["segmentation"].shape == masks.shape
    assert set(res["segmentation"].unique().tolist()) <= {0.0, 1.0}
    assert (res["variance"] >= 0).all() and res["variance"].max() <= 0.25 + 1e-6
    ev = evaluate_segmentation(res, masks)
    assert 0 <= ev["dice"] <= 1 and 0 <= ev["dice_single_sample"] <= 1
    again = segment(model, sched, images, n_samples=3, num_inference_steps=4, generator=make_generator(1))
    torch.testing.assert_close(res["mean"], again["mean"])


def test_evaluate_segmentation_perfect_ensemble():
    _, masks = _data()
    samples = masks.unsqueeze(0).repeat(3, 1, 1, 1, 1)
    result = {"samples": samples, "mean": masks, "segmentation": masks, "variance": torch.zeros_like(masks)}
    ev = evaluate_segmentation(result, masks)
    assert ev["dice"] == 1.0 and ev["dice_single_sample"] == 1.0 and ev["mean_variance"] == 0.0


def test_bad_inputs_raise_clear_errors():
    images, masks = _data()
    model, sched = TinyCondDenoiser(), DDIMScheduler(num_train_timesteps=100)
    with pytest.raises(ValueError, match="binary"):
        train_segmentation_model(model, images, masks * 0.5, sched, steps=1)
    with pytest.raises(ValueError, match="match"):
        train_segmentation_model(model, images, masks[:2], sched, steps=1)
    with pytest.raises(ValueError, match="steps"):
        train_segmentation_model(model, images, masks, sched, steps=0)
    with pytest.raises(ValueError, match="n_samples"):
        segment(model, sched, images, n_samples=0)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        segment(model, sched, images[0])
    res = segment(model, sched, images, n_samples=2, num_inference_steps=2, generator=make_generator(0))
    with pytest.raises(ValueError, match="shaped like"):
        evaluate_segmentation(res, masks[:, :, :8])
