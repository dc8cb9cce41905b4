"""Hidden checks of assignment a06 (instructors only; never released). See dimedia_course.grading.checks."""

import torch

from dimedia_course.grading.checks import Case, scalar_close, tensor_close

NOTEBOOK = "anomaly_detection.ipynb"

# Reference code a submission could call instead of answering: stubbed out in the sandboxed kernel.
BLOCKED = [
    "dimedia_course.applications.anomaly:gaussian_smooth",
    "dimedia_course.applications.anomaly:anomaly_map",
    "dimedia_course.applications.anomaly:healthy_reconstruction",
    "dimedia_course.applications.anomaly:evaluate_anomaly_maps",
    "dimedia_course.applications.anomaly:brain_mask",
    "dimedia_course.metrics:dice",
    "dimedia_course.metrics:auroc",
    "dimedia_course.inversion:ddim_invert",
    "dimedia_course.forward:q_sample",
    "dimedia_course.sampling:sample",
    "dimedia_course.schedulers.ddim:DDIMScheduler",
    "dimedia_course.schedulers.ddpm:DDPMScheduler",
]

REFERENCE_IMPORTS = """
from dimedia_course import metrics as ref_metrics
from dimedia_course.applications import anomaly as ref_anomaly
from dimedia_course.sampling import set_inference_timesteps
from dimedia_course.schedulers import DDIMScheduler


def _scheduler():
    return DDIMScheduler(num_train_timesteps=1000, schedule="linear_beta")


def _timesteps(num_inference_steps):
    return torch.tensor(set_inference_timesteps(_scheduler(), num_inference_steps))


def _healthy(model, images, noise_level, num_inference_steps, seed):
    return ref_anomaly.healthy_reconstruction(
        model, _scheduler(), images, noise_level=noise_level, num_inference_steps=num_inference_steps,
        generator=torch.Generator().manual_seed(seed),
    )
"""

# Measured errors of correct answers written otherwise (a 2D kernel, a float64 kernel, the DDIM update in float64,
# Dice on booleans, pairwise / rankdata / trapezoid AUROC): blur <= 6e-7 (tolerance 1e-5), anomaly maps 0 (1e-5),
# reconstructions <= 8.6e-7 absolute (2e-5 + 1e-4 |x|), Dice <= 6e-8 (1e-6), AUROC 0 (1e-6).
# Bugs: blur >= 9e-5 (radius 2 sigma at sigma = 0.7), anomaly maps >= 0.24, reconstructions >= 5.9e-3,
# Dice >= 6.5e-2, AUROC >= 2.5e-3 (ordinal ranks with many ties; 0.2 with all scores tied).
CHECKS = {
    "test_gaussian_smooth": [
        Case(
            setup=f"maps = torch.rand({shape}, generator=torch.Generator().manual_seed({seed}))",
            student=f"gaussian_smooth(maps.clone(), {sigma})",
            reference=f"ref_anomaly.gaussian_smooth(maps, {sigma})",
            compare=tensor_close(0.0, 1e-5),
            message=f"blur of maps of shape {shape}"
            + (" with sigma = 0 (no blur)" if sigma == 0 else " with another sigma, borders included"),
        )
        for seed, shape, sigma in [
            (60, (2, 1, 16, 16), 1.0),
            (61, (3, 2, 10, 13), 0.7),
            (62, (1, 1, 20, 20), 2.5),
            (63, (2, 3, 9, 11), 0.3),
            (64, (1, 2, 8, 8), 0),
        ]
    ],
    "test_anomaly_map": [
        Case(
            setup=(
                f"g = torch.Generator().manual_seed({seed})\n"
                f"images = torch.rand(3, {channels}, 12, 12, generator=g) * 2 - 1\n"
                f"recon = torch.rand(3, {channels}, 12, 12, generator=g) * 2 - 1\n"
                "mask = (torch.rand(3, 1, 12, 12, generator=g) > 0.3).float()"
            ),
            student=f"anomaly_map(images.clone(), recon.clone(), {sigma}, mask={'mask' if use_mask else 'None'})",
            reference=(
                f"ref_anomaly.gaussian_smooth((images - recon).abs().mean(1, keepdim=True), {sigma})"
                + (" * mask" if use_mask else "")
            ),
            compare=tensor_close(0.0, 1e-5),
            message=f"anomaly map of {channels}-channel images {'with' if use_mask else 'without'} a mask"
            + (", no smoothing" if sigma == 0 else ""),
        )
        for seed, channels, sigma, use_mask in [
            (65, 1, 1.0, True),
            (66, 3, 0.5, False),
            (67, 2, 0.0, True),
            (68, 2, 1.5, True),
        ]
    ],
    "test_healthy_reconstruction": [
        Case(
            setup=(
                f"model = ToyDenoiser(seed={seed})\nimages, _ = toy_brains(3, 16, seed={seed})\n"
                f"start = {n - max(1, round(level * n))}\ngen = torch.Generator().manual_seed({seed})"
            ),
            given={"ts": f"_timesteps({n})", "ab": "_scheduler().alphas_cumprod"},
            student="healthy_reconstruction(model, images.clone(), ab.clone(), ts.clone(), start, gen)",
            reference=f"_healthy(model, images, {level}, {n}, {seed})",
            compare=tensor_close(1e-4, 2e-5),
            message="reconstruction from pure noise (start index 0)"
            if level == 1.0
            else "reconstruction from another noise level and number of DDIM steps",
        )
        for level, n, seed in [(0.4, 20, 1), (0.75, 12, 2), (1.0, 8, 3), (0.2, 10, 4)]
    ],
    "test_dice_score": [
        Case(
            setup=(
                f"g = torch.Generator().manual_seed({seed})\n"
                f"pred = (torch.rand({shape}, generator=g) < {p}).float()\n"
                f"target = (torch.rand({shape}, generator=g) < {p}).float()\n"
                "pred[0] = 0\n"
                "target[0] = 0"
            ),
            student="dice_score(pred.clone(), target.clone())",
            reference="ref_metrics.dice(pred, target)",
            compare=scalar_close(0.0, 1e-6, kind=torch.Tensor),
            message=f"mean Dice of masks of shape {shape} (one pair of empty masks), as a 0-d tensor",
        )
        for seed, shape, p in [(70, (4, 1, 16, 16), 0.3), (71, (3, 2, 8, 8), 0.05), (72, (5, 1, 6, 6), 0.6)]
    ]
    + [
        Case(
            setup="pred = torch.zeros(2, 1, 5, 5)\ntarget = torch.zeros(2, 1, 5, 5)\ntarget[1, 0, 2, 2] = 1",
            student="dice_score(pred.clone(), target.clone())",
            reference="ref_metrics.dice(pred, target)",
            compare=scalar_close(0.0, 1e-6, kind=torch.Tensor),
            message="mean Dice with one pair of empty masks and one empty prediction, as a 0-d tensor",
        ),
    ],
    "test_pixel_auroc": [
        Case(
            setup=(
                f"g = torch.Generator().manual_seed({seed})\n"
                "images, masks = toy_brains(3, 32, seed=5)\n"
                f"scores, labels = {data}"
            ),
            student="pixel_auroc(scores.clone(), labels.clone())",
            reference="ref_metrics.auroc(scores, labels)",
            compare=scalar_close(0.0, 1e-6, kind=float),
            message=f"pixel AUROC ({what}), as a Python float",
        )
        for seed, data, what in [
            (
                80,
                "torch.rand(2, 1, 32, 32, generator=g), (torch.rand(2, 1, 32, 32, generator=g) > 0.9).float()",
                "random scores",
            ),
            (
                81,
                "(torch.rand(1000, generator=g) * 5).round(), (torch.rand(1000, generator=g) > 0.5).float()",
                "many tied scores",
            ),
            (82, "images + 0.3 * torch.randn(images.shape, generator=g), masks", "noisy lesion images"),
            (83, "torch.full((40,), 0.5), (torch.arange(40) < 10).float()", "all scores tied"),
        ]
    ],
}


# Shown to the student under a test cell whose hidden checks fail: where to look, never an input.
HINTS = {
    "test_gaussian_smooth": ("Blur each map separately with a normalised Gaussian kernel and keep the input shape."),
    "test_anomaly_map": (
        "Build the map from the reconstruction error as the notebook defines it (channels, mask); apply the "
        "mask only when one is given."
    ),
    "test_healthy_reconstruction": (
        "Partial inversion then sampling back from the same index; check the edge case where the start index is 0."
    ),
    "test_dice_score": (
        "Dice per pair of masks, then the mean; decide what an empty prediction against an empty mask scores "
        "and return a 0-d tensor."
    ),
    "test_pixel_auroc": ("AUROC over all pixels (ties count one half), returned as a Python float."),
}
