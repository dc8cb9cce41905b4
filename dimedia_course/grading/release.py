"""Release and check the student version of the assignments (nbgrader ``generate_assignment``).

``release`` writes ``exercises/`` from ``solutions/`` (notebooks only: ``grader_checks.py`` and any other file
stay with the instructor); ``check`` fails when ``exercises/`` is not exactly what ``release`` would write or
when anything hidden leaked into it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from dimedia_course.grading.settings import (
    COURSE_ROOT,
    RELEASE_DIR,
    SETTINGS,
    SOURCE_DIR,
    nbgrader_settings,
    run_nbgrader,
)

__all__ = [
    "LEAK_MARKERS",
    "check_release",
    "find_leaks",
    "fresh_release",
    "generate_release",
    "list_assignments",
    "read_cells",
    "release",
    "select_assignments",
]

# Markers that must never reach students.
LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def list_assignments(root=COURSE_ROOT) -> list[str]:
    """Assignments = folders of ``solutions/`` that hold at least one notebook."""
    src = Path(root) / SOURCE_DIR
    if not src.is_dir():
        raise ValueError(f"root: no {SOURCE_DIR}/ folder in {root}")
    return sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def select_assignments(assignments, root) -> list[str]:
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


def generate_release(assignments, root, out_dir, db_url) -> None:
    settings = nbgrader_settings(root, db_url=db_url, release_directory=str(out_dir))
    folders = sorted(p.name for p in (Path(root) / SOURCE_DIR).iterdir() if p.is_dir())
    # nbgrader takes one assignment id, or a glob: one process for all of them when all are asked for (one
    # start-up of nbgrader instead of one per assignment: 9 s instead of 35 s for seven)
    ids = ["*"] if sorted(assignments) == folders else list(assignments)
    for assignment_id in ids:
        run = run_nbgrader(["generate_assignment", assignment_id, "--force"], settings, cwd=root, timeout=600)
        if run.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment {assignment_id} failed:\n{run.output}")
    for assignment in assignments:
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
    selected = select_assignments(assignments, root)
    out_dir = Path(out_dir) if out_dir else root / RELEASE_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    files = fresh_release(selected, root)
    for assignment in selected:  # what nbgrader's --force does: the assignment's release folder is replaced
        shutil.rmtree(out_dir / assignment, ignore_errors=True)
    for rel, data in files.items():
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / rel).write_bytes(data)
    if not assignments:  # a full release also removes assignments deleted from solutions/
        for stale in out_dir.iterdir():
            if stale.is_dir() and stale.name not in selected:
                shutil.rmtree(stale)
    leaks = find_leaks(out_dir, root / SOURCE_DIR)
    if leaks:
        raise RuntimeError("the release leaks hidden content:\n" + "\n".join(leaks))
    return out_dir


#: Releases generated in this process, by :func:`_release_key`: a ``release`` followed by a ``check_release`` (or
#: the check inside ``write_bundle``) costs one nbgrader run, not one each. nbgrader's output depends only on what
#: the key hashes (each run gets a throw-away gradebook), so an edit of any source file is a new key.
_FRESH: dict[str, dict[str, bytes]] = {}


def _release_key(assignments, root: Path) -> str:
    import nbgrader

    digest = hashlib.sha256(repr((str(root), nbgrader.__version__, sorted(SETTINGS.items(), key=repr))).encode())
    config = root / "nbgrader_config.py"  # nbgrader runs in root, so it reads this file too
    digest.update(b"\0config\0" + (config.read_bytes() if config.is_file() else b""))
    for assignment in sorted(assignments):
        for path in sorted((root / SOURCE_DIR / assignment).rglob("*")):
            if path.is_file():
                digest.update(b"\0" + path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def fresh_release(assignments, root=COURSE_ROOT) -> dict[str, bytes]:
    """The student release of ``assignments`` as nbgrader generates it from ``solutions/`` with a throw-away
    gradebook: ``{"<assignment>/<file>": bytes}`` (notebooks only), made once per process for the same sources."""
    root = Path(root).resolve()
    key = _release_key(assignments, root)
    if key not in _FRESH:
        with tempfile.TemporaryDirectory(prefix="dimedia-release-") as tmp:
            out = Path(tmp) / "release"
            out.mkdir()
            generate_release(list(assignments), root, out, "sqlite:///" + os.path.join(tmp, "gradebook.db"))
            _FRESH[key] = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    return dict(_FRESH[key])


def read_cells(path: Path) -> list:
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
        for cell in read_cells(src_nb):
            inside, outside = _split_marked(cell.source)
            secret.update(inside)
            public.update(outside)
        secret = {s for s in secret - public if len(s) >= 8 and not s.startswith("#")}
        for i, cell in enumerate(read_cells(out_nb)):
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
    fresh = fresh_release(list_assignments(root), root)
    current = root / RELEASE_DIR
    have = {p.relative_to(current).as_posix() for p in current.rglob("*") if p.is_file()} if current.is_dir() else set()
    for rel in sorted(set(fresh) - have):
        problems.append(f"missing from {RELEASE_DIR}/: {rel}")
    for rel in sorted(have - set(fresh)):
        problems.append(f"not generated from {SOURCE_DIR}/ (stale or hand-made): {RELEASE_DIR}/{rel}")
    for rel in sorted(set(fresh) & have):
        if (current / rel).read_bytes() != fresh[rel]:
            problems.append(f"out of date: {RELEASE_DIR}/{rel}")
    problems += find_leaks(root / RELEASE_DIR, root / SOURCE_DIR)
    return problems
