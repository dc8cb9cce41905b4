"""Tests for dimedia_course.nn.classifier (noisy classifier for classifier guidance)."""

import pytest
import torch

from dimedia_course.nn import NoisyClassifier, train_noisy_classifier


def test_logits_shape_and_time_dependence():
    torch.manual_seed(0)
    clf = NoisyClassifier(in_channels=1, num_classes=3, base_channels=8).eval()
    x = torch.randn(4, 1, 16, 16)
    logits = clf(x, torch.full((4,), 10))
    assert logits.shape == (4, 3)
    assert not torch.allclose(logits, clf(x, torch.full((4,), 900)))
    with pytest.raises(ValueError, match="num_classes"):
        NoisyClassifier(1, 1)
    with pytest.raises(ValueError, match="shape"):
        clf(torch.randn(4, 2, 16, 16), torch.zeros(4, dtype=torch.long))


def test_training_learns_easy_task():
    g = torch.Generator().manual_seed(0)
    n = 64
    labels = torch.arange(n) % 2
    # class 0: dark images, class 1: bright images
    images = (labels.float() * 1.6 - 0.8).view(n, 1, 1, 1) + 0.05 * torch.randn(n, 1, 8, 8, generator=g)
    ac = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000), 0)
    clf = NoisyClassifier(1, 2, base_channels=8, channel_mults=(1, 2))
    hist = train_noisy_classifier(
        clf, images, labels, ac, steps=60, batch_size=32, lr=3e-3, max_timestep=100, device="cpu"
    )
    assert len(hist["loss"]) == 60
    assert sum(hist["loss"][-10:]) / 10 < sum(hist["loss"][:10]) / 10
    with torch.no_grad():
        acc = (clf(images, torch.full((n,), 5)).argmax(1) == labels).float().mean()
    assert acc > 0.9


def test_training_bad_input():
    clf = NoisyClassifier(1, 2, base_channels=8)
    with pytest.raises(ValueError, match="labels"):
        train_noisy_classifier(clf, torch.zeros(4, 1, 8, 8), torch.zeros(3), torch.ones(10), steps=1)
    with pytest.raises(TypeError, match="alphas_cumprod"):
        train_noisy_classifier(clf, torch.zeros(4, 1, 8, 8), torch.zeros(4), "linear", steps=1)


def test_judge_tells_two_slice_levels_apart():
    from dimedia_course.data import load_dataset
    from dimedia_course.nn import fit_judge, judge_accuracy

    images, labels = load_dataset("mni152-levels", size=16, n=64)
    held_out, held_out_labels = load_dataset("mni152-levels", size=16, n=32, seed=1)
    judge = fit_judge(images, labels, steps=40)
    assert judge_accuracy(judge, held_out, held_out_labels) > 0.9
    assert judge_accuracy(judge, held_out, 1 - held_out_labels) < 0.1  # the complement: a real check of labels
