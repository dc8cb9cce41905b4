"""Grades out of nbgrader's gradebook: CSV export and HTML feedback.

Feedback is made from the autograded notebooks written by :mod:`dimedia_course.grading.autograde`: the
student's own cells and outputs, the release's test cells, and for each test cell "Hidden checks passed"
or what failed. The checks themselves (inputs, expected values, reference code) exist only in the grader's
process and in ``solutions/``, so no feedback can contain them.
"""

from __future__ import annotations

from pathlib import Path

from dimedia_course.grading.release import select_assignments
from dimedia_course.grading.settings import COURSE_ROOT, nbgrader_settings, run_nbgrader

__all__ = ["export_grades", "generate_feedback"]


def export_grades(to="grades.csv", *, root=COURSE_ROOT, db_url=None) -> Path:
    """Write the gradebook as CSV: one row per student and assignment, every cell quoted and safe to open
    in a spreadsheet (:func:`~dimedia_course.grading.messages.csv_cell`). Work never handed in has the status
    "not submitted" and an empty score (not 0); ``timestamp`` is when it was handed in (UTC)."""
    import csv
    import warnings

    from nbgrader.api import Gradebook, MissingEntry

    from dimedia_course.grading.messages import CSV_COLUMNS, NOT_SUBMITTED, csv_cell
    from dimedia_course.grading.settings import COURSE_ID

    root = Path(root).resolve()
    to = Path(to)
    to = to if to.is_absolute() else Path.cwd() / to
    db_url = db_url or "sqlite:///" + str(root / "gradebook.db")
    if db_url.startswith("sqlite:///") and not Path(db_url.removeprefix("sqlite:///")).is_file():
        raise ValueError(f"--db: no gradebook at {db_url.removeprefix('sqlite:///')} (grade something first)")
    rows = []
    with warnings.catch_warnings(), Gradebook(db_url, COURSE_ID) as gb:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy session warnings
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            for student in sorted(gb.students, key=lambda s: s.id):
                try:
                    sub = gb.find_submission(assignment.name, student.id)
                except MissingEntry:
                    rows.append([student.id, assignment.name, NOT_SUBMITTED, "", "", assignment.max_score])
                    continue
                stamp = sub.timestamp.isoformat(sep=" ") + " UTC" if sub.timestamp else ""
                rows.append([student.id, assignment.name, "graded", stamp, sub.score, sub.max_score])
    partial = to.with_name(to.name + ".partial")
    with open(partial, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL)
        writer.writerow(CSV_COLUMNS)
        writer.writerows([[csv_cell(value) for value in row] for row in rows])
    partial.replace(to)
    return to


def generate_feedback(assignments=None, *, root=COURSE_ROOT, db_url=None) -> Path:
    """HTML feedback for every autograded submission: ``feedback/<student>/<assignment>/<nb>.html``."""
    from dimedia_course.grading.safe_html import localise_page

    root = Path(root).resolve()
    settings = nbgrader_settings(root, db_url=db_url)
    for assignment in select_assignments(assignments, root):
        if not any((root / "autograded").glob(f"*/{assignment}")):
            continue
        run = run_nbgrader(["generate_feedback", assignment, "--force"], settings, cwd=root, timeout=1800)
        if run.returncode != 0:
            raise RuntimeError(f"nbgrader generate_feedback {assignment} failed:\n{run.output[-5000:]}")
        for page in (root / "feedback").glob(f"*/{assignment}/*.html"):
            localise_page(page)  # no script from the internet; MathJax beside the page
    return root / "feedback"
