"""Hidden checks of assignment a07 (instructors only; never released). See dimedia_course.grading.checks."""

import torch

from dimedia_course.grading.checks import Case, tensor_close

NOTEBOOK = "flow_matching.ipynb"

# Reference code a submission could call instead of answering: stubbed out in the sandboxed kernel.
BLOCKED = [
    "dimedia_course.schedulers.rflow:RFlowScheduler",
    "dimedia_course.schedulers.rflow:flow_interpolant",
    "dimedia_course.schedulers.rflow:timestep_shift",
    "dimedia_course.schedulers.rflow:euler_step",
    "dimedia_course.losses:flow_velocity_target",
    "dimedia_course.losses:flow_matching_loss",
    "dimedia_course.sampling:sample",
    "dimedia_course.toy:ToyFlowModel",
]

REFERENCE_IMPORTS = '''
import torch
from dimedia_course.losses import flow_velocity_target
from dimedia_course.sampling import sample as ref_sample
from dimedia_course.schedulers.rflow import RFlowScheduler
from dimedia_course.toy import GaussianMixture, ToyFlowModel


def ref_timesteps(n, T, numel, base, dim):
    """MONAI-convention continuous timesteps, shifted for an image of numel voxels (reference scheduler)."""
    sched = RFlowScheduler(T, use_discrete_timesteps=False, use_timestep_transform=numel != base,
                           base_img_size_numel=base, spatial_dim=dim)
    sched.set_timesteps(n, input_img_size_numel=numel)
    return sched.timesteps


def ref_rf_sample(mu, std, z, n, T, numel, base):
    """Euler samples of the exact flow of N(mu, std^2) through the course's sampling loop."""
    sched = RFlowScheduler(T, use_discrete_timesteps=False, use_timestep_transform=numel != base,
                           base_img_size_numel=base, spatial_dim=2)
    sched.set_timesteps(n, input_img_size_numel=numel)
    model = ToyFlowModel(GaussianMixture(mu, std=std, dim=z[0].numel()), T)
    return ref_sample(model, sched, x_T=z, num_inference_steps=None)
'''

F32 = torch.float32
# The student's exact Gaussian velocity for the sampler check (the notebook's helper lives in a test cell,
# so the setup defines its own copy; the reference side uses dimedia_course.toy instead).
GAUSSIAN = (
    "def velocity_model(mu, std, T):\n"
    "    def model(x, t):\n"
    "        s = (t.double() / T).reshape(-1, *([1] * (x.ndim - 1)))\n"
    "        a = 1 - s\n"
    "        c = a**2 * std**2 + s**2\n"
    "        return (mu + (a * std**2 - s) * (x.double() - a * mu) / c).to(x.dtype)\n"
    "    return model\n"
)

CHECKS = {
    "test_add_noise": [
        Case(
            setup=(
                f"g = torch.Generator().manual_seed({seed})\n"
                f"x0 = torch.rand({shape}, generator=g) * 2 - 1\n"
                f"noise = torch.randn({shape}, generator=g)\n"
                f"t = {t}"
            ),
            student=f"add_noise(x0.clone(), noise.clone(), t.clone(), T={T})",
            reference=f"RFlowScheduler({T}).add_noise(x0, noise, t)",
            compare=tensor_close(1e-5, 1e-6, dtype=F32),
            message=f"x_t for a batch of shape {shape} with {'integer' if 'randint' in t else 'float'} timesteps",
        )
        for seed, shape, t, T in [
            (1, (4, 1, 6, 6), "torch.tensor([0, 1, 999, 1000])", 1000),
            (2, (3, 2, 4, 5), "torch.rand(3, generator=g) * 500", 500),
            (3, (2, 1, 3, 4, 4), "torch.randint(0, 100, (2,), generator=g)", 100),
        ]
    ],
    "test_velocity_target": [
        Case(
            setup=(
                f"g = torch.Generator().manual_seed({seed})\n"
                f"x0 = torch.rand({shape}, generator=g) * 2 - 1\n"
                f"noise = torch.randn({shape}, generator=g)"
            ),
            student="velocity_target(x0.clone(), noise.clone())",
            reference="flow_velocity_target(x0, noise)",
            compare=tensor_close(1e-6, 1e-6, dtype=F32),
            message=f"the target for a batch of shape {shape}",
        )
        for seed, shape in [(4, (3, 1, 5, 5)), (5, (2, 3, 2, 2, 2))]
    ],
    "test_rf_timesteps": [
        Case(
            setup=f"ratio = ({numel} / {base}) ** (1 / {dim})",
            student=f"rf_timesteps({n}, T={T}, ratio=ratio)",
            reference=f"ref_timesteps({n}, {T}, {numel}, {base}, {dim})",
            compare=tensor_close(1e-6, 1e-4, dtype=F32),
            message=f"{n} timesteps (T = {T}) for {numel} voxels trained at {base} in {dim}D",
        )
        for n, T, numel, base, dim in [
            (10, 1000, 32 * 32, 32 * 32, 2),
            (7, 1000, 64 * 64, 32 * 32, 2),
            (30, 1000, 128**3, 32**3, 3),
            (5, 200, 16 * 16, 32 * 32, 2),
        ]
    ],
    "test_euler_step": [
        Case(
            setup=(
                f"g = torch.Generator().manual_seed({seed})\n"
                "x = torch.randn(2, 1, 4, 4, generator=g)\n"
                "v = torch.randn(2, 1, 4, 4, generator=g)"
            ),
            student=f"euler_step(v.clone(), {t}, x.clone(), {t_next}, T={T})",
            reference=f"RFlowScheduler({T}, use_discrete_timesteps=False).step(v, {t}, x, next_timestep={t_next})[0]",
            compare=tensor_close(1e-5, 1e-6, dtype=F32),
            message=f"a step from t = {t} to {t_next} (T = {T})",
        )
        for seed, t, t_next, T in [(6, 1000, 900, 1000), (7, 333.5, 0, 1000), (8, 80, 60, 100)]
    ],
    "test_rf_sample": [
        Case(
            setup=GAUSSIAN
            + (
                f"g = torch.Generator().manual_seed({seed})\n"
                "z = torch.randn(64, 1, 2, 2, generator=g)\n"
                f"ratio = ({numel} / 16) ** 0.5"
            ),
            student=f"rf_sample(velocity_model({mu}, {std}, {T}), z.clone(), {n}, T={T}, ratio=ratio)",
            reference=f"ref_rf_sample({mu}, {std}, z, {n}, {T}, {numel}, 16)",
            compare=tensor_close(1e-4, 1e-4, dtype=F32),
            message=f"{n} Euler steps on N({mu}, {std}^2), shift for {numel} voxels trained at 16",
        )
        for seed, mu, std, n, T, numel in [
            (9, 0.5, 0.3, 8, 1000, 16),
            (10, -0.2, 0.6, 12, 1000, 64),
            (11, 1.0, 0.2, 5, 400, 256),
        ]
    ],
}


# Shown to the student under a test cell whose hidden checks fail: where to look, never an input.
HINTS = {
    "test_add_noise": (
        "The rectified-flow interpolant is linear between data and noise, with t scaled to [0, 1] and broadcast "
        "per sample."
    ),
    "test_velocity_target": (
        "The target velocity is the difference between the noise and the data (check the sign convention in the "
        "notebook)."
    ),
    "test_rf_timesteps": (
        "Apply the resolution-dependent timestep shift of the notebook, and check the count, the order and the "
        "end points."
    ),
    "test_euler_step": (
        "One Euler step moves along the predicted velocity by the difference of the two times; mind its sign."
    ),
    "test_rf_sample": (
        "Start from noise drawn with the given generator and follow the timesteps in the order the notebook describes."
    ),
}
