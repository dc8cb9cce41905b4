"""Hidden checks of assignment a01 (instructors only; never released). See dimedia_course.grading.checks."""

import torch

from dimedia_course.grading.checks import Case, tensor_close

NOTEBOOK = "forward_process.ipynb"

# Reference code a submission could call instead of answering: stubbed out in the sandboxed kernel.
BLOCKED = [
    "dimedia_course.schedules:make_beta_schedule",
    "dimedia_course.schedules:NoiseSchedule",
    "dimedia_course.forward:q_sample",
    "dimedia_course.forward:q_posterior_mean_variance",
    "dimedia_course.forward:posterior_coefficients",
    "dimedia_course.schedulers.ddpm:DDPMScheduler",
    "dimedia_course.schedulers.ddim:DDIMScheduler",
]

REFERENCE_IMPORTS = """
from dimedia_course.schedules import NoiseSchedule, make_beta_schedule
from dimedia_course import forward as ref_forward
"""

F32 = torch.float32
# A value built in float64 and rounded once to float32 is within half an ulp (6e-8 relative); the notebook
# asks for float64 arithmetic, and a float32 cumulative product is off by 3e-7 to 6e-7: the tolerance of
# the alphas_cumprod check lies between the two.
CHECKS = {
    "test_linear_betas": [
        Case(
            setup=f"T, b0, b1 = {T}, {b0}, {b1}",
            student="linear_betas(T, beta_start=b0, beta_end=b1)",
            reference="make_beta_schedule('linear', T, beta_start=b0, beta_end=b1)",
            compare=tensor_close(1e-5, 1e-8, dtype=F32),
            message="linear betas for another length and range",
        )
        for T, b0, b1 in [(10, 1e-4, 0.02), (257, 1e-3, 0.05), (1000, 8.5e-4, 0.012)]
    ],
    "test_cosine_betas": [
        Case(
            setup=f"T, s, m = {T}, {s}, {m}",
            student="cosine_betas(T, s=s, max_beta=m)",
            reference="make_beta_schedule('cosine', T, cosine_s=s).clamp(max=m)",
            compare=tensor_close(1e-4, 3e-5, dtype=F32),
            message="cosine betas for another length, offset s and max_beta",
        )
        for T, s, m in [(10, 0.008, 0.999), (300, 0.008, 0.999), (1000, 0.02, 0.999), (200, 0.008, 0.5)]
    ],
    "test_alphas_cumprod": [
        Case(
            setup=f"betas = ({betas})",
            student="alphas_cumprod(betas.clone())",
            reference="NoiseSchedule(betas).alphas_cumprod",
            compare=tensor_close(1.5e-7, 0.0, dtype=F32),
            message="alphabar of a long schedule, accumulated in float64",
        )
        for betas in [
            "torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64).float()",
            "torch.linspace(1e-4, 0.01, 4000, dtype=torch.float64).float()",
            "(0.05 * torch.rand(333, generator=torch.Generator().manual_seed(3))).float()",
        ]
    ],
    "test_q_sample": [
        Case(
            setup=(
                f"g = torch.Generator().manual_seed({seed})\n"
                "ab = torch.cumprod(1 - torch.linspace(1e-4, 0.03, 200, dtype=torch.float64), 0).float()\n"
                f"x0 = torch.rand({shape}, generator=g) * 2 - 1\n"
                f"noise = torch.randn({shape}, generator=g)\n"
                f"t = torch.randint(0, 200, ({shape[0]},), generator=g)\n"
                "t[0] = 199"
            ),
            student="q_sample(x0.clone(), t.clone(), noise.clone(), ab.clone())",
            reference="ref_forward.q_sample(x0, t, noise, ab)",
            compare=tensor_close(1e-5, 1e-5),
            message=f"x_t for a batch of shape {shape} with one timestep per image",
        )
        for seed, shape in [(1, (4, 1, 8, 8)), (2, (3, 2, 5, 7)), (3, (2, 1, 4, 4, 4))]
    ],
    "test_q_posterior": [
        Case(
            setup=(
                f"g = torch.Generator().manual_seed({seed})\n"
                f"betas = {betas}\n"
                f"x0 = torch.rand({shape}, generator=g) * 2 - 1\n"
                f"x_t = torch.randn({shape}, generator=g)\n"
                "t = torch.cat([torch.tensor([0, 1, len(betas) - 1]),\n"
                f"               torch.randint(2, len(betas) - 1, ({shape[0] - 3},), generator=g)])"
            ),
            student=f"tuple(q_posterior(x0.clone(), x_t.clone(), t.clone(), betas.clone()))[{part}]",
            reference=f"ref_forward.q_posterior_mean_variance(x0, x_t, t, betas)[{part}]",
            compare=compare,
            message=f"posterior {'mean' if part == 0 else 'variance'} at t = 0, 1, T - 1 and random t",
        )
        for seed, betas, shape in [
            (4, "torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64).float()", (5, 1, 6, 6)),
            (5, "(0.001 + 0.2 * torch.rand(100, generator=g)).float()", (4, 3, 4, 5)),
        ]
        for part, compare in [(0, tensor_close(2e-3, 2e-3)), (1, tensor_close(2e-3, 1e-8, per_item=True))]
    ],
}


# Shown to the student under a test cell whose hidden checks fail: where to look, never an input.
HINTS = {
    "test_linear_betas": (
        "Use the length and the two end points you are given; the first and the last beta are exactly "
        "beta_start and beta_end, and the result is float32."
    ),
    "test_cosine_betas": (
        "Follow Nichol & Dhariwal (2021), eq. 17: betas from ratios of consecutive alphabar values, with the "
        "offset s inside the cosine, then clamp at max_beta."
    ),
    "test_alphas_cumprod": (
        "Long schedules expose rounding: accumulate the product of (1 - beta) in float64 and convert the result "
        "to float32 once, at the end."
    ),
    "test_q_sample": (
        "Index alphabar with one timestep per image and reshape it so it broadcasts over every other dimension, "
        "whatever the number of dimensions."
    ),
    "test_q_posterior": (
        "Check the edge timestep t = 0 (alphabar of the previous step is 1 there) and that mean and variance "
        "broadcast per image."
    ),
}
