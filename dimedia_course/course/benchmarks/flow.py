"""Flow matching vs DDPM at the same CPU budget: the shipped ``cpu_rflow_axial`` (rectified flow, Euler steps)
against the shipped ``cpu_ddpm_axial`` (DDPM loss, DDIM sampling), both sampled at 10 / 25 / 50 steps and
measured with :func:`dimedia_course.metrics.sample_quality` against held-out real slices, with the real-vs-real
floor of each measure (:func:`dimedia_course.pretrained.measure_sampler`)::

    python -m dimedia_course.course.benchmarks.flow --threads 2 --out book/theory/flow_vs_ddim.json

Both networks are the same SmallUNet trained by ``python -m dimedia_course.train`` for 1200 steps at batch 32 on
the same data (their configs differ only in ``schedule``); the records ``dimedia_course/checkpoints/*.json``
give the training times.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

__all__ = ["CONTENDERS", "run_benchmark", "merge_results", "format_table", "main"]

CONTENDERS = {"DDIM (cpu_ddpm_axial)": "cpu_ddpm_axial", "rectified flow (cpu_rflow_axial)": "cpu_rflow_axial"}


def run_benchmark(steps=(10, 25, 50), n: int = 256, seed: int = 0, checkpoints=None) -> dict:
    """Every contender of :data:`CONTENDERS` (or those of ``checkpoints``, names of shipped checkpoints) at
    every step count: ``{"rows": [...], ...}``, one row per (sampler, steps) with the measures of
    :func:`~dimedia_course.pretrained.measure_sampler`."""
    from dimedia_course.pretrained import load_pretrained, measure_sampler, real_reference_sets
    from dimedia_course.train import build_sampling_scheduler

    names = list(CONTENDERS.values()) if checkpoints is None else list(checkpoints)
    unknown = sorted(set(names) - set(CONTENDERS.values()))
    if unknown:
        raise ValueError(f"checkpoints: unknown {unknown}; expected some of {sorted(CONTENDERS.values())}")
    rows, real = [], None
    for label, name in CONTENDERS.items():
        if name not in names:
            continue
        loaded = load_pretrained(name)
        real = real or real_reference_sets(loaded["config"], n)  # both configs share the data section
        scheduler = build_sampling_scheduler(loaded["config"].schedule)
        for k in steps:
            quality = measure_sampler(loaded["model"], scheduler, k, n, real, seed)
            rows.append({"sampler": label, "checkpoint": name, "steps": k, **quality})
    return {
        "rows": rows,
        "n": n,
        "seed": seed,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} CPU thread(s)",
        "torch": torch.__version__,
    }


def merge_results(old: dict, new: dict) -> dict:
    """``new`` with the rows of ``old`` for the checkpoints ``new`` did not measure (same ``n`` and ``seed``
    only), in :data:`CONTENDERS` order: one contender can be re-measured without the other."""
    if (old.get("n"), old.get("seed")) != (new["n"], new["seed"]):
        return new
    done = {r["checkpoint"] for r in new["rows"]}
    rows = [r for r in old.get("rows", []) if r["checkpoint"] not in done] + new["rows"]
    order = list(CONTENDERS.values())
    return new | {"rows": sorted(rows, key=lambda r: (order.index(r["checkpoint"]), r["steps"]))}


def format_table(results: dict) -> str:
    """The rows of :func:`run_benchmark` as a plain-text table: MMD / floor, precision, recall (floors in
    brackets) per sampler and step count."""
    lines = [
        f"n = {results['n']} samples per row vs {results['n']} held-out real slices; seed {results['seed']}; "
        f"{results['machine']}",
        f"{'sampler':<34}{'steps':>6}{'MMD/floor':>11}{'precision':>18}{'recall':>18}{'seconds':>9}",
    ]
    for r in results["rows"]:
        lines.append(
            f"{r['sampler']:<34}{r['steps']:>6}{r['mmd_ratio']:>11.2f}"
            f"{r['precision']:>9.3f} ({r['precision_floor']:.3f}){r['recall']:>9.3f} ({r['recall_floor']:.3f})"
            f"{r['sampling_seconds']:>9}"
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50], help="sampling step counts")
    parser.add_argument("--n", type=int, default=256, help="samples per row (and real slices per set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--checkpoints", nargs="+", default=None, help=f"measure only these of {list(CONTENDERS.values())}"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="write the results as JSON (rows of other checkpoints there are kept)"
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    if args.n < 2 or any(k < 1 for k in args.steps):
        parser.error("--n must be >= 2 and every --steps value >= 1")
    results = run_benchmark(tuple(args.steps), args.n, args.seed, args.checkpoints)
    if args.out is not None and args.out.is_file():
        results = merge_results(json.loads(args.out.read_text()), results)
    print(format_table(results))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwritten to {args.out}")
    return results


if __name__ == "__main__":
    main()
