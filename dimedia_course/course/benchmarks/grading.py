"""Grading throughput: sandboxed autograding of typical submissions, next to plain ``nbgrader autograde``.

Usage::

    python -m dimedia_course.course.benchmarks.grading [--copies 4] [--workers N] [--no-baseline] [--out DIR]

Builds a throw-away course with ``copies`` students per assignment, each handing in the instructor solution of
all six assignments (a typical, complete notebook), grades them once with
:func:`dimedia_course.grading.autograde` (sandboxed kernels, grader-side checks, ``workers`` in parallel) and,
unless ``--no-baseline``, once with nbgrader's own ``nbgrader autograde`` (one call per assignment, in turn,
a kernel per notebook, no sandbox, visible tests only), and prints submissions per minute for both and their ratio
(ours once at steady state and once with its one-time set-up: release, expected values, package stubs). The target is
at least 20 submissions per minute on 2 cores. A speed check, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from dimedia_course.course.benchmarks.networks import machine
from dimedia_course.grading.cells import grade_id, is_answer

__all__ = ["main", "run", "solved_notebook"]


def solved_notebook(root: Path, assignment: str):
    """``(name, notebook)``: the release notebook of ``assignment`` with every answer cell filled in from the
    instructor solution (what a good student hands in)."""
    import nbformat

    name = next((root / "exercises" / assignment).glob("*.ipynb")).name
    answers = {}
    for cell in nbformat.read(str(root / "solutions" / assignment / name), as_version=4).cells:
        if is_answer(cell):
            answers[grade_id(cell)] = "\n".join(ln for ln in cell.source.splitlines() if "SOLUTION" not in ln)
    nb = nbformat.read(str(root / "exercises" / assignment / name), as_version=4)
    for cell in nb.cells:
        if is_answer(cell):
            cell.source = answers[grade_id(cell)]
    return name, nb


def run(copies: int = 4, workers: int | None = None, baseline: bool = True) -> dict:
    import nbformat

    from dimedia_course.grading import COURSE_ROOT, autograde, list_assignments
    from dimedia_course.grading.settings import nbgrader_settings, run_nbgrader

    if not isinstance(copies, int) or copies <= 0:
        raise ValueError(f"copies: expected a positive integer, got {copies!r}")
    root = COURSE_ROOT
    assignments = list_assignments(root)
    with tempfile.TemporaryDirectory(prefix="dimedia-bench-grading-") as tmp:
        tmp = Path(tmp)
        course = tmp / "course"
        shutil.copytree(root / "solutions", course / "solutions")
        shutil.copytree(root / "exercises", course / "exercises")
        subs = tmp / "submissions"
        for assignment in assignments:
            name, nb = solved_notebook(root, assignment)
            for k in range(copies):
                folder = subs / f"student{k:02d}" / assignment
                folder.mkdir(parents=True)
                nbformat.write(nb, str(folder / name))
        n = copies * len(assignments)
        start = time.time()
        results = autograde(subs, root=course, workers=workers, verbose=False)
        ours = time.time() - start
        first, last = min(r.started for r in results), max(r.finished for r in results)
        full = sum(r.score == r.max_score for r in results)
        row = {
            "submissions": n,
            "workers": workers or os.cpu_count(),
            "seconds": round(ours, 1),
            "setup_seconds": round(first - start, 1),  # release + expected values + package stubs, once per run
            "grading_seconds": round(last - first, 1),
            "per_minute": round(60 * n / (last - first), 1),
            "per_minute_with_setup": round(60 * n / ours, 1),
            "full_marks": full,
            "mean_seconds_per_submission": round(sum(r.seconds for r in results) / n, 2),
        }
        if baseline:
            # nbgrader's own autograde of the same notebooks (copied to its submitted/ layout), in turn
            base = tmp / "nbgrader"
            shutil.copytree(root / "solutions", base / "solutions")
            shutil.copytree(subs, base / "submitted")
            settings = nbgrader_settings(base)
            for assignment in assignments:  # also registers the assignment in the gradebook
                done = run_nbgrader(["generate_assignment", assignment, "--force"], settings, cwd=base, timeout=600)
                if done.returncode != 0:
                    raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{done.output[-3000:]}")
            start = time.monotonic()
            for assignment in assignments:
                done = run_nbgrader(["autograde", assignment, "--force"], settings, cwd=base, timeout=3600)
                if done.returncode != 0:
                    raise RuntimeError(f"nbgrader autograde {assignment} failed:\n{done.output[-3000:]}")
            theirs = time.monotonic() - start
            graded = len(list((base / "autograded").glob("*/*/*.ipynb")))
            if graded != n:
                raise RuntimeError(f"nbgrader autograded {graded} of {n} notebooks")
            row["nbgrader_seconds"] = round(theirs, 1)
            row["nbgrader_per_minute"] = round(60 * n / theirs, 1)
    return {"machine": machine(), "grading": row}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=4, help="students per assignment (default 4)")
    parser.add_argument("--workers", type=int, default=None, help="default: CPU cores")
    parser.add_argument("--no-baseline", action="store_true", help="skip plain nbgrader autograde")
    parser.add_argument("--out", type=Path, default=None, help="write grading.json here")
    args = parser.parse_args(argv)
    result = run(args.copies, args.workers, baseline=not args.no_baseline)
    row = result["grading"]
    print(f"machine: {result['machine']}")
    print(f"{'':34}{'submissions/min':>16}{'seconds':>10}")
    label = f"course (sandboxed, {row['workers']} workers)"
    print(f"{label:34}{row['per_minute']:>16}{row['grading_seconds']:>10}")
    print(f"{'  ... with the one-time set-up':34}{row['per_minute_with_setup']:>16}{row['seconds']:>10}")
    if "nbgrader_per_minute" in row:
        print(f"{'nbgrader autograde (no sandbox)':34}{row['nbgrader_per_minute']:>16}{row['nbgrader_seconds']:>10}")
        print(f"ratio course / nbgrader: {row['per_minute'] / row['nbgrader_per_minute']:.2f}")
    print(f"{row['full_marks']} / {row['submissions']} submissions got full marks (target: all; >= 20 per minute)")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "grading.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
        print(f"wrote {args.out / 'grading.json'}")
    return 0 if row["full_marks"] == row["submissions"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
