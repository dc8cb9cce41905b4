"""Oracle tests of dimedia_course.metrics against scikit-image, scikit-learn and MONAI."""

import numpy as np
import pytest
import torch

from dimedia_course import make_generator
from dimedia_course.metrics import (
    auroc,
    dice,
    image_features,
    kid,
    mmd,
    ms_ssim,
    nearest_neighbour_distance,
    pairwise_ms_ssim,
    precision_recall,
    psnr,
    sample_quality,
    ssim,
)


def _pair(size=32, batch=3, seed=0):
    g = make_generator(seed)
    x = torch.rand(batch, 1, size, size, generator=g) * 2 - 1
    x = torch.nn.functional.avg_pool2d(x, 3, 1, 1)  # some structure
    y = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    return x, y


def test_psnr_matches_skimage():
    from skimage.metrics import peak_signal_noise_ratio

    x, y = _pair()
    ours = psnr(y, x, reduction="none")
    for b in range(x.shape[0]):
        ref = peak_signal_noise_ratio(x[b, 0].numpy(), y[b, 0].numpy(), data_range=2.0)
        assert ours[b].item() == pytest.approx(ref, rel=1e-5)
    assert psnr(y, x).item() == pytest.approx(ours.mean().item())
    assert torch.isinf(psnr(x, x))


@pytest.mark.parametrize("gaussian", [False, True])
def test_ssim_matches_skimage(gaussian):
    from skimage.metrics import structural_similarity

    x, y = _pair()
    kw = dict(kernel="gaussian", win_size=11) if gaussian else {}
    ours = ssim(y.double(), x.double(), reduction="none", **kw)
    for b in range(x.shape[0]):
        ref = structural_similarity(
            x[b, 0].double().numpy(),
            y[b, 0].double().numpy(),
            data_range=2.0,
            gaussian_weights=gaussian,
            sigma=1.5,
            use_sample_covariance=True,
        )
        assert ours[b].item() == pytest.approx(ref, abs=1e-6)
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-5)


def test_ssim_matches_monai():
    from monai.metrics import SSIMMetric

    x, y = _pair()
    ref = SSIMMetric(spatial_dims=2, data_range=2.0, win_size=11)(y, x).flatten()
    ours = ssim(y, x, kernel="gaussian", win_size=11, sample_covariance=False, reduction="none")
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_ms_ssim_matches_monai_and_small_images():
    from monai.metrics import MultiScaleSSIMMetric

    x, y = _pair(size=64)
    w = (0.3, 0.3, 0.4)
    ref = MultiScaleSSIMMetric(spatial_dims=2, data_range=2.0, kernel_size=7, weights=w)(y, x).flatten()
    ours = ms_ssim(y, x, weights=w, win_size=7, reduction="none")
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    xs, ys = _pair(size=32)
    value = ms_ssim(ys, xs, weights=w, win_size=5)
    assert 0 < value.item() < 1
    assert ms_ssim(xs, xs, weights=w, win_size=5).item() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="too small"):
        ms_ssim(ys, xs)  # 5 scales of an 11-pixel window do not fit in 32 x 32


def test_pairwise_ms_ssim_diversity():
    g = make_generator(1)
    diverse = torch.rand(6, 1, 32, 32, generator=g) * 2 - 1
    collapsed = diverse[:1].repeat(6, 1, 1, 1) + 0.01 * torch.randn(6, 1, 32, 32, generator=g)
    kw = dict(weights=(0.5, 0.5), win_size=7)
    assert pairwise_ms_ssim(diverse, **kw) < pairwise_ms_ssim(collapsed, **kw)
    assert pairwise_ms_ssim(diverse, max_pairs=4, generator=make_generator(0), **kw).ndim == 0
    with pytest.raises(ValueError, match="at least 2"):
        pairwise_ms_ssim(diverse[:1], **kw)


def test_dice_matches_monai():
    from monai.metrics import DiceMetric

    g = make_generator(2)
    pred = (torch.rand(4, 1, 16, 16, generator=g) > 0.5).float()
    target = (torch.rand(4, 1, 16, 16, generator=g) > 0.6).float()
    ref = DiceMetric(include_background=True, reduction="none")(pred, target).flatten()
    torch.testing.assert_close(dice(pred, target, reduction="none"), ref)
    empty = torch.zeros(1, 1, 4, 4)
    assert dice(empty, empty).item() == 1.0
    assert dice(target.bool(), target.bool()).item() == 1.0


def test_auroc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=500)
    scores = labels * 0.7 + rng.normal(size=500)
    scores[:50] = np.round(scores[:50])  # ties
    assert auroc(torch.from_numpy(scores), torch.from_numpy(labels)) == pytest.approx(roc_auc_score(labels, scores))
    assert auroc(np.array([0.1, 0.9]), np.array([0, 1])) == 1.0


def test_mmd_properties_and_monai_linear():
    from monai.metrics import MMDMetric

    g = make_generator(3)
    a = torch.randn(40, 1, 4, 4, generator=g)
    b = torch.randn(40, 1, 4, 4, generator=g)
    shifted = b + 1.5
    assert abs(mmd(a, b).item()) < 0.05
    assert mmd(a, shifted).item() > 10 * abs(mmd(a, b).item())
    assert mmd(a, shifted, sigma=[1.0, 4.0]).item() > 0
    ref = MMDMetric()(a, shifted)
    assert mmd(a, shifted, kernel="linear").item() == pytest.approx(float(ref.mean()), rel=1e-5)


def test_bad_inputs_raise_clear_errors():
    x, y = _pair()
    with pytest.raises(ValueError, match="same shape"):
        psnr(x, y[:, :, :16])
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        ssim(x[0], y[0])
    with pytest.raises(TypeError, match="torch.Tensor"):
        psnr([1.0], [1.0])
    with pytest.raises(ValueError, match="data_range"):
        psnr(x, y, data_range=0)
    with pytest.raises(ValueError, match="win_size"):
        ssim(x, y, win_size=4)
    with pytest.raises(ValueError, match="reduction"):
        ssim(x, y, reduction="sum")
    with pytest.raises(ValueError, match="binary"):
        dice(x, (y > 0).float())
    with pytest.raises(ValueError, match="both classes"):
        auroc(torch.rand(10), torch.zeros(10))
    with pytest.raises(ValueError, match="binary"):
        auroc(torch.rand(10), torch.arange(10))
    with pytest.raises(ValueError, match="same number"):
        auroc(torch.rand(10), torch.zeros(9))
    with pytest.raises(ValueError, match="per-sample size"):
        mmd(torch.rand(4, 3), torch.rand(4, 5))
    with pytest.raises(ValueError, match="at least 2"):
        mmd(torch.rand(1, 3), torch.rand(4, 3))
    with pytest.raises(ValueError, match="kernel"):
        mmd(torch.rand(4, 3), torch.rand(4, 3), kernel="rbf")
    with pytest.raises(ValueError, match="weights"):
        ms_ssim(x, y, weights=(), win_size=5)


def _oracle_mmd(x, y, kernel, biased):
    """MMD^2 in float64 with scipy's cdist (Gretton et al. 2012, eq. 3 and 5)."""
    from scipy.spatial.distance import cdist

    def k(a, b):
        if kernel == "polynomial":
            return (a @ b.T / a.shape[1] + 1) ** 3
        return np.exp(-cdist(a, b, "sqeuclidean") / (2 * 1.5**2))

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    if biased:
        return kxx.mean() + kyy.mean() - 2 * kxy.mean()
    m, n = len(x), len(y)
    return (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean()


def test_kid_and_biased_mmd_match_a_float64_formula():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 6)), rng.normal(0.5, 1.2, size=(25, 6))
    assert kid(x, y).item() == pytest.approx(_oracle_mmd(x, y, "polynomial", False), rel=1e-10)
    assert mmd(x, y, sigma=1.5, biased=True).item() == pytest.approx(_oracle_mmd(x, y, "gaussian", True), rel=1e-10)
    assert mmd(x, y, sigma=1.5).item() == pytest.approx(_oracle_mmd(x, y, "gaussian", False), rel=1e-10)


def _oracle_precision_recall(real, fake, k):
    """Kynkaenniemi et al. 2019, eq. 1-3, with scikit-learn's NearestNeighbors for the k-NN radii."""
    from sklearn.neighbors import NearestNeighbors

    def radii(f):
        dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(f).kneighbors(f)
        return dist[:, k]

    def inside(points, centres, r):
        return np.mean([np.any(np.linalg.norm(centres - p, axis=1) <= r) for p in points])

    return inside(fake, real, radii(real)), inside(real, fake, radii(fake))


def test_precision_recall_and_nn_distance_match_scikit_learn():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(2)
    real = rng.normal(size=(80, 5))
    fake = np.concatenate([rng.normal(size=(40, 5)) * 0.5, rng.normal(4.0, 1.0, size=(20, 5))])
    p, r = precision_recall(real, fake, k=3)
    p_ref, r_ref = _oracle_precision_recall(real, fake, 3)
    assert (p, r) == (pytest.approx(p_ref), pytest.approx(r_ref))
    assert p < 0.8 and r < 0.9  # the far cluster is not real; the shrunken one misses real variety
    dist, _ = NearestNeighbors(n_neighbors=1).fit(real).kneighbors(fake)
    np.testing.assert_allclose(nearest_neighbour_distance(fake, real).numpy(), dist[:, 0], rtol=1e-10)
    same = precision_recall(real, real.copy(), k=3)
    assert same == (1.0, 1.0)


def test_sample_quality_puts_copies_and_noise_on_either_side_of_the_floor():
    g = make_generator(4)
    base = torch.nn.functional.avg_pool2d(torch.rand(8, 1, 16, 16, generator=g) * 2 - 1, 3, 1, 1)

    def real(n):
        return (base[torch.randint(0, 8, (n,), generator=g)] + 0.05 * torch.randn(n, 1, 16, 16, generator=g)).clamp(
            -1, 1
        )

    train, held_out, reference = real(64), real(64), real(64)
    assert image_features(train, size=8).shape == (64, 64)
    good = sample_quality(reference, train, held_out, real(64), size=8)
    assert good["mmd_ratio"] < 2 and good["precision"] > 0.8
    noise = sample_quality(torch.rand(64, 1, 16, 16, generator=g) * 2 - 1, train, held_out, reference, size=8)
    assert noise["mmd"] > 5 * noise["mmd_floor"] and noise["precision"] < 0.2
    copies = sample_quality(train, train, held_out, reference, size=8)
    assert copies["nn_distance"] == 0 < copies["nn_distance_floor"]
    with pytest.raises(ValueError, match="k = 3"):
        precision_recall(np.zeros((3, 2)), np.zeros((5, 2)))


def test_central_slices_against_numpy_indexing():
    from dimedia_course.metrics import central_slices

    v = torch.arange(2 * 5**3, dtype=torch.float64).reshape(2, 1, 5, 5, 5)
    a = v.numpy()
    out = central_slices(v)
    assert out.shape == (2, 3, 5, 5)
    np.testing.assert_array_equal(out[:, 0].numpy(), a[:, 0, 2, :, :])
    np.testing.assert_array_equal(out[:, 1].numpy(), a[:, 0, :, 2, :])
    np.testing.assert_array_equal(out[:, 2].numpy(), a[:, 0, :, :, 2])
    with pytest.raises(ValueError, match=r"volumes must be shaped \(N, 1, S, S, S\)"):
        central_slices(torch.zeros(2, 1, 4, 4))
