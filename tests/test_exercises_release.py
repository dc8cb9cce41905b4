"""The autograded exercises: exercises/ (student release) is generated from solutions/ (nbgrader source),
is up to date, and contains no solution code or hidden test; every notebook passes nbgrader's checks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbgrader")

from dimedia_course import grading  # noqa: E402

ROOT = grading.COURSE_ROOT
SOURCE = ROOT / "solutions"
RELEASE = ROOT / "exercises"
ASSIGNMENTS = grading.list_assignments(ROOT)
SOURCE_NBS = sorted(SOURCE.glob("*/*.ipynb"))
RELEASE_NBS = sorted(RELEASE.glob("*/*.ipynb"))
NBGRADER_KEYS = {"grade", "grade_id", "locked", "points", "schema_version", "solution", "task"}
# The issue asks for these six topics (one assignment each, in this order).
TOPICS = ("forward", "ddpm", "ddim", "guidance", "latent", "anomaly")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_six_assignments_cover_the_topics():
    assert len(ASSIGNMENTS) >= 6, ASSIGNMENTS
    for topic in TOPICS:
        assert any(topic in a for a in ASSIGNMENTS), f"no assignment about {topic!r} in {ASSIGNMENTS}"


def test_config_at_repo_root_points_at_solutions_and_exercises():
    from traitlets.config import Config

    c = Config()
    exec(
        (ROOT / "nbgrader_config.py").read_text(),
        {"get_config": lambda: c, "__file__": str(ROOT / "nbgrader_config.py")},
    )
    assert c.CourseDirectory.source_directory == "solutions" and c.CourseDirectory.release_directory == "exercises"
    assert c.OverwriteCells.add_missing_cells is True and c.CourseDirectory.root == str(ROOT)


def test_release_has_the_same_notebooks_as_the_source():
    assert [p.relative_to(SOURCE) for p in SOURCE_NBS] == [p.relative_to(RELEASE) for p in RELEASE_NBS]


@pytest.mark.parametrize("path", SOURCE_NBS + RELEASE_NBS, ids=_rel)
def test_notebook_metadata_is_valid_and_deterministic(path):
    from nbgrader.nbgraderformat import MetadataValidator

    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    MetadataValidator().validate_nb(nb)  # raises on a bad nbgrader cell
    # canonical JSON (what nbformat writes): clean diffs
    assert text.rstrip("\n") == nbformat.writes(nb).rstrip("\n"), "not in canonical nbformat layout"
    ids = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "outputs must be stripped"
        meta = cell.metadata.get("nbgrader")
        if meta:
            assert NBGRADER_KEYS <= set(meta), f"incomplete nbgrader metadata {meta}"
            assert meta["schema_version"] == 3
            ids.append(meta["grade_id"])
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(graded) >= 3, "each assignment has several graded parts"


@pytest.mark.parametrize("path", SOURCE_NBS, ids=_rel)
def test_source_has_solutions_and_its_checks_live_outside_the_notebook(path):
    nb = nbformat.read(str(path), as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    answers = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert answers and all("### BEGIN SOLUTION" in c.source for c in answers)
    for cell in tests:
        assert cell.metadata.nbgrader["locked"], "test cells are read-only"
        assert cell.metadata.nbgrader["points"] > 0
        # the points come from grader_checks.py, judged in the grader; no hidden code runs in the kernel
        assert "HIDDEN TESTS" not in cell.source and "dimedia_course" not in cell.source
    assert (path.parent / "grader_checks.py").is_file()


@pytest.mark.parametrize("path", RELEASE_NBS, ids=_rel)
def test_release_contains_no_solution_or_hidden_test(path):
    text = path.read_text(encoding="utf-8")
    for marker in grading.LEAK_MARKERS + ("HIDDEN TESTS", "grader_checks", "Case("):
        assert marker not in text, f"{marker!r} leaked into {_rel(path)}"
    nb = json.loads(text)
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution"):
            assert "raise NotImplementedError()" in "".join(cell["source"])


def test_find_leaks_reports_nothing_for_the_release_and_catches_a_leak(tmp_path):
    assert grading.find_leaks(RELEASE, SOURCE) == []
    # a release that still holds a solution line is caught
    src = SOURCE_NBS[0]
    bad = tmp_path / src.relative_to(SOURCE)
    bad.parent.mkdir(parents=True)
    nb = nbformat.read(str(src), as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", "")
    nbformat.write(nb, str(bad))
    leaks = grading.find_leaks(tmp_path, SOURCE)
    assert any("hidden line" in leak for leak in leaks)


@pytest.mark.slow
def test_release_is_up_to_date_with_solutions():
    """Regenerating exercises/ from solutions/ gives byte-identical notebooks (nbgrader generate_assignment)."""
    problems = grading.check_release(ROOT)
    assert problems == [], "run `python -m dimedia_course.grading release`:\n" + "\n".join(problems)


def _validator(timeout=60):
    from nbgrader.validator import Validator
    from traitlets.config import Config

    c = Config()
    c.Execute.timeout = timeout
    c.Execute.kernel_name = "python3"
    c.Execute.interrupt_on_timeout = True
    return Validator(config=c)


@pytest.mark.slow
@pytest.mark.parametrize("path", SOURCE_NBS, ids=_rel)
def test_solutions_pass_nbgrader_validator_quickly(path):
    """Each solution notebook (visible tests) passes, in less than 60 s on this machine."""
    start = time.monotonic()
    results = _validator().validate(str(path))
    elapsed = time.monotonic() - start
    assert results == {}, json.dumps(results, indent=1)[:3000]
    assert elapsed < 60, f"{_rel(path)} took {elapsed:.0f} s"


@pytest.mark.slow
@pytest.mark.parametrize("path", RELEASE_NBS, ids=_rel)
def test_release_fails_nbgrader_validator(path):
    """The blank exercise fails every test cell (nothing is given away), without changed checksums."""
    results = _validator().validate(str(path))
    assert "changed" not in results and "type_changed" not in results, results.keys()
    nb = nbformat.read(str(path), as_version=4)
    n_tests = sum(1 for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))
    assert len(results.get("failed", [])) == n_tests


def test_stub_package_removes_the_reference_on_disk(tmp_path):
    import subprocess
    import sys

    from dimedia_course.grading.sandbox import stub_package

    stub_package(tmp_path, ["dimedia_course.forward:q_sample", "dimedia_course.schedulers.ddim:DDIMScheduler"])
    code = (
        "import importlib, importlib.util, inspect, torch\n"
        "import dimedia_course.forward as f\n"
        "from dimedia_course.schedulers import DDIMScheduler\n"
        "assert 'sqrt' not in inspect.getsource(f.q_sample)\n"
        "spec = importlib.util.spec_from_file_location('again', f.__file__)\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "for call in (lambda: f.q_sample(1, 2, 3, 4), lambda: importlib.reload(f).q_sample(1, 2, 3, 4),\n"
        "             lambda: m.q_sample(1, 2, 3, 4), lambda: DDIMScheduler(num_train_timesteps=10)):\n"
        "    try:\n"
        "        call()\n"
        "    except NotImplementedError as e:\n"
        "        assert 'not available while grading' in str(e)\n"
        "    else:\n"
        "        raise AssertionError('reference reachable')\n"
        "import dimedia_course.schedules as s\n"
        "assert s.make_beta_schedule('linear', 10).shape == (10,)  # what is not blocked still works\n"
        "print('ok')\n"
    )
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]
    with pytest.raises(ValueError, match="not defined"):
        stub_package(tmp_path / "x", ["dimedia_course.forward:no_such_function"])
    with pytest.raises(ValueError, match="expected"):
        stub_package(tmp_path / "y", ["q_sample"])


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_blocked_reference_exists(assignment, tmp_path):
    from dimedia_course.grading.checks import load_checks
    from dimedia_course.grading.sandbox import stub_package

    stub_package(tmp_path, load_checks(SOURCE / assignment).blocked)  # raises on a typo


def test_nbgrader_config_and_command_line_use_the_same_settings():
    from traitlets.config import Config

    from dimedia_course.grading.settings import SETTINGS, apply_settings, nbgrader_settings

    c = Config()
    apply_settings(c, ROOT)
    args = nbgrader_settings(ROOT)
    for (klass, trait), value in SETTINGS.items():
        assert c[klass][trait] == value
        if not isinstance(value, (list, dict)):
            assert f"--{klass}.{trait}={value}" in args
    text = (ROOT / "nbgrader_config.py").read_text()
    assert "apply_settings(get_config()" in text and "c.Execute" not in text
