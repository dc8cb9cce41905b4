"""The allow-listed package copy of a sandboxed kernel (dimedia_course.grading.allowlist), without a kernel.

The same property inside a real sandboxed kernel is checked by
``tests/test_exercises_grading.py::test_no_reference_code_or_test_only_package_is_importable_in_the_kernel``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import sysconfig

import pytest

nbformat = pytest.importorskip("nbformat")

from grading_probe import reach_probe, reached  # noqa: E402

from dimedia_course import grading  # noqa: E402
from dimedia_course.grading.allowlist import (  # noqa: E402
    allowed_modules,
    code_imports,
    excluded_top_levels,
    package_copy,
    reference_names,
)
from dimedia_course.grading.checks import load_assignment_checks  # noqa: E402

ROOT = grading.COURSE_ROOT
ASSIGNMENTS = grading.list_assignments(ROOT)


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """assignment -> (folder of its package copy, its checks): made once for every test here."""
    base = tmp_path_factory.mktemp("allowlist")
    out = {}
    for assignment in ASSIGNMENTS:
        checks = load_assignment_checks(ROOT, assignment)
        out[assignment] = (
            package_copy(base / assignment, checks, ROOT / "exercises" / assignment / checks.notebook),
            checks,
        )
    return out


# As in the sandbox: the copy first on the path, the environment's packages after it, and no .pth files
# (-S; the editable install's finder points at the course folder, which the sandbox does not bind).
SITE = sysconfig.get_paths()["purelib"]


def _python(folder, code: str, timeout=60):
    head = f"import sys; sys.path[:0] = [{str(folder)!r}]; sys.path.append({SITE!r})\n"
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", head + code], capture_output=True, text=True, timeout=timeout
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def _reachable(folder, names) -> list[str]:
    """The names an interpreter with ``folder`` as its only dimedia_course can import."""
    return reached(_python(folder, reach_probe(names)))


def test_copy_holds_only_what_the_release_notebooks_import(copies):
    for assignment, (folder, _) in copies.items():
        files = sorted(p.relative_to(folder).as_posix() for p in (folder / "dimedia_course").rglob("*.py"))
        assert files == ["dimedia_course/__init__.py", "dimedia_course/device.py"], (assignment, files)
        record = json.loads((folder / "allowlist.json").read_text())
        assert record["modules"] == ["dimedia_course", "dimedia_course.device"]


def test_no_reference_function_of_any_assignment_is_importable_from_its_copy(copies):
    names = []
    for assignment, (folder, checks) in copies.items():
        refs = reference_names(checks)
        assert refs, assignment
        names.append((folder, refs))
    reached = [r for folder, refs in names for r in _reachable(folder, refs)]
    assert reached == []


def test_test_only_packages_are_shadowed_on_the_kernel_import_path(copies):
    folder, _ = copies[ASSIGNMENTS[0]]
    assert {"diffusers", "sklearn", "nbgrader", "pytest"} <= set(excluded_top_levels())
    code = (
        "for name in ('diffusers', 'sklearn', 'nbgrader'):\n"
        "    try:\n"
        "        __import__(name); print('IMPORTED', name)\n"
        "    except ModuleNotFoundError as err:\n"
        "        print('ABSENT', name, 'student environment' in str(err))\n"
        "import dimedia_course; print('OK')\n"
    )
    assert _python(folder, code).split() == [
        *"ABSENT diffusers True ABSENT sklearn True ABSENT nbgrader True".split(),
        "OK",
    ]


def test_closure_follows_imports_and_stubs_whole_reference_modules(tmp_path):
    # a notebook that imports dimedia_course.forward gets forward and what it imports, nothing else
    roots = code_imports("%matplotlib inline\nfrom dimedia_course import forward\nimport torch")
    assert roots == {"dimedia_course", "dimedia_course.forward"}
    allowed = allowed_modules(roots)
    assert {"dimedia_course", "dimedia_course.device", "dimedia_course.forward"} <= allowed
    assert "dimedia_course.grading" not in allowed and "dimedia_course.guidance" not in allowed
    checks = load_assignment_checks(ROOT, "a01_forward_process")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from dimedia_course import forward")])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    folder = package_copy(tmp_path / "copy", checks, path)
    tree = ast.parse((folder / "dimedia_course" / "forward.py").read_text())
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert defs and all(isinstance(n.body[0], ast.Raise) for n in defs if isinstance(n, ast.FunctionDef))
    assert "dimedia_course.forward" in json.loads((folder / "allowlist.json").read_text())["stubbed_modules"]


def test_a_typo_in_blocked_is_an_error():
    from dimedia_course.grading.allowlist import check_blocked

    check_blocked(["dimedia_course.schedules:NoiseSchedule", "dimedia_course.schedulers.ddim:DDIMScheduler"])
    for bad in ("dimedia_course.schedules:make_beta_schedul", "dimedia_course.schedule:NoiseSchedule", "q_sample"):
        with pytest.raises(ValueError, match="BLOCKED"):
            check_blocked([bad])
