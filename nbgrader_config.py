"""nbgrader configuration of the DiMEDIA course (nbgrader 0.9.6), for plain ``nbgrader ...`` commands run
from the course root.

Layout (relative to this file, the course root):

- ``solutions/<assignment>/<notebook>.ipynb``  nbgrader *source* (instructors only), with ``grader_checks.py``
- ``exercises/<assignment>/<notebook>.ipynb``  nbgrader *release*: what students get (generated, never edited)
- ``submitted/``, ``autograded/``, ``feedback/``, ``gradebook.db``  instructor state (git-ignored)

The settings live in one place, :data:`dimedia_course.grading.settings.SETTINGS`; the course's commands
``python -m dimedia_course.grading {release,check,autograde,export,feedback,bundle}`` use the same values.
Grade with ``python -m dimedia_course.grading autograde`` (sandboxed kernels, grader-side checks), never
with ``nbgrader autograde``, which runs student code with your rights.
"""

import os

from dimedia_course.grading.settings import apply_settings

apply_settings(get_config(), os.path.dirname(os.path.abspath(__file__)))  # noqa: F821 (injected by traitlets)
