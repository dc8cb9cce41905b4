"""Hidden checks of assignment a02 (instructors only; never released). See dimedia_course.grading.checks."""

import torch

from dimedia_course.grading.checks import Case, raises, tensor_close

NOTEBOOK = "ddpm.ipynb"

# Reference code a submission could call instead of answering: stubbed out in the sandboxed kernel.
BLOCKED = [
    "dimedia_course.losses:training_target",
    "dimedia_course.losses:get_velocity",
    "dimedia_course.losses:velocity",
    "dimedia_course.losses:x0_eps_from_output",
    "dimedia_course.losses:predict_x0",
    "dimedia_course.losses:predict_epsilon",
    "dimedia_course.losses:diffusion_loss",
    "dimedia_course.forward:q_sample",
    "dimedia_course.forward:q_posterior_mean_variance",
    "dimedia_course.forward:posterior_coefficients",
    "dimedia_course.sampling:sample",
    "dimedia_course.schedulers.ddpm:DDPMScheduler",
    "dimedia_course.schedulers.ddim:DDIMScheduler",
]

REFERENCE_IMPORTS = '''
import torch
from dimedia_course import losses as ref_losses
from dimedia_course.forward import q_posterior_mean_variance as ref_posterior
from dimedia_course.sampling import sample as ref_sample
from dimedia_course.schedulers.ddpm import DDPMScheduler
from dimedia_course.schedules import NoiseSchedule, make_beta_schedule


def ref_ddpm_step(eps, x_t, t, betas, z):
    """x_{t-1} of Algorithm 2 (fixed small variance) in float64, from the reference formulas."""
    betas64 = betas.double()
    ab64 = torch.cumprod(1 - betas64, 0)
    tt = torch.full((x_t.shape[0],), t)
    x0_hat = ref_losses.predict_x0(eps.double(), x_t.double(), tt, ab64, "epsilon")
    mean, var, _ = ref_posterior(x0_hat, x_t.double(), tt, betas64)
    return (mean + (var.sqrt() * z.double() if t > 0 else 0)).float()


def ref_ddpm_sample(model, shape, T, seed):
    scheduler = DDPMScheduler(num_train_timesteps=T, schedule="linear_beta", beta_start=1e-3, beta_end=0.2,
                              clip_sample=False)
    return ref_sample(model, scheduler, shape, generator=torch.Generator().manual_seed(seed))


def ref_ddpm_betas(T):
    return DDPMScheduler(num_train_timesteps=T, schedule="linear_beta", beta_start=1e-3, beta_end=0.2,
                         clip_sample=False).betas.clone()
'''


def _inputs(seed, shape, T, names):
    lines = [f"g = torch.Generator().manual_seed({seed})"]
    lines += [f"{name} = torch.{'rand' if name == 'x0' else 'randn'}({shape}, generator=g)" for name in names]
    if "x0" in names:
        lines.append("x0 = 2 * x0 - 1")
    lines.append(f"t = torch.randint(0, {T}, ({shape[0]},), generator=g)")
    lines.append(f"t[0], t[-1] = 0, {T - 1}")
    return "\n".join(lines)


F32 = torch.float32
KINDS = ("epsilon", "sample", "v_prediction")
COSINE_300 = {"ab": "NoiseSchedule(make_beta_schedule('cosine', 300)).alphas_cumprod"}
LINEAR_1000 = {"ab": "NoiseSchedule(make_beta_schedule('linear', 1000)).alphas_cumprod"}
COSINE_200 = {"ab": "NoiseSchedule(make_beta_schedule('cosine', 200)).alphas_cumprod"}

# Tolerances (float64 errors of the references are ~1e-16; the measured errors of correct float32 answers
# written in other orders of operations are given next to each check).
CHECKS = {
    "test_training_target": [
        Case(
            setup=_inputs(seed, shape, 300, ("x0", "noise")),
            given=COSINE_300,
            student=f"training_target(x0.clone(), noise.clone(), t.clone(), ab.clone(), {kind!r})",
            reference=f"ref_losses.training_target(x0, noise, t, ab, {kind!r})",
            compare=tensor_close(1e-5, 1e-5, dtype=F32),
            message=f"{kind} target on a cosine schedule for a batch of shape {shape}",
        )
        for seed, shape in [(10, (4, 1, 8, 8)), (11, (3, 2, 5, 6))]
        for kind in KINDS
    ]
    + [
        Case(
            setup=_inputs(12, (2, 1, 4, 4), 300, ("x0", "noise")),
            given=COSINE_300,
            student=f"training_target(x0, noise, t, ab, {kind!r})",
            reference="None",
            compare=raises("ValueError"),
            message="an unknown prediction_type raises ValueError",
        )
        for kind in ("v", "eps")
    ],
    "test_predict_x0": [
        Case(
            setup=_inputs(seed, shape, 1000, ("out", "x_t")),
            given=LINEAR_1000,
            student=f"predict_x0(out.clone(), x_t.clone(), t.clone(), ab.clone(), {kind!r})",
            reference=f"ref_losses.predict_x0(out, x_t, t, ab, {kind!r})",
            compare=tensor_close(1e-4, 1e-4, dtype=F32),
            message=f"x0 estimate from a {kind} output on a linear schedule for a batch of shape {shape}",
        )
        for seed, shape in [(20, (4, 1, 8, 8)), (21, (3, 3, 5, 5))]
        for kind in KINDS
    ]
    + [
        Case(
            setup=_inputs(22, (2, 1, 4, 4), 1000, ("out", "x_t")),
            given=LINEAR_1000,
            student="predict_x0(out, x_t, t, ab, 'velocity')",
            reference="None",
            compare=raises("ValueError"),
            message="an unknown prediction_type raises ValueError",
        )
    ],
    "test_ddpm_loss": [
        Case(
            setup=_inputs(seed, (4, channels, 8, 8), 200, ("x0", "noise"))
            + f"\nmodel = ToyDenoiser({channels}, seed={channels})",
            given=COSINE_200,
            student=f"ddpm_loss(model, x0.clone(), t.clone(), noise.clone(), ab.clone(), {kind!r})",
            reference=f"ref_losses.diffusion_loss(model, x0, ab, {kind!r}, t=t, noise=noise).detach()",
            compare=tensor_close(1e-4, 1e-6, dtype=F32),
            message=f"{kind} loss as a 0-d tensor",
        )
        for seed, channels, kind in [(30, 1, "epsilon"), (31, 2, "v_prediction"), (32, 1, "sample")]
    ]
    + [
        Case(
            setup=_inputs(33, (4, 2, 8, 8), 200, ("x0", "noise")) + "\nmodel = ToyDenoiser(2, seed=3)",
            given=COSINE_200,
            student=(
                "torch.autograd.grad(ddpm_loss(model, x0.clone(), t.clone(), noise.clone(), ab.clone(), "
                f"{kind!r}), model.conv.weight)[0]"
            ),
            reference=(
                f"torch.autograd.grad(ref_losses.diffusion_loss(model, x0, ab, {kind!r}, t=t, noise=noise), "
                "model.conv.weight)[0]"
            ),
            compare=tensor_close(1e-4, 1e-6),
            message=f"gradient of the {kind} loss with respect to the model's weights",
        )
        for kind in ("epsilon", "v_prediction")
    ],
    "test_ddpm_step": [
        Case(
            setup=(
                f"g = torch.Generator().manual_seed({seed})\n"
                f"x_t, eps, z = (torch.randn(3, 1, 6, 6, generator=g) for _ in range(3))\n"
                f"t = {t}"
            ),
            given={"betas": f"make_beta_schedule({name!r}, {T})"},
            student="ddpm_step(eps.clone(), x_t.clone(), t, betas.clone(), z.clone())",
            reference="ref_ddpm_step(eps, x_t, t, betas, z)",
            compare=tensor_close(1e-3, 1e-3, dtype=F32),
            message=f"one step on a {name} schedule at t = {label}",
        )
        for seed0, name, T in [(40, "linear", 1000), (50, "cosine", 100)]
        for seed, t, label in [
            (seed0, 0, "0"),
            (seed0 + 1, 1, "1"),
            (seed0 + 2, T // 2, "T/2"),
            (seed0 + 3, T - 2, "T - 2"),
        ]
    ],
    "test_ddpm_sample": [
        Case(
            setup=f"model = ToyDenoiser({shape[1]}, seed={seed})\nshape = {shape}",
            given={"betas": f"ref_ddpm_betas({T})"},
            student=f"ddpm_sample(model, shape, betas.clone(), torch.Generator().manual_seed({seed}))",
            reference=f"ref_ddpm_sample(model, shape, {T}, {seed})",
            compare=tensor_close(1e-3, 1e-3, dtype=F32),
            message=f"a sample of shape {shape} after {T} steps from a seeded generator",
        )
        for T, shape, seed in [(25, (2, 1, 8, 8), 3), (40, (3, 2, 6, 6), 4)]
    ],
}


# Shown to the student under a test cell whose hidden checks fail: where to look, never an input.
HINTS = {
    "test_training_target": (
        "Each prediction type has its own target (epsilon, x0 or v); v mixes noise and image with the square "
        "roots of alphabar and 1 - alphabar."
    ),
    "test_predict_x0": (
        "Invert the forward process for each prediction type, with the schedule values taken at each image's "
        "own timestep."
    ),
    "test_ddpm_loss": (
        "The loss is one number (a 0-d tensor) and must let gradients flow to the model's weights: no .item(), "
        "no detach."
    ),
    "test_ddpm_step": (
        "Use the posterior mean and variance of Ho et al. (2020), eqs. 6-7; no noise is added at the last step."
    ),
    "test_ddpm_sample": (
        "Draw every random number from the generator you are given, in the order the notebook describes."
    ),
}
