"""Tests of dimedia_course.applications.reconstruction: MRI and CT operators, baselines, diffusion recon."""

import numpy as np
import pytest
import torch

from dimedia_course import make_generator
from dimedia_course.applications.reconstruction import (
    CTOperator,
    MRIOperator,
    cartesian_mask,
    conjugate_gradient,
    diffusion_reconstruct,
    fbp,
    fft2c,
    ifft2c,
)
from dimedia_course.metrics import psnr
from dimedia_course.schedulers import DDIMScheduler


class TinyDenoiser(torch.nn.Module):
    """A 1-layer epsilon predictor: enough to exercise the sampling code."""

    def __init__(self, channels=1):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, 1, 3, padding=1)

    def forward(self, x, t, y=None):
        return self.conv(x)


def _phantoms(n=2, size=32, seed=0):
    g = make_generator(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    circle = (yy - (size - 1) / 2) ** 2 + (xx - (size - 1) / 2) ** 2 < (size / 2 - 1) ** 2
    x = torch.nn.functional.avg_pool2d(torch.rand(n, 1, size, size, generator=g) * 2 - 1, 5, 1, 2) * 3
    return torch.where(circle, x.clamp(-1, 1), torch.tensor(-1.0))


def test_fft_roundtrip_and_orthonormal():
    x = _phantoms()
    k = fft2c(x.to(torch.complex64))
    torch.testing.assert_close(ifft2c(k).real, x, atol=1e-5, rtol=0)
    assert k.abs().pow(2).sum().item() == pytest.approx(x.pow(2).sum().item(), rel=1e-4)


def test_cartesian_mask_properties():
    m = cartesian_mask(32, 4, center_fraction=0.125, generator=make_generator(0))
    assert m.shape == (1, 1, 32, 32)
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    lines = m[0, 0, 0]
    assert int(lines.sum()) == 8
    assert torch.all(m[0, 0] == lines)  # whole columns
    assert torch.all(lines[14:18] == 1)  # centre always sampled
    assert torch.all(cartesian_mask((16, 8), 1.0) == 1)
    again = cartesian_mask(32, 4, center_fraction=0.125, generator=make_generator(0))
    assert torch.equal(m, again)


def test_mri_zero_filled_and_projection():
    x = _phantoms()
    op = MRIOperator(cartesian_mask(32, 4, generator=make_generator(1)))
    k = op(x)
    zf = op.zero_filled(k)
    assert zf.shape == x.shape and not zf.is_complex()
    assert 10 < psnr(zf.clamp(-1, 1), x).item() < 40
    # projecting the truth keeps it; with a mirror-symmetric mask projecting zero gives the zero-filled image
    torch.testing.assert_close(op.project(x, k), x, atol=1e-5, rtol=0)
    lines = torch.zeros(32)
    lines[[3, 29, 16, 15, 17]] = 1  # column i's mirror is (32 - i) % 32
    sym = MRIOperator(lines.expand(32, 32).clone())
    torch.testing.assert_close(sym.project(torch.zeros_like(x), sym(x)), sym.zero_filled(sym(x)), atol=1e-5, rtol=0)
    full = MRIOperator(cartesian_mask(32, 1))
    torch.testing.assert_close(full.zero_filled(full(x)), x, atol=1e-5, rtol=0)


def _np_fft2c(img):
    """Independent float64 centred orthonormal FFT (numpy)."""
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(img, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


@pytest.mark.parametrize("shape", [(8, 8), (7, 9), (32, 32)])
def test_mri_projection_is_the_real_domain_projection_numpy_oracle(shape):
    # an asymmetric mask: most sampled columns have an unsampled mirror (the old code halved those samples)
    h, w = shape
    rng = np.random.default_rng(0)
    mask = np.zeros((h, w))
    mask[:, rng.choice(w, size=max(2, w // 3), replace=False)] = 1
    mask[:, w // 2] = 1
    truth, start = rng.uniform(-1, 1, (2, h, w))
    y = mask * _np_fft2c(truth)  # float64 measurements of a real image
    op = MRIOperator(torch.tensor(mask, dtype=torch.float32))
    kspace = torch.from_numpy(y).to(torch.complex64)[None, None]
    out = op.project(torch.tensor(start, dtype=torch.float32)[None, None], kspace)
    got = out[0, 0].double().numpy()
    # measured entries equal the measurements to float precision
    scale = np.abs(y).max()
    assert np.abs(mask * _np_fft2c(got) - y).max() < 1e-5 * scale
    # idempotent
    again = op.project(out, kspace)[0, 0].double().numpy()
    assert np.abs(again - got).max() < 1e-5
    if h * w <= 64:  # oracle: orthogonal projection onto {x real: M F x = y} by float64 least squares
        basis = np.eye(h * w).reshape(h * w, h, w)
        rows = mask.ravel() > 0
        a_c = np.stack([_np_fft2c(b).ravel()[rows] for b in basis], axis=1)
        a = np.concatenate([a_c.real, a_c.imag])
        b = np.concatenate([y.ravel()[rows].real, y.ravel()[rows].imag])
        expected = start.ravel() - np.linalg.pinv(a) @ (a @ start.ravel() - b)
        np.testing.assert_allclose(got.ravel(), expected, atol=1e-5)


def test_ct_projector_matches_skimage_radon_and_adjoint():
    from skimage.transform import radon

    x = _phantoms()
    op = CTOperator(32, n_views=12)
    sino = op(x)
    assert sino.shape == (2, 1, 12, 32)
    ref = radon(((x[0, 0] + 1) / 2).double().numpy(), op.angles, circle=True).T
    np.testing.assert_allclose(sino[0, 0].numpy(), ref, atol=1e-4)
    g = make_generator(2)
    u, s = torch.randn(x.shape, generator=g), torch.randn(sino.shape, generator=g)
    lhs = (op.project_attenuation(u) * s).sum()
    rhs = (u * op.adjoint(s)).sum()
    assert lhs.item() == pytest.approx(rhs.item(), rel=1e-4)


def test_fbp_baseline_improves_with_views_and_cg_fits_data():
    x = _phantoms()
    sparse, dense = CTOperator(32, n_views=6), CTOperator(32, n_views=60)
    assert psnr(dense.fbp(dense(x)), x) > psnr(sparse.fbp(sparse(x)), x)
    sino = sparse(x)
    start = torch.zeros_like(x)
    fitted = sparse.data_consistency(start, sino, n_iter=10)
    assert sparse.residual_norm(fitted, sino) < 0.2 * sparse.residual_norm(start, sino)
    assert fbp(sino, sparse.angles).shape == x.shape


def test_conjugate_gradient_solves_spd_system():
    diag = torch.linspace(1, 3, 16).view(1, 1, 4, 4)
    rhs = torch.ones(1, 1, 4, 4)
    sol = conjugate_gradient(lambda v: diag * v, rhs, torch.zeros_like(rhs), n_iter=16)
    torch.testing.assert_close(sol, rhs / diag, atol=1e-4, rtol=0)


@pytest.mark.parametrize("method", ["dc", "dps"])
def test_diffusion_reconstruct_mri_and_ct(method):
    torch.manual_seed(0)
    model, sched = TinyDenoiser(), DDIMScheduler(num_train_timesteps=100)
    x = _phantoms()
    mri = MRIOperator(cartesian_mask(32, 4, generator=make_generator(3)))
    k = mri(x)
    rec = diffusion_reconstruct(model, sched, mri, k, method=method, num_inference_steps=4, generator=make_generator(0))
    assert rec.shape == x.shape and rec.min() >= -1 and rec.max() <= 1
    if method == "dc":  # hard data consistency: measured k-space matches up to clipping / real part
        assert mri.residual_norm(rec, k) < 0.3 * mri.residual_norm(torch.zeros_like(x), k)
    ct = CTOperator(32, n_views=6)
    rec_ct = diffusion_reconstruct(
        model, sched, ct, ct(x), method=method, num_inference_steps=3, generator=make_generator(0)
    )
    assert rec_ct.shape == x.shape and torch.isfinite(rec_ct).all()
    again = diffusion_reconstruct(
        model, sched, ct, ct(x), method=method, num_inference_steps=3, generator=make_generator(0)
    )
    torch.testing.assert_close(rec_ct, again)


class ScaledIdentity(torch.nn.Module):
    """eps_hat = c x_t: a linear denoiser, so one DPS step has a closed form."""

    def forward(self, x, t, y=None):
        return 0.3 * x


def test_one_dps_step_matches_a_float64_derivation_and_alg1_with_half_the_normalised_step():
    """One DDIM step (eta = 0, eq. 12) then ``x -= dps_scale grad_{x_t} ||y - A x0_hat(x_t)||_2`` per image, derived by
    hand in float64 for eps_hat = c x_t (so x0_hat = k x_t) and the CT matrix R (A(x) = R (x + 1) / 2):
    grad = -(k / 2) R^T r / ||r||. It equals Chung et al. 2023, Alg. 1 on the *squared* norm with
    zeta = dps_scale / (2 ||r||) (App. C's normalisation, with the factor 2 of d||r||^2 = 2 ||r|| d||r||)."""
    size, c, scale = 8, 0.3, 0.05
    ct = CTOperator(size, n_views=3)
    sched = DDIMScheduler(num_train_timesteps=100, clip_sample=False, set_alpha_to_one=False)
    y = ct(_phantoms(2, size))
    x_T = 0.3 * torch.randn(2, 1, size, size, generator=make_generator(4))
    out = diffusion_reconstruct(
        ScaledIdentity(), sched, ct, y, method="dps", num_inference_steps=1, dps_scale=scale, x_T=x_T
    )
    # the matrix of the projector, column by column (u = e_i is x = 2 e_i - 1)
    basis = 2 * torch.eye(size * size).view(-1, 1, size, size) - 1
    R = ct(basis).flatten(1).double().T  # (n_views * size, size^2)
    t = int(sched.timesteps[0])
    assert sched.previous_timestep(t) == -1  # one step, to alphabar_0 (set_alpha_to_one=False)
    abar = torch.cumprod(1 - sched.betas.double(), 0)
    ab_t, ab_prev = float(abar[t]), float(abar[0])
    k = (1 - (1 - ab_t) ** 0.5 * c) / ab_t**0.5  # x0_hat = (x_t - sqrt(1 - abar_t) c x_t) / sqrt(abar_t)
    expected, alg1, plain = [], [], []
    for x_t, y_b in zip(x_T.flatten(1).double(), y.flatten(1).double()):
        x0 = k * x_t
        stepped = ab_prev**0.5 * x0 + (1 - ab_prev) ** 0.5 * c * x_t  # eq. 12 with sigma = 0
        r = y_b - R @ ((x0 + 1) / 2)
        grad_norm = -(k / 2) * (R.T @ r) / r.norm()
        grad_squared = -k * (R.T @ r)  # grad_{x_t} ||r||^2
        expected.append(stepped - scale * grad_norm)
        alg1.append(stepped - scale / (2 * r.norm()) * grad_squared)
        plain.append(stepped)
    expected = torch.stack(expected).view_as(x_T)
    torch.testing.assert_close(torch.stack(alg1).view_as(x_T), expected)
    assert (expected - torch.stack(plain).view_as(x_T)).abs().max() > 1e-2  # the DPS term is not negligible
    assert (expected.abs() < 1).float().mean() > 0.9  # few values are clipped
    torch.testing.assert_close(out.double(), expected.clamp(-1, 1), rtol=0, atol=1e-5)


def test_bad_inputs_raise_clear_errors():
    x = _phantoms()
    with pytest.raises(ValueError, match="acceleration"):
        cartesian_mask(32, 0.5)
    with pytest.raises(ValueError, match="center_fraction"):
        cartesian_mask(32, 4, center_fraction=1.5)
    with pytest.raises(ValueError, match="size"):
        cartesian_mask("32", 4)
    with pytest.raises(ValueError, match="binary"):
        MRIOperator(torch.rand(32, 32))
    with pytest.raises(ValueError, match="spatial size"):
        MRIOperator(cartesian_mask(16, 2))(x)
    with pytest.raises(ValueError, match="n_views"):
        CTOperator(32, n_views=0)
    with pytest.raises(ValueError, match="n_views"):
        CTOperator(32)
    with pytest.raises(ValueError, match="32 x 32"):
        CTOperator(32, n_views=4)(x[:, :, :16, :16])
    with pytest.raises(ValueError, match="views"):
        fbp(torch.zeros(1, 1, 5, 32), np.arange(4))
    op = CTOperator(32, n_views=4)
    model, sched = TinyDenoiser(), DDIMScheduler(num_train_timesteps=100)
    with pytest.raises(ValueError, match="sinogram"):
        diffusion_reconstruct(model, sched, op, torch.zeros(1, 1, 5, 32))
    with pytest.raises(ValueError, match="method"):
        diffusion_reconstruct(model, sched, op, op(x), method="magic")
    with pytest.raises(TypeError, match="complex"):
        diffusion_reconstruct(model, sched, MRIOperator(cartesian_mask(32, 2)), x)
    with pytest.raises(TypeError, match="operator"):
        diffusion_reconstruct(model, sched, object(), op(x))
    with pytest.raises(TypeError, match="scheduler"):
        diffusion_reconstruct(model, object(), op, op(x))


@pytest.mark.parametrize("n_iter", [150, 300])
def test_conjugate_gradient_float32_stays_bounded_float64_lstsq_oracle(n_iter):
    # sparse-view CT normal operator, rank 95 of 256: the old recursive residual blew up (|x| ~ 1e9 at 300)
    op = CTOperator(16, n_views=6)
    basis = torch.eye(256, dtype=torch.float64).view(256, 1, 16, 16)
    a = op.project_attenuation(basis).reshape(256, -1).T.numpy()
    normal_np = a.T @ a
    rng = np.random.default_rng(0)
    x0, truth = rng.uniform(0, 1, (2, 256))
    rhs = normal_np @ truth
    expected = x0 + np.linalg.pinv(normal_np) @ (rhs - normal_np @ x0)  # float64 least squares from x0
    got = conjugate_gradient(
        lambda v: op.adjoint(op.project_attenuation(v)),
        torch.tensor(rhs, dtype=torch.float32).view(1, 1, 16, 16),
        torch.tensor(x0, dtype=torch.float32).view(1, 1, 16, 16),
        n_iter=n_iter,
    )
    got = got.double().numpy().ravel()
    assert np.abs(got).max() < 2 * np.abs(expected).max()
    assert np.abs(got - expected).max() < 0.05


def test_conjugate_gradient_bad_arguments():
    rhs = torch.ones(1, 1, 4, 4)
    with pytest.raises(ValueError, match="n_iter"):
        conjugate_gradient(lambda v: v, rhs, rhs, n_iter=0)
    with pytest.raises(ValueError, match="tol"):
        conjugate_gradient(lambda v: v, rhs, rhs, tol=-1.0)
