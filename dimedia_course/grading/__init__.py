"""Autograded exercises (nbgrader 0.9.6) that hold against dishonest and careless submissions.

Command line (run from anywhere; the course root defaults to the repository)::

    python -m dimedia_course.grading release                # solutions/ -> exercises/ (notebooks only)
    python -m dimedia_course.grading check                  # is exercises/ up to date and free of answers?
    python -m dimedia_course.grading autograde SUBMISSIONS  # SUBMISSIONS/<student>/<assignment>/<nb>.ipynb
    python -m dimedia_course.grading export --to grades.csv
    python -m dimedia_course.grading feedback               # HTML feedback in feedback/<student>/<assignment>/
    python -m dimedia_course.grading bundle                 # what students get: notebooks, wheel, requirements

One module per job:

- :mod:`~dimedia_course.grading.settings`  the one source of nbgrader settings, and how nbgrader is called
- :mod:`~dimedia_course.grading.release`   release and check (leaks, stray files)
- :mod:`~dimedia_course.grading.checks`    hidden checks as data, judged in the grader (trusted side)
- :mod:`~dimedia_course.grading.sandbox`   the sandbox of a student kernel (bubblewrap; fallbacks)
- :mod:`~dimedia_course.grading.worker`    runs one notebook in a sandboxed kernel and collects values
- :mod:`~dimedia_course.grading.autograde` parallel grading, gradebook, autograded notebooks, logs
- :mod:`~dimedia_course.grading.feedback`  CSV export and HTML feedback
- :mod:`~dimedia_course.grading.bundle`    the student bundle

The threat model and what is protected are in the instructor guide (``book/instructors.md``).
"""

from __future__ import annotations

from dimedia_course.grading.autograde import GradingResult, autograde
from dimedia_course.grading.cli import main
from dimedia_course.grading.feedback import export_grades, generate_feedback
from dimedia_course.grading.release import LEAK_MARKERS, check_release, find_leaks, list_assignments, release
from dimedia_course.grading.settings import COURSE_ROOT, nbgrader_settings

__all__ = [
    "COURSE_ROOT",
    "LEAK_MARKERS",
    "GradingResult",
    "autograde",
    "check_release",
    "export_grades",
    "find_leaks",
    "generate_feedback",
    "list_assignments",
    "main",
    "nbgrader_settings",
    "release",
]
