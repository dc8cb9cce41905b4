"""Hidden checks of assignment a03 (instructors only; never released). See dimedia_course.grading.checks."""

import torch

from dimedia_course.grading.checks import Case, raises, tensor_close, tensor_equal, tuple_of

NOTEBOOK = "ddim_inversion.ipynb"

# Reference code a submission could call instead of answering: stubbed out in the sandboxed kernel.
BLOCKED = [
    "dimedia_course.schedulers.ddim:DDIMScheduler",
    "dimedia_course.schedulers.ddpm:DDPMScheduler",
    "dimedia_course.sampling:sample",
    "dimedia_course.inversion:ddim_invert",
    "dimedia_course.inversion:ddim_reconstruct",
    "dimedia_course.losses:predict_x0",
    "dimedia_course.losses:predict_epsilon",
    "dimedia_course.losses:x0_eps_from_output",
]

REFERENCE_IMPORTS = '''
import torch
from dimedia_course.inversion import ddim_invert as ref_invert
from dimedia_course.sampling import sample as ref_sample
from dimedia_course.schedulers.ddim import DDIMScheduler


def ref_scheduler(T=1000, n=20, schedule="linear_beta"):
    scheduler = DDIMScheduler(num_train_timesteps=T, schedule=schedule, clip_sample=False)
    scheduler.set_timesteps(n, timestep_spacing="trailing")
    return scheduler


def ref_timesteps(T, n):
    return ref_scheduler(T, n).timesteps.clone()


def ref_alpha_bars(i, n=20):
    """(alphabar_t, alphabar_t') of the i-th inference step of a 20-step linear schedule, float64 floats."""
    scheduler = ref_scheduler(n=n)
    ab, ts = scheduler.alphas_cumprod.double(), scheduler.timesteps.tolist()
    return float(ab[ts[i]]), (float(ab[ts[i + 1]]) if i + 1 < len(ts) else 1.0)


def ref_ddim_step(eps, x_t, i, eta, noise_seed, n=20):
    scheduler = ref_scheduler(n=n)
    t = scheduler.timesteps.tolist()[i]
    return scheduler.step(eps, t, x_t, eta=eta, generator=torch.Generator().manual_seed(noise_seed))
'''

F32 = torch.float32
STEP_SHAPE = (3, 2, 5, 5)


def _step_setup(seed, i, eta, noise_seed):
    return (
        f"g = torch.Generator().manual_seed({seed})\n"
        f"x_t = torch.randn({STEP_SHAPE}, generator=g)\n"
        f"eps = torch.randn({STEP_SHAPE}, generator=g)\n"
        f"z = torch.randn({STEP_SHAPE}, generator=torch.Generator().manual_seed({noise_seed}))\n"
        f"i, eta = {i}, {eta}"
    )


def _step_given(i):
    return {"a_t": f"ref_alpha_bars({i})[0]", "a_prev": f"ref_alpha_bars({i})[1]"}


def _loop_setup(seed, shape, image):
    draw = "torch.rand({shape}, generator=g) * 2 - 1" if image else "torch.randn({shape}, generator=g)"
    return (
        f"g = torch.Generator().manual_seed({seed})\n"
        f"model = ToyDenoiser({shape[1]}, seed={seed})\n"
        f"x = {draw.format(shape=shape)}"
    )


def _loop_given(n, schedule):
    return {
        "ab": f"ref_scheduler(1000, {n}, {schedule!r}).alphas_cumprod.clone()",
        "ts": f"ref_scheduler(1000, {n}, {schedule!r}).timesteps.clone()",
    }


# Tolerances: see the measured float32 errors next to each check.
CHECKS = {
    "test_ddim_timesteps": [
        Case(
            setup=f"T, n = {T}, {n}",
            student="ddim_timesteps(T, n)",
            reference="ref_timesteps(T, n)",
            compare=tensor_equal(dtype=torch.long),
            message=f"trailing timesteps for T = {T}, n = {n}",
        )
        for T, n in [(1000, 50), (1000, 1000), (1000, 1), (999, 7), (200, 64), (1000, 3)]
    ]
    + [
        Case(
            setup=f"T, n = {T}, {n}",
            student="ddim_timesteps(T, n)",
            reference="None",
            compare=raises("ValueError"),
            message=f"{what} raises ValueError",
        )
        for T, n, what in [(10, 11, "more inference steps than training steps"), (10, 0, "zero inference steps")]
    ],
    "test_ddim_step": [
        Case(
            setup=_step_setup(100 + 10 * i + int(4 * eta), i, eta, 7 + i),
            given=_step_given(i),
            student="tuple(ddim_step(eps.clone(), x_t.clone(), a_t, a_prev, eta=eta, noise=z.clone()))",
            reference="ref_ddim_step(eps, x_t, i, eta, 7 + i)",
            # float32 answers (alphabars as float32 tensors, sigma in float32) are off by < 2e-5
            compare=tuple_of(tensor_close(1e-4, 1e-4, dtype=F32), tensor_close(1e-4, 1e-4, dtype=F32)),
            message=f"(x_prev, x0_hat) of a step with eta = {eta} at inference step {label} of 20",
        )
        for i, label in [(0, "1 (the noisiest)"), (9, "10"), (18, "19"), (19, "20 (to the clean image)")]
        for eta in (0.0, 0.5, 1.0)
    ]
    + [
        Case(
            setup=_step_setup(200, 5, 0.0, 0),
            given=_step_given(5),
            student="tuple(ddim_step(eps.clone(), x_t.clone(), a_t, a_prev))",
            reference="ref_ddim_step(eps, x_t, 5, 0.0, 0)",
            compare=tuple_of(tensor_close(1e-4, 1e-4, dtype=F32), tensor_close(1e-4, 1e-4, dtype=F32)),
            message="a deterministic step without noise (eta and noise left at their defaults)",
        )
    ],
    "test_ddim_sample": [
        Case(
            setup=_loop_setup(seed, shape, image=False),
            given=_loop_given(n, schedule),
            student="ddim_sample(model, x.clone(), ab.clone(), ts.clone())",
            reference=f"ref_sample(model, ref_scheduler(1000, {n}, {schedule!r}), x_T=x.clone(), eta=0.0)",
            compare=tensor_close(1e-3, 1e-3, dtype=F32),
            message=f"{n}-step DDIM sample on a {schedule.replace('_beta', '')} schedule",
        )
        for n, schedule, seed, shape in [
            (10, "linear_beta", 1, (2, 2, 8, 8)),
            (25, "cosine", 2, (2, 2, 8, 8)),
            (1, "linear_beta", 3, (1, 1, 6, 6)),
        ]
    ],
    "test_ddim_invert": [
        Case(
            setup=_loop_setup(seed, shape, image=True),
            given=_loop_given(n, schedule),
            student="ddim_invert(model, x.clone(), ab.clone(), ts.clone())",
            reference=f"ref_invert(model, ref_scheduler(1000, {n}, {schedule!r}), x.clone(), num_inference_steps=None)",
            # the toy model's latents are small (|x_T| ~ 1e-4 to 0.4): a relative check with a tiny atol
            compare=tensor_close(1e-3, 1e-6, dtype=F32),
            message=f"{n}-step DDIM inversion on a {schedule.replace('_beta', '')} schedule",
        )
        for n, schedule, seed, shape in [
            (10, "linear_beta", 5, (3, 1, 8, 8)),
            (40, "cosine", 6, (3, 1, 8, 8)),
            (1, "cosine", 7, (1, 2, 6, 6)),
        ]
    ],
}


# Shown to the student under a test cell whose hidden checks fail: where to look, never an input.
HINTS = {
    "test_ddim_timesteps": (
        "Trailing spacing: the timesteps end at T - 1 and are evenly spaced down from there; check the count "
        "and the order."
    ),
    "test_ddim_step": (
        "Song et al. (2021), eq. 12: estimate x0 first, then combine it with the predicted noise; eta = 0 adds "
        "no noise."
    ),
    "test_ddim_sample": (
        "Loop over the inference timesteps in decreasing order and use the previous timestep's alphabar (1 "
        "before the first)."
    ),
    "test_ddim_invert": (
        "Inversion runs the deterministic step in the other direction: increasing timesteps, the model "
        "evaluated at the current point."
    ),
}
