"""Sample quality per CPU-minute of the samplers, side by side, on a shipped checkpoint.

Usage::

    python -m dimedia_course.course.benchmarks.samplers [--checkpoint cpu_ddpm_axial] [--n 64]
        [--samplers ddpm1000 ddim50 ddim25 ddim10] [--threads N] [--seed 0] [--out DIR]

Loads the checkpoint with :func:`dimedia_course.pretrained.load_pretrained`, draws ``--n`` samples with each
sampler (DDPM ancestral sampling over all 1000 steps, Ho et al. 2020 Alg. 2; deterministic DDIM, Song et al.
2021 Eq. 12 with eta = 0, at 50 / 25 / 10 steps), all from the same seed, and measures every set with
:func:`dimedia_course.metrics.sample_quality` against the same real sets of
:func:`dimedia_course.pretrained.real_reference_sets`. The real-vs-real floor is therefore the same for every
row: ``n`` real slices (spread over every slice position) measured exactly like the samples. The cost of a row
is the CPU time of the sampling process (``time.process_time``, all threads together) and its wall clock.

The table prints steps, CPU seconds, samples per CPU-minute, MMD / floor, precision and recall (each with its
floor); ``--out`` writes ``samplers.json``. One run on one machine: a measurement, not a test (with 64 samples
the MMD ratio moves by tens of percent between seeds).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from dimedia_course.course.benchmarks.networks import machine

__all__ = ["SAMPLERS", "run", "format_table", "format_html", "main"]

# name: (scheduler, number of sampling steps, or None for every training step)
SAMPLERS = {"ddpm1000": ("DDPM", None), "ddim50": ("DDIM", 50), "ddim25": ("DDIM", 25), "ddim10": ("DDIM", 10)}


def run(checkpoint: str = "cpu_ddpm_axial", n: int = 64, samplers=tuple(SAMPLERS), seed: int = 0) -> dict:
    """Measure every sampler in ``samplers`` on ``n`` samples of the shipped ``checkpoint``."""
    from dimedia_course import make_generator
    from dimedia_course.metrics import sample_quality
    from dimedia_course.pretrained import load_pretrained, real_reference_sets
    from dimedia_course.sampling import sample
    from dimedia_course.schedulers import DDIMScheduler, DDPMScheduler

    unknown = [s for s in samplers if s not in SAMPLERS]
    if unknown:
        raise ValueError(f"samplers: unknown {unknown}; expected some of {list(SAMPLERS)}")
    if n < 8:
        raise ValueError(f"n: expected at least 8 samples (k-NN precision/recall with k=3), got {n}")
    loaded = load_pretrained(checkpoint)
    model, cfg = loaded["model"], loaded["config"]
    real = real_reference_sets(cfg, n)
    s = cfg.schedule
    rows = []
    for name in samplers:
        kind, steps = SAMPLERS[name]
        cls = DDPMScheduler if kind == "DDPM" else DDIMScheduler
        scheduler = cls(s.num_train_timesteps, s.schedule, prediction_type=s.prediction_type)
        cpu, wall = time.process_time(), time.perf_counter()
        with torch.no_grad():
            x = sample(
                model,
                scheduler,
                (n, 1, cfg.data.size, cfg.data.size),
                num_inference_steps=steps,
                generator=make_generator(seed),
            )
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        quality = sample_quality(x, real["train"], real["held_out"], real["reference"])
        rows.append(
            {
                "sampler": name,
                "steps": steps or s.num_train_timesteps,
                "n": n,
                "cpu_seconds": round(cpu, 2),
                "wall_seconds": round(wall, 2),
                "samples_per_cpu_minute": round(60 * n / max(cpu, 1e-9), 1),
            }
            | {k: round(v, 6) for k, v in quality.items()}
        )
    return {"checkpoint": checkpoint, "machine": machine(), "seed": seed, "rows": rows}


_COLUMNS = (
    "sampler",
    "steps",
    "CPU s",
    "samples / CPU-min",
    "MMD (floor)",
    "MMD / floor",
    "precision (floor)",
    "recall (floor)",
)


def _cells(r: dict) -> list[str]:
    return [
        r["sampler"],
        str(r["steps"]),
        f"{r['cpu_seconds']:.1f}",
        f"{r['samples_per_cpu_minute']:.0f}",
        f"{1e3 * r['mmd']:.2f}e-3 ({1e3 * r['mmd_floor']:.2f}e-3)",
        f"{r['mmd_ratio']:.1f}",
        f"{r['precision']:.2f} ({r['precision_floor']:.2f})",
        f"{r['recall']:.2f} ({r['recall_floor']:.2f})",
    ]


def format_table(result: dict) -> str:
    """The rows as a Markdown table (for the terminal)."""
    lines = ["| " + " | ".join(_COLUMNS) + " |", "| --- |" + " ---: |" * (len(_COLUMNS) - 1)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in result["rows"]]
    return "\n".join(lines)


def format_html(result: dict) -> str:
    """The rows as an HTML table (myst-nb renders a Markdown output without tables)."""
    head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in _cells(r)) + "</tr>" for r in result["rows"])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="cpu_ddpm_axial", help="shipped checkpoint name")
    parser.add_argument("--n", type=int, default=64, help="samples per sampler (and real slices of the floor)")
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=list(SAMPLERS))
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling noise")
    parser.add_argument("--out", type=Path, default=None, help="write samplers.json here")
    args = parser.parse_args(argv)
    if args.n < 8:
        parser.error("--n must be >= 8")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    result = run(args.checkpoint, n=args.n, samplers=args.samplers, seed=args.seed)
    print(f"Samplers on {args.checkpoint}, {args.n} samples each, on {result['machine']}")
    print(format_table(result))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "samplers.json").write_text(json.dumps(result, indent=1))
        print(f"wrote {args.out / 'samplers.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
