"""Exact denoisers for toy data: isotropic Gaussian mixtures (a single Gaussian is the one-component case).

For data ``x_0 ~ sum_k w_k N(mu_k, s^2 I)`` the noisy marginal of the forward process
``x_t = a x_0 + sigma eps`` (VP: ``a = sqrt(alphabar_t)``, ``sigma^2 = 1 - alphabar_t``, Ho et al. 2020, eq. 4;
VE: ``a = 1``, Song & Ermon 2019) is again a mixture, ``sum_k w_k N(a mu_k, (a^2 s^2 + sigma^2) I)``, so its
score is known in closed form:

``grad log p_t(x) = sum_k r_k(x) (a mu_k - x) / (a^2 s^2 + sigma^2)``, with responsibilities ``r_k(x)``.

Tweedie's formula (Efron 2011; Ho et al. 2020, eq. 11 read as a score) gives the exact noise prediction
``eps(x_t, t) = -sqrt(1 - alphabar_t) grad log p_t(x_t)``, from which :class:`ToyDenoiser` returns any
parameterisation. With it every sampler, inversion and guidance method of the package can be checked
against a known answer (tests) and shown without training (book chapters). Class ``k`` of the toy data
is mixture component ``k``, so the exact noisy classifier ``p(y = k | x_t)`` is the responsibility.

Flow matching (rectified flow) uses the straight path ``x_s = (1 - s) x_0 + s eps`` (``a = 1 - s``,
``sigma = s``); its marginal velocity ``v(x, s) = E[x_0 - eps | x_s = x]`` (Lipman et al. 2023,
arXiv 2210.02747, eq. 8; Liu et al. 2023, arXiv 2209.03003, eq. 3) is again closed form for a mixture
(:meth:`GaussianMixture.flow_velocity`) and :class:`ToyFlowModel` serves it as a network for
:class:`~dimedia_course.schedulers.RFlowScheduler`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dimedia_course.losses import velocity, x0_eps_from_output
from dimedia_course.validation import check_alphas_cumprod, check_prediction_type

__all__ = ["GaussianMixture", "ToyDenoiser", "ToyClassifier", "ToyFlowModel"]


class GaussianMixture:
    """``sum_k w_k N(mu_k, std^2 I)`` over vectors of dimension ``D`` (images are flattened).

    Args:
        means: ``(K, D)`` component means (a ``(D,)`` tensor or a float gives one component; a float
            needs ``dim``).
        std: the common standard deviation ``s`` of every component.
        weights: ``(K,)`` mixture weights (default uniform); normalised here.
        dim: dimension when ``means`` is a float.
    """

    def __init__(self, means, std: float, weights=None, dim: int | None = None) -> None:
        means = torch.as_tensor(means, dtype=torch.float64)
        if means.ndim == 0:
            if dim is None:
                raise ValueError("dim must be given when means is a single number")
            means = means.expand(1, int(dim)).clone()
        elif means.ndim == 1:
            means = means[None]
        if means.ndim != 2:
            raise ValueError(f"means must be (K, D), (D,) or a number, got shape {tuple(means.shape)}")
        if not std > 0:
            raise ValueError(f"std must be > 0, got {std!r}")
        k = means.shape[0]
        weights = torch.full((k,), 1.0 / k, dtype=torch.float64) if weights is None else torch.as_tensor(weights)
        weights = weights.to(torch.float64)
        if weights.shape != (k,) or bool((weights <= 0).any()):
            raise ValueError(f"weights must be {k} positive numbers, got {weights.tolist()}")
        self.means, self.std, self.weights = means, float(std), weights / weights.sum()

    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None, component=None) -> torch.Tensor:
        """``n`` draws ``(n, D)`` in float32; ``component`` (an int or ``(n,)`` tensor) fixes the components."""
        if component is None:
            component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        component = torch.as_tensor(component, dtype=torch.long).expand(n)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return (self.means[component] + self.std * noise).float()

    def log_joint(self, x: torch.Tensor, scale, noise_var) -> torch.Tensor:
        """``log w_k + log N(x; scale mu_k, (scale^2 s^2 + noise_var) I)`` for every component: ``(n, K)``.

        ``x`` is ``(n, D)``; ``scale`` and ``noise_var`` are floats or ``(n,)`` tensors."""
        x = x.to(torch.float64)
        scale = torch.as_tensor(scale, dtype=torch.float64).reshape(-1, 1)
        var = scale**2 * self.std**2 + torch.as_tensor(noise_var, dtype=torch.float64).reshape(-1, 1)  # (n or 1, 1)
        d2 = ((x[:, None, :] - scale[:, :, None] * self.means[None]) ** 2).sum(-1)  # (n, K)
        return self.weights.log()[None] - d2 / (2 * var) - 0.5 * self.dim * torch.log(2 * math.pi * var)

    def score(self, x: torch.Tensor, scale, noise_var, component=None) -> torch.Tensor:
        """``grad_x log p(x)`` of the noisy marginal (or of one component), ``(n, D)`` in float64."""
        x = x.to(torch.float64)
        scale = torch.as_tensor(scale, dtype=torch.float64).reshape(-1, 1)
        var = scale**2 * self.std**2 + torch.as_tensor(noise_var, dtype=torch.float64).reshape(-1, 1)
        if component is None:
            r = torch.softmax(self.log_joint(x, scale.flatten(), var.flatten() - scale.flatten() ** 2 * self.std**2), 1)
            centre = r @ self.means  # (n, D): responsibility-weighted means
        else:
            centre = self.means[torch.as_tensor(component, dtype=torch.long).expand(x.shape[0])]
        return (scale * centre - x) / var

    def score_vp(self, x: torch.Tensor, alpha_prod, component=None) -> torch.Tensor:
        """Score of the VP marginal at cumulative alpha ``alpha_prod`` (Ho et al. 2020)."""
        ab = torch.as_tensor(alpha_prod, dtype=torch.float64)
        return self.score(x, ab.sqrt(), 1.0 - ab, component)

    def score_ve(self, x: torch.Tensor, sigma, component=None) -> torch.Tensor:
        """Score of the VE marginal ``x_0 + sigma eps`` (Song & Ermon 2019)."""
        return self.score(x, 1.0, torch.as_tensor(sigma, dtype=torch.float64) ** 2, component)

    def flow_velocity(self, x: torch.Tensor, s, component=None) -> torch.Tensor:
        """The marginal velocity ``v(x, s) = E[x_0 - eps | x_s = x]`` of the straight path
        ``x_s = (1 - s) x_0 + s eps`` (Lipman et al. 2023, eq. 8, the marginal field as the posterior mean of
        the conditional one; Liu et al. 2023, eq. 3), ``(n, D)`` in float64.

        Per component ``k`` (Gaussian conditioning, ``a = 1 - s``, ``c_k = a^2 std^2 + s^2``):
        ``E[x_0 | x, k] = mu_k + a std^2 (x - a mu_k) / c_k`` and ``E[eps | x, k] = s (x - a mu_k) / c_k``, so
        ``v_k = mu_k + (a std^2 - s) (x - a mu_k) / c_k``; the marginal is ``sum_k r_k(x) v_k`` with the
        responsibilities of ``N(a mu_k, c_k I)``. Finite at both ends ``s = 0`` and ``s = 1``. ``s`` is a
        float or an ``(n,)`` tensor; ``component`` fixes ``k`` (the class-conditional field).
        """
        x = x.to(torch.float64)
        s = torch.as_tensor(s, dtype=torch.float64).reshape(-1, 1)
        if bool(((s < 0) | (s > 1)).any()):
            raise ValueError("s must lie in [0, 1]")
        a = 1.0 - s
        c = a**2 * self.std**2 + s**2  # (n or 1, 1)
        diff = x[:, None, :] - a[:, :, None] * self.means[None]  # (n, K, D)
        v_k = self.means[None] + ((a * self.std**2 - s) / c)[:, :, None] * diff
        if component is None:
            r = torch.softmax(self.log_joint(x, a.flatten(), (s**2).flatten()), dim=1)  # (n, K)
        else:
            comp = torch.as_tensor(component, dtype=torch.long).expand(x.shape[0])
            r = torch.nn.functional.one_hot(comp, self.num_components).to(torch.float64)
        return (r[:, :, None] * v_k).sum(1)

    def log_prob_ve(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """``log p(x)`` of the VE marginal, ``(n,)``."""
        return torch.logsumexp(self.log_joint(x, 1.0, torch.as_tensor(sigma, dtype=torch.float64) ** 2), dim=1)


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


class ToyDenoiser(nn.Module):
    """The exact denoiser ``model(x, t, y=None)`` of a :class:`GaussianMixture` (no parameters, no training).

    ``x`` is ``(B, C, H, W)`` (or any ``(B, ...)``) with ``C*H*W = D``. ``y`` selects a component (class-
    conditional model); ``y = num_classes`` (the package's null label) or ``y=None`` gives the whole mixture,
    so classifier-free guidance works as with a trained network. Outputs follow ``prediction_type``.
    """

    def __init__(self, mixture: GaussianMixture, alphas_cumprod, prediction_type: str = "epsilon") -> None:
        super().__init__()
        self.mixture = mixture
        self.register_buffer("alphas_cumprod", check_alphas_cumprod(alphas_cumprod).detach().double().clone())
        self.prediction_type = check_prediction_type(prediction_type)
        self.num_classes = mixture.num_components

    def forward(self, x: torch.Tensor, t, y=None) -> torch.Tensor:
        t = torch.as_tensor(t, device=x.device).long().reshape(-1).expand(x.shape[0])
        ab = self.alphas_cumprod.to(x.device)[t]  # (B,)
        flat = _flat(x).double()
        score = self.mixture.score_vp(flat, ab)
        if y is not None:
            y = torch.as_tensor(y, device=x.device).long().reshape(-1).expand(x.shape[0])
            conditional = y < self.num_classes
            if bool(conditional.any()):
                comp = self.mixture.score_vp(flat, ab, component=y.clamp(max=self.num_classes - 1))
                score = torch.where(conditional[:, None], comp, score)
        eps = -(1 - ab).sqrt()[:, None] * score  # Tweedie: E[eps | x_t]
        if self.prediction_type == "epsilon":
            out = eps
        else:
            x0 = x0_eps_from_output(eps, flat, ab[:, None], "epsilon")[0]  # Ho et al. 2020, eq. 15
            out = x0 if self.prediction_type == "sample" else velocity(x0, eps, ab[:, None])
        return out.to(x.dtype).reshape(x.shape)


class ToyClassifier(nn.Module):
    """The exact noisy classifier ``classifier(x, t) -> logits`` with ``softmax = p(y = k | x_t)``, class =
    mixture component (for classifier guidance, Dhariwal & Nichol 2021)."""

    def __init__(self, mixture: GaussianMixture, alphas_cumprod) -> None:
        super().__init__()
        self.mixture = mixture
        self.register_buffer("alphas_cumprod", check_alphas_cumprod(alphas_cumprod).detach().double().clone())

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        t = torch.as_tensor(t, device=x.device).long().reshape(-1).expand(x.shape[0])
        ab = self.alphas_cumprod.to(x.device)[t]
        return self.mixture.log_joint(_flat(x), ab.sqrt(), 1 - ab).to(x.dtype)


class ToyFlowModel(nn.Module):
    """The exact rectified-flow network ``model(x, t, y=None)`` of a :class:`GaussianMixture`: returns
    :meth:`GaussianMixture.flow_velocity` at ``s = t / num_train_timesteps`` (MONAI's / the course's time,
    noise at ``t = T``; ``t`` may be float or integer). ``y`` selects a component, ``y = num_classes`` or
    ``None`` the whole mixture (classifier-free guidance works as with a trained network)."""

    prediction_type = "flow_velocity"

    def __init__(self, mixture: GaussianMixture, num_train_timesteps: int = 1000) -> None:
        super().__init__()
        self.mixture = mixture
        self.num_train_timesteps = int(num_train_timesteps)
        self.num_classes = mixture.num_components

    def forward(self, x: torch.Tensor, t, y=None) -> torch.Tensor:
        t = torch.as_tensor(t, device=x.device).double().reshape(-1).expand(x.shape[0])
        s = (t / self.num_train_timesteps).clamp(0.0, 1.0)
        flat = _flat(x).double()
        v = self.mixture.flow_velocity(flat, s)
        if y is not None:
            y = torch.as_tensor(y, device=x.device).long().reshape(-1).expand(x.shape[0])
            conditional = y < self.num_classes
            if bool(conditional.any()):
                comp = self.mixture.flow_velocity(flat, s, component=y.clamp(max=self.num_classes - 1))
                v = torch.where(conditional[:, None], comp, v)
        return v.to(x.dtype).reshape(x.shape)
