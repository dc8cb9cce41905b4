"""Instructor commands for the autograded exercises (nbgrader 0.9.6), and a helper for hidden tests.

Command line (run from anywhere; the course root defaults to the repository)::

    python -m dimedia_course.grading release              # solutions/ -> exercises/ (student version)
    python -m dimedia_course.grading check                # is exercises/ up to date and free of answers?
    python -m dimedia_course.grading autograde SUBMISSIONS  # SUBMISSIONS/<student>/<assignment>/<nb>.ipynb
    python -m dimedia_course.grading export --to grades.csv
    python -m dimedia_course.grading feedback             # HTML feedback in feedback/<student>/<assignment>/

Every nbgrader call runs in its own process with explicit settings (:func:`nbgrader_settings`), a
per-cell timeout and a wall-clock limit per student and assignment, so one broken submission (endless
loop, ``sys.exit``, invalid JSON, a renamed notebook, edited or deleted test cells, ...) never stops the
grading of the others. Each student and assignment gets a plain-text log,
``autograded/<student>/<assignment>.log``, that names what was wrong.

Hidden tests compare the student's function with the :mod:`dimedia_course` reference and call it
inside :func:`reference_unavailable`, so that an answer which merely calls the reference fails.
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "COURSE_ROOT",
    "GradingResult",
    "ReferenceUnavailableError",
    "autograde",
    "check_release",
    "export_grades",
    "find_leaks",
    "generate_feedback",
    "list_assignments",
    "main",
    "nbgrader_settings",
    "reference_unavailable",
    "release",
]

COURSE_ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = "solutions"
RELEASE_DIR = "exercises"
# Markers that must never reach students.
LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


# ----------------------------------------------------------------------------------------------
# Hidden-test helper
# ----------------------------------------------------------------------------------------------
class ReferenceUnavailableError(RuntimeError):
    """Raised when graded code calls a reference implementation that a hidden test has disabled."""


def _blocked_code(func: types.FunctionType) -> types.CodeType:
    """A code object that raises :class:`ReferenceUnavailableError`, with as many free variables as
    ``func`` (Python only lets us swap ``__code__`` between functions with equal closure sizes)."""
    names = [f"_free{i}" for i in range(len(func.__code__.co_freevars))]
    lines = ["def _outer():"]
    lines += [f"    {n} = None" for n in names]
    lines += ["    def _blocked(*args, **kwargs):"]
    if names:
        lines += ["        (" + ", ".join(names) + ",)"]
    # the code runs with the *blocked function's* globals: reach the exception through the import system
    lines += [
        "        raise __import__('dimedia_course.grading', fromlist=['_']).ReferenceUnavailableError(",
        f"            {func.__qualname__!r} + ' is not available here: write your own implementation')",
        "    return _blocked",
    ]
    scope: dict = {}
    exec("\n".join(lines), scope)  # noqa: S102 (fixed template, no user input)
    return scope["_outer"]().__code__


def _functions_of(reference) -> list[types.FunctionType]:
    if isinstance(reference, types.FunctionType):
        return [reference]
    if isinstance(reference, types.MethodType):
        return [reference.__func__]
    if isinstance(reference, type):
        found = []
        # the class and its dimedia_course base classes (so that inherited methods are blocked too)
        own = [k for k in reference.__mro__ if k is reference or k.__module__.startswith("dimedia_course")]
        for value in [v for k in own for v in vars(k).values()]:
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            elif isinstance(value, property):
                value = value.fget
            if isinstance(value, types.FunctionType):
                found.append(value)
        return found
    raise TypeError(
        f"reference_unavailable expects Python functions, methods or classes, got {type(reference).__name__}"
    )


@contextlib.contextmanager
def reference_unavailable(*references):
    """Within the block, every given reference function (or every method of a given class) raises
    :class:`ReferenceUnavailableError`, wherever it is referenced from: the package module, a name the
    student imported into the notebook, a default argument or a closure. Restored on exit.

    Used by hidden tests: compute the expected value with the reference first, then call the student's
    function inside ``with reference_unavailable(ref): ...``.
    """
    functions = []
    for reference in references:
        functions.extend(_functions_of(reference))
    saved = []
    try:
        for func in functions:
            if any(func is f for f, _ in saved):
                continue
            saved.append((func, func.__code__))
            func.__code__ = _blocked_code(func)
        yield
    finally:
        for func, code in saved:
            func.__code__ = code


# ----------------------------------------------------------------------------------------------
# nbgrader plumbing
# ----------------------------------------------------------------------------------------------
def nbgrader_settings(root=COURSE_ROOT, *, db_url=None, release_directory=RELEASE_DIR, timeout=60) -> list[str]:
    """Command-line settings given to every nbgrader call (the same as ``nbgrader_config.py``)."""
    root = Path(root).resolve()
    db_url = db_url or "sqlite:///" + str(root / "gradebook.db")
    return [
        f"--CourseDirectory.root={root}",
        "--CourseDirectory.course_id=dimedia",
        f"--CourseDirectory.source_directory={SOURCE_DIR}",
        f"--CourseDirectory.release_directory={release_directory}",
        f"--CourseDirectory.db_url={db_url}",
        f"--Execute.timeout={int(timeout)}",
        "--Execute.interrupt_on_timeout=True",
        "--Execute.kernel_name=python3",
        f"--ExecutePreprocessor.timeout={int(timeout)}",
        "--ExecutePreprocessor.kernel_name=python3",
        "--OverwriteCells.add_missing_cells=True",
        "--LimitOutput.max_lines=200",
        "--ClearHiddenTests.enforce_metadata=True",
    ]


@dataclass
class _Run:
    returncode: int
    output: str
    timed_out: bool = False
    seconds: float = 0.0


def _run_nbgrader(args, settings, *, cwd, timeout=None) -> _Run:
    """Run ``python -m nbgrader ARGS SETTINGS`` in its own process group (killed as a whole on timeout)."""
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    env["PYTHONWARNINGS"] = "ignore"
    # nbgrader calls helper programs (alembic, jupyter) by name: find them beside this interpreter
    # even when the environment was not activated.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    cmd = [sys.executable, "-m", "nbgrader", *args, *settings]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=str(cwd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return _Run(proc.returncode, out, False, time.monotonic() - start)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return _Run(-9, out or "", True, time.monotonic() - start)


def list_assignments(root=COURSE_ROOT) -> list[str]:
    """Assignments = folders of ``solutions/`` that hold at least one notebook."""
    src = Path(root) / SOURCE_DIR
    if not src.is_dir():
        raise ValueError(f"root: no {SOURCE_DIR}/ folder in {root}")
    return sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def _select(assignments, root) -> list[str]:
    known = list_assignments(root)
    if not assignments:
        return known
    unknown = [a for a in assignments if a not in known]
    if unknown:
        raise ValueError(f"assignments: unknown {unknown}; expected some of {known}")
    return list(assignments)


def _normalize_notebook(path: Path) -> None:
    """Rewrite a notebook with nbformat's canonical formatting (sorted keys, indent 1, final newline)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    text = nbformat.writes(nb)
    if not text.endswith("\n"):
        text += "\n"
    path.write_text(text, encoding="utf-8")


def _generate(assignments, root, out_dir, db_url) -> None:
    settings = nbgrader_settings(root, db_url=db_url, release_directory=str(out_dir))
    for assignment in assignments:
        run = _run_nbgrader(["generate_assignment", assignment, "--force"], settings, cwd=root, timeout=600)
        if run.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{run.output}")
        for path in sorted((Path(out_dir) / assignment).rglob("*")):
            if path.is_file() and path.suffix != ".ipynb":
                path.unlink()  # only notebooks are released: a stray file in solutions/ may be an answer key
        for nb in sorted((Path(out_dir) / assignment).rglob("*.ipynb")):
            _normalize_notebook(nb)


def release(assignments=None, *, root=COURSE_ROOT, out_dir=None) -> Path:
    """Generate the student version of the assignments (default: all) into ``exercises/``.

    Runs ``nbgrader generate_assignment --force`` with a throw-away gradebook (no instructor state is
    touched), normalises the notebooks' JSON so that diffs stay clean, and fails if anything hidden leaked.
    """
    root = Path(root).resolve()
    selected = _select(assignments, root)
    out_dir = Path(out_dir) if out_dir else root / RELEASE_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dimedia-release-") as tmp:
        _generate(selected, root, out_dir, "sqlite:///" + os.path.join(tmp, "gradebook.db"))
    if not assignments:  # a full release also removes assignments deleted from solutions/
        for stale in out_dir.iterdir():
            if stale.is_dir() and stale.name not in selected:
                shutil.rmtree(stale)
    leaks = find_leaks(out_dir, root / SOURCE_DIR)
    if leaks:
        raise RuntimeError("the release leaks hidden content:\n" + "\n".join(leaks))
    return out_dir


def _cells(path: Path) -> list:
    import nbformat

    return nbformat.read(str(path), as_version=4).cells


def _split_marked(source: str) -> tuple[list[str], list[str]]:
    """(lines inside SOLUTION / HIDDEN TESTS regions, lines outside them), stripped."""
    inside, secret, public = False, [], []
    for line in source.splitlines():
        if "BEGIN SOLUTION" in line or "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
            inside = False
        else:
            (secret if inside else public).append(line.strip())
    return secret, public


def find_leaks(release_dir, source_dir) -> list[str]:
    """Problems in a release folder: nbgrader markers, or a line of solution code or hidden test from the
    source notebooks (lines that also appear in the visible part of the source are not secrets)."""
    release_dir, source_dir = Path(release_dir), Path(source_dir)
    problems = [
        f"not a notebook (only notebooks are released): {p.relative_to(release_dir)}"
        for p in sorted(release_dir.rglob("*"))
        if p.is_file() and p.suffix != ".ipynb"
    ]
    for src_nb in sorted(source_dir.glob("*/*.ipynb")):
        rel = src_nb.relative_to(source_dir)
        out_nb = release_dir / rel
        if not out_nb.exists():
            continue
        secret, public = set(), set()
        for cell in _cells(src_nb):
            inside, outside = _split_marked(cell.source)
            secret.update(inside)
            public.update(outside)
        secret = {s for s in secret - public if len(s) >= 8 and not s.startswith("#")}
        for i, cell in enumerate(_cells(out_nb)):
            for marker in LEAK_MARKERS:
                if marker in cell.source:
                    problems.append(f"{rel} cell {i}: contains {marker!r}")
            for line in cell.source.splitlines():
                if line.strip() in secret:
                    problems.append(f"{rel} cell {i}: hidden line {line.strip()!r}")
            for output in cell.get("outputs", []):
                problems.append(f"{rel} cell {i}: has an output ({output.get('output_type')})")
    return problems


def check_release(root=COURSE_ROOT) -> list[str]:
    """Differences between ``exercises/`` and a fresh release generated from ``solutions/``, plus leaks.
    An empty list means the release is up to date."""
    root = Path(root).resolve()
    problems = []
    with tempfile.TemporaryDirectory(prefix="dimedia-check-") as tmp:
        fresh = Path(tmp) / "release"
        fresh.mkdir()
        _generate(list_assignments(root), root, fresh, "sqlite:///" + os.path.join(tmp, "gradebook.db"))
        current = root / RELEASE_DIR
        want = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
        have = sorted(p.relative_to(current) for p in current.rglob("*") if p.is_file()) if current.is_dir() else []
        for rel in sorted(set(want) - set(have)):
            problems.append(f"missing from {RELEASE_DIR}/: {rel}")
        for rel in sorted(set(have) - set(want)):
            problems.append(f"not generated from {SOURCE_DIR}/ (stale or hand-made): {RELEASE_DIR}/{rel}")
        for rel in sorted(set(want) & set(have)):
            if not filecmp.cmp(fresh / rel, current / rel, shallow=False):
                problems.append(f"out of date: {RELEASE_DIR}/{rel}")
    problems += find_leaks(root / RELEASE_DIR, root / SOURCE_DIR)
    return problems


# ----------------------------------------------------------------------------------------------
# Autograding
# ----------------------------------------------------------------------------------------------
@dataclass
class GradingResult:
    """Outcome of grading one student's assignment."""

    student: str
    assignment: str
    score: float = 0.0
    max_score: float = 0.0
    ok: bool = False
    seconds: float = 0.0
    notes: list = field(default_factory=list)
    cell_scores: dict = field(default_factory=dict)
    log_path: Path | None = None


def _read_notebook(path: Path):
    """Return (notebook, None) or (None, reason)."""
    import nbformat

    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return None, f"invalid JSON ({err})"
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 (any nbformat failure means: not a gradable notebook)
        return None, f"not a valid notebook ({type(err).__name__}: {str(err).splitlines()[0][:200]})"
    return nb, None


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _precheck(sub_dir: Path, src_dir: Path, rel_dir: Path, notes: list) -> None:
    """Repair what can be repaired in a copied submission before nbgrader sees it, noting every problem."""
    expected = sorted(p.name for p in src_dir.glob("*.ipynb"))
    present = sorted(p.name for p in sub_dir.glob("*.ipynb"))
    missing = [n for n in expected if n not in present]
    extra = [n for n in present if n not in expected]
    if len(missing) == 1 and len(extra) == 1:
        notes.append(f"renamed notebook: {extra[0]} was graded as {missing[0]}")
        (sub_dir / extra[0]).rename(sub_dir / missing[0])
        missing, extra = [], []
    for name in extra:
        notes.append(f"unexpected notebook {name}: not graded")
    for name in missing:
        notes.append(f"missing notebook {name}: scored zero")
    for name in expected:
        path = sub_dir / name
        if not path.exists():
            continue
        nb, reason = _read_notebook(path)
        if nb is None:
            notes.append(f"{name}: {reason}; graded as the blank exercise (zero points)")
            shutil.copy(rel_dir / name, path)
            continue
        released = {_grade_id(c): c for c in _cells(rel_dir / name) if _grade_id(c)}
        # a test cell is intact if it matches the student version or the instructor version
        instructor = {_grade_id(c): c.source.strip() for c in _cells(src_dir / name) if _grade_id(c)}
        submitted = {}
        for cell in nb.cells:
            gid = _grade_id(cell)
            if gid:
                submitted.setdefault(gid, cell)
        for gid, cell in released.items():
            meta = cell.metadata.nbgrader
            kind = (
                "test cell"
                if meta.get("grade") and not meta.get("solution")
                else ("answer cell" if meta.get("solution") else "read-only cell")
            )
            if gid not in submitted:
                what = "restored from the instructor copy" if kind != "answer cell" else "no answer"
                notes.append(f"{name}: {kind} {gid!r} was deleted; {what}")
            elif kind != "answer cell" and submitted[gid].source.strip() not in (
                cell.source.strip(),
                instructor.get(gid),
            ):
                notes.append(f"{name}: {kind} {gid!r} was edited; restored from the instructor copy")


def _cell_problems(autograded_nb: Path) -> list[str]:
    """Errors raised in graded cells of an autograded notebook (timeouts, SystemExit, NameError, ...)."""
    notes = []
    if not autograded_nb.exists():
        return notes
    for cell in _cells(autograded_nb):
        gid = _grade_id(cell)
        if not gid or cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                evalue = str(out.get("evalue", "")).strip().splitlines()
                if out.get("ename") == "CellTimeoutError":
                    evalue = ["did not finish within the per-cell time limit (endless loop?)"]
                notes.append(
                    f"{autograded_nb.name}: cell {gid!r} raised {out.get('ename')}"
                    + (f": {evalue[0][:200]}" if evalue else "")
                )
            elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                notes.append(f"{autograded_nb.name}: cell {gid!r} wrote to stderr (counts as a failed test)")
        text = "".join(str(o.get("text", "")) for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        if "Output truncated" in text or len(text) > 100_000:
            notes.append(f"{autograded_nb.name}: cell {gid!r} printed a huge output (truncated)")
    return notes


def _scores(db_url: str, assignment: str, student: str):
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, "dimedia") as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return None, None, {}
        cells = {}
        for nb in sub.notebooks:
            for grade in nb.grades:
                cells[f"{nb.name}:{grade.name}"] = (grade.score, grade.max_score)
        return float(sub.score), float(sub.max_score), cells


def autograde(
    submissions, *, root=COURSE_ROOT, assignments=None, timeout=60, time_limit=None, db_url=None, verbose=True
) -> list[GradingResult]:
    """Grade ``submissions/<student>/<assignment>/<notebook>.ipynb`` (any subset of students/assignments).

    Each (student, assignment) is copied into ``submitted/``, checked and repaired (renamed notebook,
    invalid JSON, deleted or edited test cells are noted), then graded by ``nbgrader autograde`` in its own
    process: every cell gets ``timeout`` seconds and the whole run ``time_limit`` seconds (default: 5x the
    number of cells times ``timeout``, at most 30 minutes). Scores go to the gradebook; a log per student
    and assignment is written to ``autograded/<student>/<assignment>.log``.
    """
    if int(timeout) <= 0:
        raise ValueError(f"timeout: expected a positive number of seconds, got {timeout!r}")
    root = Path(root).resolve()
    submissions = Path(submissions).resolve()
    if not submissions.is_dir():
        raise ValueError(f"submissions: {submissions} is not a folder of <student>/<assignment>/ folders")
    selected = _select(assignments, root)
    db_url = db_url or "sqlite:///" + str(root / "gradebook.db")
    settings = nbgrader_settings(root, db_url=db_url, timeout=timeout)
    results = []
    with tempfile.TemporaryDirectory(prefix="dimedia-grade-") as tmp:
        # Register the assignments (and their hidden tests) in the gradebook; the student version
        # produced on the way is used to repair broken submissions.
        rel_root = Path(tmp) / "release"
        _generate(selected, root, rel_root, db_url)
        for student_dir in sorted(p for p in submissions.iterdir() if p.is_dir()):
            student = student_dir.name
            for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
                assignment = assignment_dir.name
                if assignment not in selected:
                    if verbose:
                        print(f"skip {student}/{assignment}: not an assignment being graded")
                    continue
                results.append(
                    _grade_one(
                        root,
                        settings,
                        db_url,
                        student,
                        assignment,
                        assignment_dir,
                        rel_root / assignment,
                        timeout,
                        time_limit,
                        verbose,
                    )
                )
    return results


def _grade_one(
    root, settings, db_url, student, assignment, assignment_dir, rel_dir, timeout, time_limit, verbose
) -> GradingResult:
    result = GradingResult(student, assignment)
    dest = root / "submitted" / student / assignment
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(assignment_dir, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    src_dir = root / SOURCE_DIR / assignment
    try:
        _precheck(dest, src_dir, rel_dir, result.notes)
    except Exception as err:  # noqa: BLE001 (a broken submission must not stop the others)
        result.notes.append(f"could not check the submission: {type(err).__name__}: {err}")
    n_cells = sum(len(_cells(p)) for p in src_dir.glob("*.ipynb"))
    limit = time_limit or min(1800, 5 * timeout * max(n_cells, 1))
    run = _run_nbgrader(["autograde", assignment, f"--student={student}", "--force"], settings, cwd=root, timeout=limit)
    result.seconds = run.seconds
    if run.timed_out:
        result.notes.append(f"grading stopped after {limit} s (time limit); unfinished parts score zero")
    elif run.returncode != 0:
        last = [ln for ln in run.output.splitlines() if "ERROR" in ln][-3:]
        result.notes.append("nbgrader autograde failed: " + " | ".join(last))
    autograded = root / "autograded" / student / assignment
    for nb in sorted(autograded.glob("*.ipynb")):
        result.notes.extend(_cell_problems(nb))
    score, max_score, cells = _scores(db_url, assignment, student)
    result.ok = run.returncode == 0 and not run.timed_out and score is not None
    result.score = score or 0.0
    result.max_score = max_score or 0.0
    result.cell_scores = cells
    log_path = root / "autograded" / student / f"{assignment}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"student: {student}",
        f"assignment: {assignment}",
        f"status: {'graded' if result.ok else 'FAILED'} in {result.seconds:.1f} s",
        f"score: {result.score:g} / {result.max_score:g}",
        "problems:" if result.notes else "problems: none",
        *[f"  - {n}" for n in result.notes],
        "cells:",
        *[f"  {k}: {s if s is not None else 0:g} / {m:g}" for k, (s, m) in sorted(cells.items())],
        "",
        "---- nbgrader output ----",
        run.output[-20000:],
    ]
    log_path.write_text("\n".join(lines), encoding="utf-8")
    result.log_path = log_path
    if verbose:
        status = "ok" if result.ok else "FAILED"
        print(
            f"{student:>20} {assignment:<28} {result.score:6g} / {result.max_score:<6g} {status:6} "
            f"{result.seconds:5.1f} s  {'; '.join(result.notes)[:300]}"
        )
    return result


FEEDBACK_PREPROCESSORS = (
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "dimedia_course.grading.FeedbackSanitizer",
)


def _feedback_sanitizer_class():
    from nbconvert.preprocessors import Preprocessor
    from traitlets import Bool

    class FeedbackSanitizer(Preprocessor):
        """Feedback shows scores and error messages, never hidden tests: their source is removed from the
        test cells and error tracebacks (which quote the failing line) are cut to ``ename: evalue``."""

        enabled = Bool(True).tag(config=True)

        def preprocess_cell(self, cell, resources, index):
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and "BEGIN HIDDEN TESTS" in cell.source:
                kept, hidden = [], False
                for line in cell.source.splitlines():
                    if "BEGIN HIDDEN TESTS" in line:
                        hidden = True
                        kept.append("# (hidden tests)")
                    elif "END HIDDEN TESTS" in line:
                        hidden = False
                    elif not hidden:
                        kept.append(line)
                cell.source = "\n".join(kept)
                for out in cell.get("outputs", []):
                    if out.get("output_type") == "error":
                        out["traceback"] = [f"{out.get('ename')}: {out.get('evalue')}"]
            return cell, resources

    return FeedbackSanitizer


def __getattr__(name):  # built on demand: nbconvert is only imported by the feedback command
    if name == "FeedbackSanitizer":
        return _feedback_sanitizer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def export_grades(to="grades.csv", *, root=COURSE_ROOT, db_url=None) -> Path:
    """Write the gradebook as CSV (one row per student and assignment; nbgrader's CSV exporter)."""
    root = Path(root).resolve()
    to = Path(to)
    to = to if to.is_absolute() else Path.cwd() / to
    run = _run_nbgrader(["export", f"--to={to}"], nbgrader_settings(root, db_url=db_url), cwd=root, timeout=600)
    if run.returncode != 0 or not to.exists():
        raise RuntimeError(f"nbgrader export failed:\n{run.output}")
    return to


def generate_feedback(assignments=None, *, root=COURSE_ROOT, db_url=None) -> Path:
    """HTML feedback for every autograded submission: ``feedback/<student>/<assignment>/<nb>.html``."""
    root = Path(root).resolve()
    settings = nbgrader_settings(root, db_url=db_url)
    settings += [f"--GenerateFeedback.preprocessors={p}" for p in FEEDBACK_PREPROCESSORS]
    for assignment in _select(assignments, root):
        if not any((root / "autograded").glob(f"*/{assignment}")):
            continue
        run = _run_nbgrader(["generate_feedback", assignment, "--force"], settings, cwd=root, timeout=1800)
        if run.returncode != 0:
            raise RuntimeError(f"nbgrader generate_feedback {assignment} failed:\n{run.output}")
    return root / "feedback"


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dimedia_course.grading", description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=str(COURSE_ROOT), help="course root (holds solutions/, exercises/)")
    parser.add_argument("--db", default=None, help="gradebook URL (default: sqlite:///<root>/gradebook.db)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("release", help="generate exercises/ from solutions/")
    p.add_argument("assignments", nargs="*")
    sub.add_parser("check", help="fail if exercises/ is not what `release` would generate")
    p = sub.add_parser("autograde", help="grade a folder <student>/<assignment>/<notebook>.ipynb")
    p.add_argument("submissions")
    p.add_argument("--assignment", action="append", dest="assignments")
    p.add_argument("--timeout", type=int, default=60, help="seconds per cell (default 60)")
    p.add_argument("--time-limit", type=int, default=None, help="seconds per student and assignment")
    p = sub.add_parser("export", help="write grades as CSV")
    p.add_argument("--to", default="grades.csv")
    p = sub.add_parser("feedback", help="write HTML feedback to feedback/")
    p.add_argument("assignments", nargs="*")
    p = sub.add_parser("bundle", help="write the student bundle (release notebooks, package wheel, requirements)")
    p.add_argument("--out", default="dist", help="folder for dimedia-student-bundle.zip (default: dist)")
    args = parser.parse_args(argv)
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
