"""Figures of the reveal.js slide decks, drawn by the package when the course is built.

``write_slide_figures(out_dir, applications_figures)`` writes small PNGs (dpi 100; about 11 s on one CPU
thread, no training, no pretrained network) into a git-ignored folder next to the decks (``book/slides/_figures``).
Each deck's figures live in the module of its name, whose ``figures(out)`` draws them and returns their paths:

- :mod:`.intro`: the ISBI 2024 schedule, three views of the MNI152 template, data vs model samples of a 2D mixture, a
  schematic of the generative families, explicit density vs samples, a 1D flow as a change of variables;
- :mod:`.ddpm`: noise schedules, the forward process on brain slices, training slices, exact noisy marginals,
  posterior coefficients and variances, reverse-process marginals and 2D snapshots, the bound's weights, the three
  targets;
- :mod:`.understanding`: score and Langevin dynamics (plain and annealed), score fields, DSM targets, Tweedie's
  denoiser, forward SDE paths, VP vs VE scales, reverse SDE vs probability-flow ODE, the ODE's noise-to-data map;
- :mod:`.sampling`: DDPM vs DDIM paths, eta 0 vs 1, timestep spacings, the DDIM inversion round trip, error vs steps;
- :mod:`.flow_matching`: straight path on a slice, conditional vs marginal paths, CFM targets, few-step error and the
  resolution shift, the path coefficients of VP and rectified flow;
- :mod:`.conditioning`: class-conditional samples, the classifier-guidance gradient, classifier-free guidance, data
  consistency and posterior sampling on a 2D mixture, the guidance record of the shipped checkpoint;
- :mod:`.architectures`: the sinusoidal timestep embedding, a slice cut into transformer patches, sampling cost
  records;
- :mod:`.applications`: the two classes of the CFG data, MRI undersampling, one data-consistency step, sparse-view
  CT, synthetic lesions, and copies of the applications benchmark's example figures
  (``figures(out, applications_figures)``);
- :mod:`.limitations`: compute, a 3D volume as a stack of slices, memorisation and quality against the real-vs-real
  floor.

The helpers that several decks share (saving a figure, the toy mixtures and samplers, grids and densities, the
central slice, tick helpers, the checkpoint records) are public in :mod:`.common`; a helper of one deck stays private
in that deck's module. The deck modules are imported when the figures are drawn, so importing this package is cheap.

Every quantity comes from the package: the exact toy models (:mod:`dimedia_course.toy`), schedules, schedulers and
the one sampling loop, data slices, and the measured records of the shipped checkpoints
(``dimedia_course/checkpoints/*.json``). These modules only draw.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_slide_figures"]


def write_slide_figures(out_dir, applications_figures=None) -> list[Path]:
    """Draw the slide figures into ``out_dir`` (one module per deck) and return their paths; the PNGs of
    ``applications_figures`` (the applications benchmark's figures) are copied as ``applications_<name>.png``."""
    import matplotlib

    matplotlib.use("Agg")

    from dimedia_course.course.slide_figures import (
        applications,
        architectures,
        conditioning,
        ddpm,
        flow_matching,
        intro,
        limitations,
        sampling,
        understanding,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for deck in (intro, ddpm, understanding, sampling, flow_matching, conditioning, architectures, limitations):
        written += deck.figures(out)
    written += applications.figures(out, applications_figures)
    return written
