"""The student bundle and the notebook-only release (dimedia_course.grading.bundle, release/check)."""

import shutil
import zipfile
from pathlib import Path

import pytest

from dimedia_course import grading
from dimedia_course.grading.bundle import STUDENT_EXCLUDED, student_requirements, write_bundle

ROOT = Path(__file__).resolve().parents[1]


def test_student_requirements_drop_instructor_tools():
    text = student_requirements(ROOT / "requirements.txt")
    names = {line.split("==")[0] for line in text.splitlines() if "==" in line}
    assert {"torch", "monai", "numpy"} <= names
    assert not names & set(STUDENT_EXCLUDED)


def test_bundle_holds_release_wheel_and_no_solutions(tmp_path):
    path = write_bundle(tmp_path)
    assert path == tmp_path / "dimedia-student-bundle.zip"
    with zipfile.ZipFile(path) as bundle:
        names = bundle.namelist()
        wheel_name = next(n for n in names if n.endswith(".whl"))
        readme = bundle.read("dimedia-student-bundle/README.md").decode("utf-8")
        (tmp_path / "w.whl").write_bytes(bundle.read(wheel_name))
    notebooks = sorted(n for n in names if n.endswith(".ipynb"))
    released = sorted(ROOT.glob("exercises/a*/*.ipynb"))
    assert len(released) >= 7 and len(notebooks) == len(released)
    assert f"holds the {len(released)} exercise notebooks" in readme  # counted, not written by hand
    assert all(n.startswith("dimedia-student-bundle/exercises/") for n in notebooks)
    assert "dimedia-student-bundle/requirements.txt" in names and "dimedia-student-bundle/README.md" in names
    assert not any("solutions" in n or "grader_checks" in n for n in names)
    with zipfile.ZipFile(tmp_path / "w.whl") as wheel:
        inside = wheel.namelist()
    assert "dimedia_course/sampling.py" in inside
    assert all(n.startswith(("dimedia_course/", "dimedia_course-")) for n in inside)


@pytest.fixture
def tiny_course(tmp_path):
    """A course root with one assignment (a01) and its release."""
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder / "a01_forward_process", tmp_path / folder / "a01_forward_process")
    shutil.copy(ROOT / "requirements.txt", tmp_path)
    return tmp_path


def test_release_publishes_only_notebooks_and_check_flags_stray_files_and_source_edits(tiny_course):
    (tiny_course / "solutions" / "a01_forward_process" / "answer_key.txt").write_text("q_sample = ...")
    grading.release(root=tiny_course)
    released = sorted(p.name for p in (tiny_course / "exercises" / "a01_forward_process").iterdir())
    assert released == ["forward_process.ipynb"]
    assert grading.check_release(tiny_course) == []
    (tiny_course / "exercises" / "a01_forward_process" / "answer_key.txt").write_text("q_sample = ...")
    problems = grading.check_release(tiny_course)
    assert any("not a notebook" in p for p in problems) and any("answer_key.txt" in p for p in problems)
    with pytest.raises(RuntimeError, match="not fit to hand out"):
        write_bundle(tiny_course / "dist", root=tiny_course)
    assert not (tiny_course / "dist" / "dimedia-student-bundle.zip").exists()
    # the release is generated once per process for the same sources: an edit of solutions/ is a new release
    import nbformat

    (tiny_course / "exercises" / "a01_forward_process" / "answer_key.txt").unlink()
    source = tiny_course / "solutions" / "a01_forward_process" / "forward_process.ipynb"
    nb = nbformat.read(str(source), as_version=4)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("A new introduction."))
    nbformat.write(nb, str(source))
    assert grading.check_release(tiny_course) == ["out of date: exercises/a01_forward_process/forward_process.ipynb"]
    grading.release(root=tiny_course)
    assert grading.check_release(tiny_course) == []
    released = (tiny_course / "exercises" / "a01_forward_process" / "forward_process.ipynb").read_text("utf-8")
    assert "A new introduction." in released
