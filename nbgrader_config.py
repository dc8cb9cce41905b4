"""nbgrader configuration of the DiMEDIA course (nbgrader 0.9.6).

Layout (relative to this file, the course root):

- ``solutions/<assignment>/<notebook>.ipynb``  nbgrader *source*: solutions and hidden tests (instructors only)
- ``exercises/<assignment>/<notebook>.ipynb``  nbgrader *release*: what students get (generated, never edited)
- ``submitted/``, ``autograded/``, ``feedback/``, ``gradebook.db``  instructor state (git-ignored)

Prefer the wrapper ``python -m dimedia_course.grading {release,check,autograde,export,feedback}``, which
passes the same settings explicitly (see :func:`dimedia_course.grading.nbgrader_settings`); plain
``nbgrader ...`` commands run from the course root pick up this file.
"""

import os

c = get_config()  # noqa: F821  (injected by traitlets when nbgrader loads this file)

ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "dimedia"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "gradebook.db")
# Only notebooks and small data files belong to an assignment.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# Execution of student notebooks: every cell must finish within the timeout (an infinite loop is
# interrupted and the cell scores zero; the rest of the notebook still runs).
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
c.Execute.kernel_name = "python3"
c.Execute.execute_retries = 0
c.ExecutePreprocessor.timeout = 60
c.ExecutePreprocessor.kernel_name = "python3"

# A student who deletes a test cell gets it back (and is graded by it).
c.OverwriteCells.add_missing_cells = True

# Huge outputs are truncated before they reach the gradebook or the feedback.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 50

# The release must never contain solutions or hidden tests.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearHiddenTests.enforce_metadata = True
c.ClearOutput.remove_metadata_fields = ["collapsed", "scrolled", "execution"]

# Feedback shows scores and error messages but never the hidden tests (see dimedia_course.grading).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "dimedia_course.grading.FeedbackSanitizer",
]
