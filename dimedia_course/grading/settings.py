"""The one source of nbgrader settings of the course, and how nbgrader is called.

``nbgrader_config.py`` at the course root applies :data:`SETTINGS` to nbgrader's config object (for plain
``nbgrader ...`` commands); the course's own commands pass the same settings on the command line
(:func:`nbgrader_settings`). Change a setting here and both follow.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "COURSE_ID",
    "COURSE_ROOT",
    "RELEASE_DIR",
    "SETTINGS",
    "SOURCE_DIR",
    "NbgraderRun",
    "apply_settings",
    "nbgrader_settings",
    "run_nbgrader",
]

COURSE_ROOT = Path(__file__).resolve().parents[2]
COURSE_ID = "dimedia"
SOURCE_DIR = "solutions"
RELEASE_DIR = "exercises"

# (class, trait) -> value. Paths (root, database) are added per call.
SETTINGS = {
    ("CourseDirectory", "course_id"): COURSE_ID,
    ("CourseDirectory", "source_directory"): SOURCE_DIR,
    ("CourseDirectory", "release_directory"): RELEASE_DIR,
    ("CourseDirectory", "submitted_directory"): "submitted",
    ("CourseDirectory", "autograded_directory"): "autograded",
    ("CourseDirectory", "feedback_directory"): "feedback",
    # Only notebooks are released (a stray file in solutions/ may be an answer key).
    ("CourseDirectory", "ignore"): [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*", "*.py"],
    ("Execute", "timeout"): 60,
    ("Execute", "interrupt_on_timeout"): True,
    ("Execute", "kernel_name"): "python3",
    ("Execute", "execute_retries"): 0,
    ("ExecutePreprocessor", "timeout"): 60,
    ("ExecutePreprocessor", "kernel_name"): "python3",
    ("OverwriteCells", "add_missing_cells"): True,
    ("LimitOutput", "max_lines"): 200,
    ("LimitOutput", "max_traceback"): 50,
    ("ClearSolutions", "code_stub"): {"python": "# YOUR CODE HERE\nraise NotImplementedError()"},
    ("ClearHiddenTests", "enforce_metadata"): True,
    ("ClearOutput", "remove_metadata_fields"): ["collapsed", "scrolled", "execution"],
    # feedback: grades, then student content sanitised (nh3), then nbconvert's CSS
    ("GenerateFeedback", "preprocessors"): [
        "nbgrader.preprocessors.GetGrades",
        "dimedia_course.grading.safe_html.SanitizeStudentContent",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    ],
}


def _db_url(root: Path) -> str:
    return "sqlite:///" + str(Path(root) / "gradebook.db")


def apply_settings(c, root) -> None:
    """Set :data:`SETTINGS` (and the course root and gradebook) on an nbgrader config object ``c``."""
    root = Path(root).resolve()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.db_url = _db_url(root)
    for (klass, trait), value in SETTINGS.items():
        setattr(getattr(c, klass), trait, value)


def nbgrader_settings(root=COURSE_ROOT, *, db_url=None, release_directory=None, timeout=None) -> list[str]:
    """:data:`SETTINGS` as nbgrader command-line options (the same as ``nbgrader_config.py``)."""
    root = Path(root).resolve()
    values = dict(SETTINGS)
    if release_directory is not None:
        values[("CourseDirectory", "release_directory")] = str(release_directory)
    if timeout is not None:
        values[("Execute", "timeout")] = values[("ExecutePreprocessor", "timeout")] = int(timeout)
    args = [f"--CourseDirectory.root={root}", f"--CourseDirectory.db_url={db_url or _db_url(root)}"]
    for (klass, trait), value in values.items():
        if isinstance(value, (list, dict)):
            continue  # containers are set through the config file written by run_nbgrader
        args.append(f"--{klass}.{trait}={value}")
    return args


@dataclass
class NbgraderRun:
    returncode: int
    output: str
    timed_out: bool = False
    seconds: float = 0.0


def run_nbgrader(args, settings, *, cwd, timeout=None) -> NbgraderRun:
    """Run ``python -m nbgrader ARGS SETTINGS`` in its own process group, killed as a whole after ``timeout``
    seconds. Output goes to a file, not a pipe (a child that keeps a pipe open cannot stall the caller).
    Container settings (lists, dicts) reach nbgrader through a generated config file."""
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    env["PYTHONWARNINGS"] = "ignore"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    with tempfile.TemporaryDirectory(prefix="dimedia-nbgrader-") as tmp:
        config = Path(tmp) / "nbgrader_config.py"
        lines = ["c = get_config()  # noqa: F821"]
        lines += [f"c.{k}.{t} = {v!r}" for (k, t), v in SETTINGS.items() if isinstance(v, (list, dict))]
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        env["JUPYTER_CONFIG_PATH"] = tmp
        log_path = Path(tmp) / "output.txt"
        start = time.monotonic()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "nbgrader", *args, *settings],
                cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            )  # fmt: skip
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        output = log_path.read_text(encoding="utf-8", errors="replace")[-100_000:]
    return NbgraderRun(-9 if timed_out else proc.returncode, output, timed_out, time.monotonic() - start)
