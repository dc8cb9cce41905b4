"""Autograde submissions: sandboxed kernels, grader-side checks, parallel workers, nbgrader's gradebook.

For every ``SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb``:

1. the original is copied to ``submitted/<student>/<assignment>/`` (read-only; the original is never
   touched) and a notebook to run is built from it: answer cells and the student's own cells are kept,
   every read-only and test cell is taken from the release (edited or deleted ones are restored, cells
   pasted from another assignment lose their grading metadata), outputs are cleared;
2. a worker process (:mod:`dimedia_course.grading.worker`) runs it in a sandboxed kernel
   (:mod:`dimedia_course.grading.sandbox`) and has the kernel compute the student's values for the hidden
   checks; the whole worker, kernel and everything they started are killed after the time limit;
3. this process, which no student code can reach, compares the values with the expected ones it
   computed itself (:mod:`dimedia_course.grading.checks`), writes the scores to nbgrader's gradebook,
   the autograded notebook (test cells show "passed" or what failed, never the checks) and a log.

Workers run in parallel (one per core by default); a crash, hang or kill in one never stops the others,
and grading again replaces a student's previous grade for that assignment.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from dimedia_course.grading.allowlist import package_copy
from dimedia_course.grading.cells import grade_id, is_graded, kind
from dimedia_course.grading.cells import points as cell_points
from dimedia_course.grading.messages import (
    checks_failed,
    checks_passed,
    hint_line,
    printable,
    unknown_assignments,
    unreadable_banner,
)
from dimedia_course.grading.release import generate_release, list_assignments, select_assignments
from dimedia_course.grading.sandbox import (
    ISOLATIONS,
    Limits,
    available_isolation,
    folder_quota,
    release_cgroup,
    release_folder_quota,
)
from dimedia_course.grading.settings import COURSE_ID, COURSE_ROOT

# dimedia_course.grading.checks (it needs torch) is imported in the functions that use it: the worker, started once
# per submission, imports this package through its __init__ and needs neither.
__all__ = ["GradingResult", "autograde", "prepare_notebook"]

MAX_PROBE_BYTES = 50 * 2**20  # a probe file on disk, and all of its members uncompressed
MAX_PROBE_ELEMENTS = 8 * 2**20  # tensor elements of one probe file together (64 MiB in float64)
MAX_NOTEBOOK_BYTES = 30 * 2**20


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
    started: float = 0.0  # time.time() when its worker started / finished
    finished: float = 0.0


def _read_json_notebook(path: Path):
    """(notebook, None) or (None, reason) for a file a student handed in."""
    import nbformat

    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return None, f"too large ({path.stat().st_size // 2**20} MB)"
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"invalid JSON ({type(err).__name__}: {str(err)[:200]})"
    except Exception as err:  # noqa: BLE001 (any nbformat failure means: not a gradable notebook)
        return None, f"not a valid notebook ({type(err).__name__}: {str(err).splitlines()[0][:200]})"
    return nb, None


def prepare_notebook(submitted, release_nb, notes: list):
    """The notebook to run: the student's cells in their order, with every read-only and test cell of the
    release restored (and re-inserted where it was deleted), foreign grading metadata removed, answer cells
    kept, outputs cleared. ``submitted`` is a notebook node or None (missing/unreadable: the blank release)."""
    import nbformat

    released = [c for c in release_nb.cells]
    by_id = {grade_id(c): c for c in released if grade_id(c)}
    order = [grade_id(c) for c in released if grade_id(c)]
    cells, seen = [], set()
    for cell in submitted.cells if submitted is not None else released:
        gid = grade_id(cell)
        if cell.cell_type not in ("code", "markdown", "raw"):
            continue
        if gid and gid in by_id and gid not in seen:
            seen.add(gid)
            ref = by_id[gid]
            if kind(ref) == "answer cell":
                new = (
                    nbformat.v4.new_code_cell(cell.source)
                    if ref.cell_type == "code"
                    else nbformat.v4.new_markdown_cell(cell.source)
                )
                new.metadata["nbgrader"] = dict(ref.metadata["nbgrader"])
            else:
                if cell.source.strip() != ref.source.strip() and submitted is not None:
                    notes.append(f"{kind(ref)} {gid!r} was edited; restored from the release")
                new = nbformat.from_dict(json.loads(json.dumps(ref)))
            cells.append(new)
            continue
        if gid and submitted is not None:
            notes.append(f"a cell with unknown or repeated grade_id {str(gid)[:60]!r} is run as a plain cell")
        new = (
            nbformat.v4.new_code_cell(cell.source)
            if cell.cell_type == "code"
            else nbformat.v4.new_markdown_cell(cell.source)
        )
        cells.append(new)
    for i, gid in enumerate(order):  # restore deleted release cells after their predecessor
        if gid in seen:
            continue
        ref = by_id[gid]
        if submitted is not None:
            notes.append(f"{kind(ref)} {gid!r} was deleted; restored from the release")
        before = [g for g in order[:i] if g in seen]
        position = 0
        if before:
            position = 1 + max(j for j, c in enumerate(cells) if grade_id(c) == before[-1])
        cells.insert(position, nbformat.from_dict(json.loads(json.dumps(ref))))
        seen.add(gid)
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb = nbformat.v4.new_notebook(cells=cells, metadata=release_nb.metadata)
    return nb


@dataclass
class _Assignment:
    name: str
    notebook: str
    checks: object
    expected: dict
    stub: Path
    release_nb: object
    points: dict
    spec: str  # spec.json of every job: the prelude and the (setup, student) pairs of each test cell
    given: Path  # the grader-computed inputs handed to every kernel


@dataclass
class _Job:
    student: str
    assignment: str
    original: Path
    dir: Path
    notes: list
    seconds: float = 0.0
    killed: bool = False
    started: float = 0.0
    finished: float = 0.0
    banner: str = ""  # first cell of the feedback when the notebook could not be read
    timestamp: object = None  # when it was handed in (timestamp.txt, else the notebook's modification time)
    folder_bytes: int = 0  # size of the tmpfs mounted on the kernel's folder while it runs (0: none)


def _prepare_assignment(root: Path, name: str, rel_root: Path, tmp: Path) -> _Assignment:
    """What every job of an assignment shares, made once: checks, expected values, the package stub, the spec
    and the inputs handed to the kernels."""
    import nbformat
    import torch

    from dimedia_course.grading.checks import expected_values, load_assignment_checks  # torch: grader side only

    checks = load_assignment_checks(root, name, release_dir=rel_root)
    release_nb = nbformat.read(str(rel_root / name / checks.notebook), as_version=4)
    points = {grade_id(c): cell_points(c) for c in release_nb.cells if is_graded(c)}
    missing = sorted(g for g, p in points.items() if p > 0 and g not in checks.checks)
    if missing:
        raise ValueError(f"{name}: grader_checks.py has no checks for the graded cells {missing}")
    stub = package_copy(tmp / "stubs" / name, checks, rel_root / name / checks.notebook)  # allow-listed
    expected = expected_values(checks)
    cases = {g: [[c.setup, c.student] for c in cs] for g, cs in checks.checks.items()}
    spec = json.dumps({"prelude": checks.prelude, "cases": cases})
    given = tmp / "given" / f"{name}.pt"
    given.parent.mkdir(exist_ok=True)
    torch.save({g: [inputs for inputs, _ in v] for g, v in expected.items()}, given)
    return _Assignment(name, checks.notebook, checks, expected, stub, release_nb, points, spec, given)


def _not_copied(folder, names) -> set:
    """What the grader's copy of a submission leaves out: links (a zip or a repository can hold links to
    anywhere, and a regrade must never change their targets), other non-regular files, editor leftovers."""
    skip = {".ipynb_checkpoints", "__pycache__"}
    for name in names:
        mode = os.lstat(os.path.join(folder, name)).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            skip.add(name)
    return skip


def _remove_copy(dest: Path) -> None:
    """Remove the grader's earlier copy of a submission: make its folders writable and delete it, without
    following any link (a link left by an older version of the grader is removed, its target untouched)."""
    if dest.is_symlink():
        dest.unlink()
        return
    for dirpath, dirnames, _ in os.walk(dest):  # os.walk does not descend into links to folders
        os.chmod(dirpath, 0o755)
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o755)
    shutil.rmtree(dest)  # fd-based on Linux: links are removed, never followed


def _make_job(root, tmp, index, student, assignment: _Assignment, original: Path, config: dict) -> _Job:
    import nbformat

    notes: list = []
    dest = root / "submitted" / student / assignment.name
    if dest.exists() or dest.is_symlink():
        _remove_copy(dest)
    shutil.copytree(original, dest, ignore=_not_copied, symlinks=True)
    for dirpath, _dirnames, filenames in os.walk(dest):  # kept read-only: what the student handed in
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o444)
        os.chmod(dirpath, 0o555)
    present = sorted(p.name for p in original.glob("*.ipynb") if p.is_file() and not p.is_symlink())
    name = assignment.notebook
    if name not in present and len(present) == 1:
        notes.append(f"renamed notebook: {present[0]} was graded as {name}")
        source_path = original / present[0]
    else:
        source_path = original / name
        for extra in present:
            if extra != name:
                notes.append(f"unexpected notebook {extra}: not graded")
    submitted, banner = None, ""
    if not source_path.is_file() or source_path.is_symlink():
        notes.append(f"missing notebook {name}: graded as the blank exercise")
        banner = unreadable_banner(name, "no such file in what you handed in")
    else:
        submitted, reason = _read_json_notebook(source_path)
        if submitted is None:
            notes.append(f"{name}: {reason}; graded as the blank exercise")
            banner = unreadable_banner(name, reason)
    nb = prepare_notebook(submitted, assignment.release_nb, notes)
    job = tmp / "jobs" / str(index)
    (job / "kernel").mkdir(parents=True)
    nbformat.write(nb, str(job / name))
    (job / "spec.json").write_text(assignment.spec, encoding="utf-8")
    (job / "job.json").write_text(json.dumps({"notebook": name, **config}), encoding="utf-8")
    shutil.copy(assignment.given, job / "given.pt")  # the worker hands it to the kernel when the checks run
    (job / "stub").symlink_to(assignment.stub)
    sandboxed = config["isolation"] != "none"
    return _Job(
        student, assignment.name, original, job, notes, banner=banner, timestamp=_handed_in(original, source_path),
        folder_bytes=Limits(**config["limits"]).folder_bytes if sandboxed else 0,
    )  # fmt: skip


def _handed_in(original: Path, notebook: Path):
    """When a submission was handed in: nbgrader's ``timestamp.txt`` if readable, else the notebook's
    modification time (UTC), else None."""
    import datetime

    from nbgrader.utils import parse_utc

    stamp = original / "timestamp.txt"
    with contextlib.suppress(Exception):
        if stamp.is_file() and not stamp.is_symlink() and stamp.stat().st_size < 1000:
            return parse_utc(stamp.read_text(encoding="utf-8").strip())
    with contextlib.suppress(OSError):
        if notebook.is_file() and not notebook.is_symlink():
            utc = datetime.datetime.fromtimestamp(notebook.stat().st_mtime, tz=datetime.timezone.utc)
            return utc.replace(tzinfo=None)  # naive UTC, as nbgrader stores it
    return None


def _run_worker(job: _Job, wall_seconds: int) -> _Job:
    start = time.monotonic()
    job.started = time.time()
    if job.folder_bytes and not folder_quota(job.dir / "kernel", job.folder_bytes):
        job.folder_bytes = 0  # not root: the kernel's folder is on the host's disk (threat model)
        job.notes.append("no tmpfs could be mounted: the kernel's folder had no size limit")
    with open(job.dir / "worker.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dimedia_course.grading.worker", str(job.dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )  # fmt: skip
        try:
            proc.wait(timeout=wall_seconds)
        except subprocess.TimeoutExpired:
            job.killed = True
        finally:
            # the worker's process group; the sandboxed kernel dies with its parent (and takes its PID
            # namespace with it)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with contextlib.suppress(OSError):
        for cgroup in (job.dir / "cgroup.txt").read_text(encoding="utf-8").split():
            release_cgroup(cgroup)
    job.seconds = time.monotonic() - start
    job.finished = time.time()
    return job


def read_untrusted(folder: Path, parts: tuple[str, ...], max_bytes: int) -> bytes | None:
    """The bytes of ``folder/parts...``, a file a kernel wrote, or None. Every component is opened relative to
    the one before without following links (``O_NOFOLLOW``), the file must be a regular file with one link and
    at most ``max_bytes`` long: a kernel cannot make the grader read a neighbour's file, a host file or a FIFO."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    fds = []
    try:
        fds.append(os.open(folder, flags | os.O_DIRECTORY))
        for part in parts[:-1]:
            fds.append(os.open(part, flags | os.O_DIRECTORY, dir_fd=fds[-1]))
        fd = os.open(parts[-1], flags, dir_fd=fds[-1])
        fds.append(fd)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_size > max_bytes:
            return None
        data = os.read(fd, max_bytes + 1)
        return data if len(data) <= max_bytes else None
    except OSError:
        return None
    finally:
        for fd in reversed(fds):
            os.close(fd)


def _bounded(value, budget: list) -> bool:
    """True if every tensor in ``value`` (nested lists/tuples/dicts) is dense and all of them hold at most
    ``budget[0]`` elements together: an expanded (stride-0) tensor of a few bytes on disk must not become
    gigabytes when the checks broadcast it."""
    import torch

    if isinstance(value, torch.Tensor):
        budget[0] -= value.numel()
        storage = value.untyped_storage().nbytes() // max(value.element_size(), 1)
        return budget[0] >= 0 and (value.numel() <= storage or value.numel() == 0)
    if isinstance(value, (list, tuple)):
        return all(_bounded(v, budget) for v in value)
    if isinstance(value, dict):
        return all(_bounded(v, budget) for v in value.values())
    return True


def _load_probe(folder: Path, gid: str):
    import io
    import zipfile

    import torch

    data = read_untrusted(folder, ("probe", f"{gid}.pt"), MAX_PROBE_BYTES)
    if data is None:
        return None, "did not run (the notebook stopped before this test cell)"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:  # a deflate bomb is refused before it expands
            if sum(info.file_size for info in archive.infolist()) > MAX_PROBE_BYTES:
                return None, "the values are too large"
        values = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception:  # noqa: BLE001 (untrusted file)
        return None, "the values could not be read"
    if not _bounded(values, [MAX_PROBE_ELEMENTS]):
        return None, "the values are too large"
    return values, None


def _verdicts(job: _Job, assignment: _Assignment) -> dict:
    """grade_id -> list of ``(case message, problem)`` of the failed cases (empty: passed)."""
    from dimedia_course.grading.checks import judge

    out = {}
    for gid, cases in assignment.checks.checks.items():
        values, problem = _load_probe(job.dir / "kernel", gid)
        if problem:
            out[gid] = [("", problem)]
            continue
        if not isinstance(values, list) or len(values) != len(cases):
            out[gid] = [("", "the values of the checks are missing")]
            continue
        out[gid] = []
        for case, got, (_, expected) in zip(cases, values, assignment.expected[gid], strict=True):
            verdict = judge(case, got, expected)
            if verdict:
                out[gid].append((case.message, verdict))
    return out


def _public(failed: list, total: int) -> list[str]:
    """What the student sees of a test cell's failed checks: how many, and each distinct problem (never the
    description of a case, which may name its inputs)."""
    problems = list(dict.fromkeys(problem for _, problem in failed))
    head = checks_failed(len(failed), total, counted=bool(failed[0][0]))
    return [head] + problems[:10]


def _events(job: _Job) -> list[str]:
    from dimedia_course.grading.checks import public_name

    path = job.dir / "result.json"
    if job.killed:
        return ["grading stopped at the time limit; the parts that had not run score zero"]
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return ["the notebook could not be run (no result from the worker)"]
    notes = []
    if str(result.get("process_limit", "cgroup")).startswith("none"):
        notes.append("no pids cgroup could be created: the number of processes was not limited")
    if str(result.get("cpu_share", "cgroup")).startswith("none"):
        notes.append("no cpu cgroup could be created: parallel submissions shared the CPU by thread")
    passes = result.get("passes", [])
    if len(passes) > 1:
        stop = passes[0].get("failed_at")
        where = f"cell {stop}" if stop is not None else "the end"
        notes.append(f"a second run collected the values of the test cells before {where}")
    for i, run in enumerate(passes):
        label = "" if i == 0 else " (second run, to collect the parts before the failure)"
        for ev in run.get("events", []):
            where = f"cell {ev['cell']}" if ev.get("cell") is not None else "after the last cell"
            if ev.get("grade_id"):
                where += f" ({ev['grade_id']})"
            if ev["event"] == "error" and i == 0:
                notes.append(f"{where} raised {public_name(ev.get('ename'))}")
            elif ev["event"] == "kernel died":
                notes.append(f"the kernel died at {where}{label} (exit, crash or memory limit)")
            elif ev["event"] == "kernel stuck":
                notes.append(f"{where} did not finish and the kernel did not respond to an interrupt{label}")
            elif ev["event"] == "check timeout":
                notes.append(f"the hidden checks of {ev.get('grade_id')} did not finish within the time limit")
            elif ev["event"] == "output truncated" and i == 0:
                notes.append(f"{where} printed too much; its output was truncated")
            elif ev["event"] == "worker error":
                reason = public_name(ev.get("ename"), other="an error")
                notes.append(f"the run stopped at {where}{label} ({reason})")
    return notes


def _autograded_notebook(job: _Job, assignment: _Assignment, verdicts: dict, scores: dict):
    import nbformat

    from dimedia_course.grading.worker import trim_outputs

    executed = job.dir / "executed.ipynb"
    nb = None
    if executed.is_file() and executed.stat().st_size <= MAX_NOTEBOOK_BYTES:
        with contextlib.suppress(Exception):
            nb = nbformat.read(str(executed), as_version=4)
    if nb is None:
        nb = nbformat.read(str(job.dir / assignment.notebook), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        trim_outputs(cell)
        gid = grade_id(cell)
        if gid in verdicts:
            points = assignment.points.get(gid, 0.0)
            if not verdicts[gid]:
                text = checks_passed(scores[gid], points)
                cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=text))
            else:
                head, *problems = _public(verdicts[gid], len(assignment.checks.checks[gid]))
                hint = assignment.checks.hints.get(gid)
                cell.outputs.append(
                    nbformat.v4.new_output(
                        "error",
                        ename="HiddenChecksFailed",
                        evalue=f"{head}: " + "; ".join(problems),
                        traceback=[f"{head[0].upper()}{head[1:]} (0 / {points:g} points):"]
                        + [f"  - {problem[:300]}" for problem in problems]
                        + ([hint_line(hint)] if hint else []),
                    )
                )
    if job.banner:
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(job.banner))
    return nb


def _record(root: Path, db_url: str, job: _Job, assignment: _Assignment) -> GradingResult:
    import nbformat
    from nbgrader.api import Gradebook, MissingEntry

    result = GradingResult(job.student, job.assignment, seconds=job.seconds, notes=list(job.notes))
    result.started, result.finished = job.started, job.finished
    verdicts = _verdicts(job, assignment)
    scores = {gid: (assignment.points.get(gid, 0.0) if not problems else 0.0) for gid, problems in verdicts.items()}
    result.notes += _events(job)
    for gid, failed in verdicts.items():
        if failed:
            result.notes.append(f"{gid}: " + "; ".join(f"{m}: {p}" if m else p for m, p in failed))
    out_dir = root / "autograded" / job.student / job.assignment
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    nb = _autograded_notebook(job, assignment, verdicts, scores)
    nbformat.write(nb, str(out_dir / assignment.notebook))
    stamp = job.original / "timestamp.txt"
    if stamp.is_file() and not stamp.is_symlink() and stamp.stat().st_size < 1000:
        shutil.copy(stamp, out_dir / "timestamp.txt")
    notebook_id = Path(assignment.notebook).stem
    with warnings.catch_warnings(), Gradebook(db_url, COURSE_ID) as gb:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy session warnings
        gb.update_or_create_student(job.student)
        with contextlib.suppress(MissingEntry):
            gb.remove_submission(job.assignment, job.student)
    with warnings.catch_warnings(), Gradebook(db_url, COURSE_ID) as gb:
        warnings.simplefilter("ignore")
        gb.add_submission(job.assignment, job.student, **({"timestamp": job.timestamp} if job.timestamp else {}))
        for gid, points in assignment.points.items():
            grade = gb.find_grade(gid, notebook_id, job.assignment, job.student)
            grade.auto_score = scores.get(gid, 0.0) if points > 0 else 0.0
            grade.manual_score = None
        gb.db.commit()
        submission = gb.find_submission(job.assignment, job.student)
        result.score, result.max_score = float(submission.score), float(submission.max_score)
        result.cell_scores = {
            f"{notebook_id}:{g.name}": (g.score, g.max_score) for n in submission.notebooks for g in n.grades
        }
    result.ok = not job.killed and (job.dir / "result.json").is_file()
    log_path = root / "autograded" / job.student / f"{job.assignment}.log"
    lines = [
        f"student: {printable(job.student)}",
        f"assignment: {job.assignment}",
        f"status: {'graded' if result.ok else 'INCOMPLETE'} in {job.seconds:.1f} s",
        f"score: {result.score:g} / {result.max_score:g}",
        "problems:" if result.notes else "problems: none",
        *[f"  - {printable(n)}" for n in result.notes],
        "cells:",
        *[f"  {printable(k)}: {s or 0:g} / {m:g}" for k, (s, m) in sorted(result.cell_scores.items())],
    ]
    log_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result.log_path = log_path
    return result


def autograde(
    submissions,
    *,
    root=COURSE_ROOT,
    assignments=None,
    timeout=60,
    time_limit=None,
    db_url=None,
    workers=None,
    isolation=None,
    limits: Limits | None = None,
    verbose=True,
) -> list[GradingResult]:
    """Grade ``submissions/<student>/<assignment>/<notebook>.ipynb`` (any subset of students/assignments).

    Args:
        timeout: seconds per cell. time_limit: seconds per submission (default 3 x the cells x timeout,
            at most 20 minutes); the worker and its sandbox are killed after it.
        workers: submissions graded at once (default: the number of CPU cores).
        isolation: ``"bwrap"``, ``"uid"`` or ``"none"`` (default: the strongest available; ``"none"`` warns).
        limits: resource limits of each sandbox (see :class:`dimedia_course.grading.sandbox.Limits`).
    Returns one :class:`GradingResult` per (student, assignment), in submission order.
    """
    if not isinstance(timeout, int) or timeout <= 0:
        raise ValueError(f"timeout: expected a positive number of seconds, got {timeout!r}")
    if time_limit is not None and (not isinstance(time_limit, int) or time_limit <= 0):
        raise ValueError(f"time_limit: expected a positive number of seconds, got {time_limit!r}")
    workers = workers or os.cpu_count() or 1
    if not isinstance(workers, int) or workers <= 0:
        raise ValueError(f"workers: expected a positive integer, got {workers!r}")
    isolation = isolation or available_isolation()
    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation: expected one of {ISOLATIONS}, got {isolation!r}")
    if isolation != "bwrap":
        print(
            f"WARNING: grading with isolation={isolation!r}: "
            + (
                "NO SANDBOX, student code runs with your rights"
                if isolation == "none"
                else "kernels run as 'nobody' without a file-system sandbox; they can read what 'nobody' can"
            ),
            file=sys.stderr,
        )
    root = Path(root).resolve()
    submissions = Path(submissions).resolve()
    if not submissions.is_dir():
        raise ValueError(f"submissions: {submissions} is not a folder of <student>/<assignment>/ folders")
    selected = select_assignments(assignments, root)
    student_dirs = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.is_symlink())
    known = list_assignments(root)
    typos = {
        p.name
        for s in student_dirs
        for p in s.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and p.name not in known
    }
    if typos:
        raise ValueError(unknown_assignments(typos, known))
    db_url = db_url or "sqlite:///" + str(root / "gradebook.db")
    results = []
    with tempfile.TemporaryDirectory(prefix="dimedia-grade-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o711)
        rel_root = tmp / "release"
        generate_release(selected, root, rel_root, db_url)  # also registers the assignments in the gradebook
        prepared = {name: _prepare_assignment(root, name, rel_root, tmp) for name in selected}
        jobs = []
        for student_dir in student_dirs:
            for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir() and not p.is_symlink()):
                if assignment_dir.name not in prepared:
                    if verbose:
                        print(f"skip {student_dir.name}/{assignment_dir.name}: not an assignment being graded")
                    continue
                assignment = prepared[assignment_dir.name]
                n_cells = len(assignment.release_nb.cells)
                limit = time_limit or min(1200, 3 * timeout * max(n_cells, 1))
                config = {
                    "isolation": isolation,
                    "cell_timeout": int(timeout),
                    "limits": {**(limits.__dict__ if limits else {}), "wall_seconds": int(limit)},
                }
                jobs.append(
                    (_make_job(root, tmp, len(jobs), student_dir.name, assignment, assignment_dir, config), limit)
                )
        order = {id(job): i for i, (job, _) in enumerate(jobs)}
        done = {}
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_run_worker, job, limit) for job, limit in jobs]
                for future in as_completed(futures):
                    job = future.result()
                    result = _record(root, db_url, job, prepared[job.assignment])
                    release_folder_quota(job.dir / "kernel")  # its probe values are read
                    done[order[id(job)]] = result
                    if verbose:
                        status = "ok" if result.ok else "INCOMPLETE"
                        print(
                            f"{printable(result.student):>20} {result.assignment:<28} {result.score:6g} / "
                            f"{result.max_score:<6g} {status:10} {result.seconds:5.1f} s  "
                            f"{printable('; '.join(result.notes))[:300]}"
                        )
        finally:  # whatever failed: no tmpfs stays mounted below the temporary folder being removed
            for job, _ in jobs:
                release_folder_quota(job.dir / "kernel")
        results = [done[i] for i in sorted(done)]
    return results
