"""Command line of the grading tools: ``python -m dimedia_course.grading COMMAND`` (see ``--help``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dimedia_course.grading.autograde import autograde
from dimedia_course.grading.feedback import export_grades, generate_feedback
from dimedia_course.grading.messages import one_line
from dimedia_course.grading.release import check_release, list_assignments, release
from dimedia_course.grading.sandbox import ISOLATIONS
from dimedia_course.grading.settings import COURSE_ROOT, RELEASE_DIR, SOURCE_DIR

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dimedia_course.grading", description="Instructor commands for the autograded exercises."
    )
    parser.add_argument("--root", default=str(COURSE_ROOT), help="course root (holds solutions/, exercises/)")
    parser.add_argument("--db", default=None, help="gradebook URL (default: sqlite:///<root>/gradebook.db)")
    parser.add_argument("--traceback", action="store_true", help="show the full error instead of one line")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("release", help="generate exercises/ from solutions/")
    p.add_argument("assignments", nargs="*")
    sub.add_parser("check", help="fail if exercises/ is not what `release` would generate")
    p = sub.add_parser("autograde", help="grade a folder <student>/<assignment>/<notebook>.ipynb")
    p.add_argument("submissions")
    p.add_argument("--assignment", action="append", dest="assignments")
    p.add_argument("--timeout", type=int, default=60, help="seconds per cell (default 60)")
    p.add_argument("--time-limit", type=int, default=None, help="seconds per student and assignment")
    p.add_argument("--workers", type=int, default=None, help="submissions graded at once (default: CPU cores)")
    p.add_argument("--isolation", choices=ISOLATIONS, default=None, help="default: the strongest available")
    p = sub.add_parser("export", help="write grades as CSV")
    p.add_argument("--to", default="grades.csv")
    p = sub.add_parser("feedback", help="write HTML feedback to feedback/")
    p.add_argument("assignments", nargs="*")
    p = sub.add_parser("bundle", help="write the student bundle (release notebooks, package wheel, requirements)")
    p.add_argument("--out", default="dist", help="folder for dimedia-student-bundle.zip (default: dist)")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (ValueError, RuntimeError, OSError, KeyError) as err:
        if args.traceback:
            raise
        print(one_line(err), file=sys.stderr)
        return 1


def _run(args) -> int:
    root = Path(args.root)
    if args.command == "release":
        out = release(args.assignments or None, root=root)
        print(f"released {', '.join(args.assignments or list_assignments(root))} -> {out}")
    elif args.command == "check":
        problems = check_release(root)
        for problem in problems:
            print(problem)
        if problems:
            print("run `python -m dimedia_course.grading release` and commit exercises/")
            return 1
        print(f"{RELEASE_DIR}/ is up to date with {SOURCE_DIR}/")
    elif args.command == "autograde":
        results = autograde(
            args.submissions,
            root=root,
            assignments=args.assignments,
            timeout=args.timeout,
            time_limit=args.time_limit,
            db_url=args.db,
            workers=args.workers,
            isolation=args.isolation,
        )
        print(f"graded {len(results)} submission(s); logs in {root / 'autograded'}/<student>/<assignment>.log")
        return 0 if all(r.ok for r in results) else 2
    elif args.command == "export":
        print(f"grades written to {export_grades(args.to, root=root, db_url=args.db)}")
    elif args.command == "feedback":
        print(f"feedback written to {generate_feedback(args.assignments or None, root=root, db_url=args.db)}")
    elif args.command == "bundle":
        from dimedia_course.grading.bundle import write_bundle

        print(f"student bundle written to {write_bundle(args.out, root=root)}")
    return 0
