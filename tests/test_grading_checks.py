"""Grader-side checks of every assignment: the instructor solution passes them, other correct answers
(float32, another order of operations) pass them, and a bank of subtly wrong answers fails them."""

from __future__ import annotations

import functools
import importlib
import re

import nbformat
import pytest
import torch

from dimedia_course.grading import COURSE_ROOT, list_assignments
from dimedia_course.grading.checks import (
    Case,
    evaluate_in_process,
    expected_values,
    judge,
    load_assignment_checks,
    raises,
    scalar_close,
    tensor_close,
    tensor_equal,
    tuple_of,
)

ASSIGNMENTS = list_assignments(COURSE_ROOT)


def _solution_functions(assignment):
    """{function name: source} of the instructor solution cells (markers removed)."""
    checks = load_assignment_checks(COURSE_ROOT, assignment)
    nb = nbformat.read(COURSE_ROOT / "solutions" / assignment / checks.notebook, as_version=4)
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            source = "\n".join(
                ln for ln in cell.source.splitlines() if "BEGIN SOLUTION" not in ln and "END SOLUTION" not in ln
            )
            for name in re.findall(r"^def (\w+)\(", source, flags=re.M):
                out[name] = source
    return checks, out


def _define(prelude_ns, sources: dict) -> dict:
    ns = dict(prelude_ns)
    for source in sources.values():
        exec(source, ns)  # noqa: S102 (test data)
    return ns


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def assignment(request):
    from dimedia_course.grading.checks import setup_namespace

    checks, solution = _solution_functions(request.param)
    bank = importlib.import_module(f"tests.grading_banks.{request.param}")
    return request.param, checks, solution, bank, expected_values(checks), setup_namespace(checks.prelude)


def _verdicts(assignment_, sources):
    _, checks, _, _, expected, prelude_ns = assignment_
    ns = _define(prelude_ns, sources)
    functions = {k: v for k, v in ns.items() if k not in prelude_ns}
    return evaluate_in_process(checks, functions, expected)


def test_every_autograded_test_cell_has_checks(assignment):
    name, checks, *_ = assignment
    nb = nbformat.read(COURSE_ROOT / "exercises" / name / checks.notebook, as_version=4)
    graded = {
        c.metadata.nbgrader.grade_id
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata.nbgrader.get("solution")
    }
    assert graded == set(checks.checks), "every test cell (and only those) has grader checks"


def test_instructor_solution_passes(assignment):
    verdicts = _verdicts(assignment, assignment[2])
    assert {gid: [v for v in vs if v] for gid, vs in verdicts.items()} == {gid: [] for gid in verdicts}


def test_other_correct_answers_pass(assignment):
    _, _, solution, bank, *_ = assignment
    for label, replacement in bank.CORRECT.items():
        verdicts = _verdicts(assignment, {**solution, **replacement})
        failed = {gid: [v for v in vs if v] for gid, vs in verdicts.items() if any(vs)}
        assert not failed, f"correct answer {label!r} was rejected: {failed}"


def test_wrong_answers_fail_and_every_test_cell_catches_one(assignment):
    _, _, solution, bank, *_ = assignment
    caught = set()
    for label, (function, edits) in bank.WRONG.items():
        source = solution[function]
        for old, new in edits:
            assert old in source, f"bank {label!r}: {old!r} is not in the solution of {function}"
            source = source.replace(old, new)
        verdicts = _verdicts(assignment, {**solution, function: source})
        failed = {gid for gid, vs in verdicts.items() if any(vs)}
        assert failed, f"wrong answer {label!r} got full marks"
        caught |= failed
    assert caught == set(assignment[1].checks), "test cells that no wrong answer fails: " + str(
        set(assignment[1].checks) - caught
    )


def test_comparators_never_show_values():
    secret = torch.tensor([0.123456, 7.654321])
    messages = [
        tensor_close(1e-5, 1e-8)(secret + 1, secret),
        tensor_close(1e-5, 1e-8, dtype=torch.float64)(secret, secret),
        tensor_equal()(secret[:1], secret),
        scalar_close(1e-6, 0)(1.5, 0.123456),
        scalar_close(1e-6, 0, kind=torch.Tensor)(0.123456, 0.123456),
        raises("ValueError")(secret, None),
        tuple_of(tensor_close(0, 0), tensor_close(0, 0))((secret, secret + 1), (secret, secret)),
    ]
    assert all(messages)
    for message in messages:
        assert "0.123" not in message and "7.65" not in message and "1.5" not in message


def test_judge_reports_errors_by_type_only():
    case = Case(setup="", student="f()", reference="1.0", compare=scalar_close(0, 0), message="a check")
    assert judge(case, {"__error__": "ZeroDivisionError", "message": "secret"}, 1.0) == "raised ZeroDivisionError"
    assert judge(case, 1.0, 1.0) is None


def test_every_test_cell_has_a_hint_that_names_no_input():
    """Hints (HINTS in grader_checks.py) are shown under a failed test cell: one per test cell, and none
    repeats a number or a line of a case's set-up (the hidden inputs)."""
    import ast

    from dimedia_course.grading.checks import load_checks

    trivial = {"0", "1", "2", "0.5", "1.0", "0.0"}
    for assignment in list_assignments(COURSE_ROOT):
        checks = load_checks(COURSE_ROOT / "solutions" / assignment)
        assert set(checks.hints) == set(checks.checks), assignment
        for gid, cases in checks.checks.items():
            hint = checks.hints[gid]
            assert 20 < len(hint) < 300, (assignment, gid)
            words = set(re.findall(r"[\w.+-]+", hint))
            for case in cases:
                numbers = {
                    repr(n.value)
                    for n in ast.walk(ast.parse(case.setup))
                    if isinstance(n, ast.Constant)
                    and isinstance(n.value, (int, float))
                    and not isinstance(n.value, bool)
                }
                assert not (numbers - trivial) & words, (assignment, gid, (numbers - trivial) & words)
                assert not any(len(ln.strip()) > 12 and ln.strip() in hint for ln in case.setup.splitlines())


# The release's visible tests catch at least this many of each bank's wrong answers (in-process run of the
# set-up cell, the solution cells and the visible test cells). Raise a floor when a visible test is added.
VISIBLE_CATCH_FLOOR = {
    "a01_forward_process": 14,
    "a02_ddpm_loss_sampling": 23,
    "a03_ddim_inversion": 19,
    "a04_guidance": 15,
    "a05_latent_diffusion": 20,
    "a06_anomaly_detection": 23,
    "a07_flow_matching": 12,
}


@functools.cache
def _solution_notebook(path):
    """The solution notebook, read once per test run (the cells are only read, never changed)."""
    return nbformat.read(path, as_version=4)


def _visible_failures(assignment_, replace: dict) -> list[str]:
    """Test cells of the solution notebook that fail (or error) when the solution functions in ``replace``
    ({function name: source}) take the place of the instructor's; only the set-up cell and the solution and
    test cells run."""
    import contextlib
    import io
    import warnings

    name, checks, *_ = assignment_
    nb = _solution_notebook(COURSE_ROOT / "solutions" / name / checks.notebook)
    ns, failed, setup_done = {}, [], False
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            defined = re.findall(r"^def (\w+)\(", cell.source, flags=re.M)
            sources = [cell.source] + [replace[d] for d in defined if d in replace]  # replacements win
        elif meta.get("grade") or not setup_done:
            sources, setup_done = [cell.source], True
        else:
            continue  # demos and plots
        for source in sources:
            try:
                with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    exec(source, ns)  # noqa: S102 (the course's own notebook)
            except Exception as error:  # noqa: BLE001 (a failing visible test is the datum)
                failed.append(f"{meta.get('grade_id', 'set-up')}: {type(error).__name__}")
    return failed


def test_visible_tests_pass_correct_answers_and_catch_common_mistakes(assignment):
    """Honest students learn before they hand in: every correct answer of the bank passes the visible tests,
    and the visible tests catch at least the floor of the bank's wrong answers."""
    name, _, solution, bank, *_ = assignment
    assert _visible_failures(assignment, {}) == [], "the instructor solution fails a visible test"
    for label, replacement in bank.CORRECT.items():
        assert _visible_failures(assignment, replacement) == [], f"correct answer {label!r} fails a visible test"
    caught = 0
    for function, edits in bank.WRONG.values():
        source = solution[function]
        for old, new in edits:
            source = source.replace(old, new)
        caught += bool(_visible_failures(assignment, {function: source}))
    assert caught >= VISIBLE_CATCH_FLOOR[name], f"visible tests catch {caught} of {len(bank.WRONG)} wrong answers"
