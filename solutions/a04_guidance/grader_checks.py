"""Hidden checks of assignment a04 (instructors only; never released). See dimedia_course.grading.checks."""

import torch

from dimedia_course.grading.checks import Case, tensor_close, tensor_equal

NOTEBOOK = "guidance.ipynb"

# Reference code a submission could call instead of answering: stubbed out in the sandboxed kernel.
BLOCKED = [
    "dimedia_course.guidance:drop_labels",
    "dimedia_course.guidance:classifier_free_guidance",
    "dimedia_course.guidance:classifier_gradient",
    "dimedia_course.guidance:ClassifierFreeGuidedModel",
    "dimedia_course.guidance:ClassifierGuidedModel",
    "dimedia_course.sampling:denoiser_output",
]

REFERENCE_IMPORTS = """
from dimedia_course import guidance as ref_guidance
from dimedia_course.schedules import NoiseSchedule
"""

# Runs a function with gradients disabled, as a sampling loop does (classifier gradients must still work).
NO_GRAD = "def _no_grad(f, *args):\n    with torch.no_grad():\n        return f(*args)\n"

# Measured errors of correct answers written otherwise (cond + (s - 1)(cond - uncond), (1 - s) uncond + s cond,
# cross-entropy or gather for the log-probability, sigma in float64): guided outputs <= 3.8e-6 absolute at |s| <= 7
# (tolerance 2e-5 + 1e-4 |x|), classifier gradients identical (1e-6), guided epsilons <= 1.2e-7 (1e-5). The bank's
# bugs differ by >= 0.8 (CFG), >= 3.7e-2 (gradients) and >= 6e-5 (alphabar_{t-1} in the guided epsilon, s = 1).
CHECKS = {
    "test_drop_labels": [
        Case(
            setup=f"y = torch.randint(0, {null}, ({n},), generator=torch.Generator().manual_seed({seed}))",
            student=f"drop_labels(y.clone(), {p}, {null}, generator=torch.Generator().manual_seed({seed + 100}))",
            reference=(
                f"ref_guidance.drop_labels(y, {p}, {null}, generator=torch.Generator().manual_seed({seed + 100}))"
            ),
            compare=tensor_equal(dtype=torch.int64),
            message="labels dropped with the given generator: one uniform draw per label, dropped when below p_uncond",
        )
        for n, p, null, seed in [(50, 0.1, 10, 1), (1000, 0.5, 4, 2), (7, 0.3, 2, 3), (300, 0.8, 5, 4)]
    ]
    + [
        Case(
            setup="y = torch.randint(0, 3, (200,), generator=torch.Generator().manual_seed(5))\ny_before = y.clone()",
            student="(drop_labels(y, 0.5, 3, generator=torch.Generator().manual_seed(6)), y)[1]",
            reference="y_before",
            compare=tensor_equal(),
            message="the input labels are left unchanged",
        ),
    ],
    "test_classifier_free_guidance": [
        Case(
            setup=(
                NO_GRAD + f"g = torch.Generator().manual_seed({seed})\n"
                f"model = ToyConditionalDenoiser({channels}, {classes}, seed={classes})\n"
                f"x = torch.randn(5, {channels}, 6, 6, generator=g)\n"
                "t = torch.randint(0, 1000, (5,), generator=g)\n"
                f"y = torch.randint(0, {classes}, (5,), generator=g)"
            ),
            student=f"_no_grad(classifier_free_guidance, model, x.clone(), t.clone(), y.clone(), {s}, {classes})",
            reference=f"_no_grad(ref_guidance.classifier_free_guidance, model, x, t, y, {s}, {classes})",
            compare=tensor_close(1e-4, 2e-5),
            message="guided output for another model, batch and guidance scale (negative and fractional scales too)",
        )
        for seed, channels, classes, s in [(30, 1, 3, 2.5), (31, 2, 5, 7.0), (32, 1, 2, -1.0), (33, 3, 4, 0.5)]
    ],
    "test_classifier_gradient": [
        Case(
            setup=(
                NO_GRAD + f"g = torch.Generator().manual_seed({seed})\n"
                f"classifier = ToyNoisyClassifier({channels}, {classes}, seed={classes})\n"
                f"x = torch.randn(4, {channels}, 7, 7, generator=g)\n"
                "t = torch.randint(0, 1000, (4,), generator=g)\n"
                f"y = torch.randint(0, {classes}, (4,), generator=g)"
            ),
            student="_no_grad(classifier_gradient, classifier, x.clone(), t.clone(), y.clone())",
            reference="ref_guidance.classifier_gradient(classifier, x, t, y)",
            compare=tensor_close(1e-4, 1e-6),
            message="gradient of log p(y | x_t) for another classifier and batch, called under torch.no_grad()",
        )
        for seed, channels, classes in [(40, 1, 3), (41, 2, 4), (42, 3, 6)]
    ],
    "test_classifier_guided_epsilon": [
        Case(
            setup=(
                NO_GRAD + f"g = torch.Generator().manual_seed({seed})\n"
                f"model = ToyConditionalDenoiser({channels}, {classes}, seed=1)\n"
                f"classifier = ToyNoisyClassifier({channels}, {classes}, seed=2)\n"
                f"x = torch.randn(4, {channels}, 6, 6, generator=g)\n"
                "t = torch.randint(0, 1000, (4,), generator=g)\n"
                "t[0] = 0\n"
                f"y = torch.randint(0, {classes}, (4,), generator=g)"
            ),
            given={"ab": "NoiseSchedule.from_name('cosine', 1000).alphas_cumprod"},
            student=(
                "_no_grad(classifier_guided_epsilon, model, classifier, x.clone(), t.clone(), y.clone(), "
                f"ab.clone(), {s})"
            ),
            reference=f"_no_grad(ref_guidance.ClassifierGuidedModel(model, classifier, ab, {s}), x, t, y)",
            compare=tensor_close(1e-4, 1e-5),
            message="guided noise prediction with a cosine schedule and another guidance scale, t = 0 included",
        )
        for seed, channels, classes, s in [(50, 1, 3, 1.0), (51, 2, 4, 10.0), (52, 1, 5, 3.0)]
    ],
}


# Shown to the student under a test cell whose hidden checks fail: where to look, never an input.
HINTS = {
    "test_drop_labels": (
        "Draw one uniform number per label from the given generator, replace the dropped labels by the null "
        "label, and leave the input unchanged."
    ),
    "test_classifier_free_guidance": (
        "Mix the conditional and unconditional predictions with the guidance scale as in Ho & Salimans (2022); "
        "negative and fractional scales are allowed."
    ),
    "test_classifier_gradient": (
        "Compute the gradient of the log-probability of the given labels with respect to x_t, even when called "
        "under torch.no_grad()."
    ),
    "test_classifier_guided_epsilon": (
        "Shift epsilon by the classifier gradient scaled with sqrt(1 - alphabar) (Dhariwal & Nichol 2021); "
        "check t = 0 too."
    ),
}
