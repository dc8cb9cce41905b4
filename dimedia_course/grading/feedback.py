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

FEEDBACK_PREPROCESSORS = (
    "nbgrader.preprocessors.GetGrades",
    "dimedia_course.grading.safe_html.SanitizeStudentContent",  # student markdown and outputs: nh3
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
)


def export_grades(to="grades.csv", *, root=COURSE_ROOT, db_url=None) -> Path:
    """Write the gradebook as CSV (one row per student and assignment; nbgrader's CSV exporter)."""
    root = Path(root).resolve()
    to = Path(to)
    to = to if to.is_absolute() else Path.cwd() / to
    run = run_nbgrader(["export", f"--to={to}"], nbgrader_settings(root, db_url=db_url), cwd=root, timeout=600)
    if run.returncode != 0 or not to.exists():
        raise RuntimeError(f"nbgrader export failed:\n{run.output[-5000:]}")
    return to


def generate_feedback(assignments=None, *, root=COURSE_ROOT, db_url=None) -> Path:
    """HTML feedback for every autograded submission: ``feedback/<student>/<assignment>/<nb>.html``."""
    from dimedia_course.grading.safe_html import localise_page

    root = Path(root).resolve()
    settings = nbgrader_settings(root, db_url=db_url)
    settings += [f"--GenerateFeedback.preprocessors={p}" for p in FEEDBACK_PREPROCESSORS]
    for assignment in select_assignments(assignments, root):
        if not any((root / "autograded").glob(f"*/{assignment}")):
            continue
        run = run_nbgrader(["generate_feedback", assignment, "--force"], settings, cwd=root, timeout=1800)
        if run.returncode != 0:
            raise RuntimeError(f"nbgrader generate_feedback {assignment} failed:\n{run.output[-5000:]}")
        for page in (root / "feedback").glob(f"*/{assignment}/*.html"):
            localise_page(page)  # no script from the internet; MathJax beside the page
    return root / "feedback"
