"""Round trips through the instructor commands (python -m dimedia_course.grading ...), on a copy of the course:

- every solution notebook gets full marks and the blank release gets zero, in < 60 s per notebook;
- adversarial submissions of assignment 1, each graded next to a good student and with good answers in
  the other parts of the same notebook: edited test cell, deleted test cell, infinite loop, sys.exit, huge
  output, invalid JSON, missing function, renamed notebook, and an answer that only calls the reference.
  Only the broken part loses its points, the other students are unharmed and the log names the problem;
- grades export to CSV and HTML feedback is generated.
"""

from __future__ import annotations

import csv
import shutil

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbgrader")

from dimedia_course import grading  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = grading.COURSE_ROOT
ASSIGNMENTS = grading.list_assignments(ROOT)
A1 = "a01_forward_process"
NB1 = "forward_process.ipynb"
CELL_TIMEOUT = 20  # seconds per cell while grading here (the infinite loop costs this much)


def _answer_code(source: str) -> str:
    """The code of an answer cell in the solution notebook, as a student would type it."""
    return "\n".join(
        ln for ln in source.splitlines() if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln
    )


def _good_notebook(assignment: str, name: str):
    """The student version with every answer filled in (what a good student submits)."""
    src = {
        c.metadata.nbgrader["grade_id"]: c
        for c in nbformat.read(str(ROOT / "solutions" / assignment / name), 4).cells
        if c.metadata.get("nbgrader")
    }
    nb = nbformat.read(str(ROOT / "exercises" / assignment / name), 4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = _answer_code(src[meta["grade_id"]].source)
    return nb


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _replace_body(nb, grade_id, body: str):
    """Keep the `def` line of an answer cell and replace the function body."""
    cell = _cell(nb, grade_id)
    head = cell.source.split("\n")[0]
    cell.source = head + "\n" + "\n".join("    " + ln for ln in body.strip().splitlines())


def _adversaries():
    """student -> (how to build the notebook, cell that must lose its points or None, words the log must name)."""

    def edited(nb):  # a wrong answer plus a test cell "fixed" to pass
        _replace_body(nb, "linear_betas", "return torch.zeros(num_steps)")
        _cell(nb, "test_linear_betas").source = "pass"

    def deleted(nb):
        _replace_body(nb, "cosine_betas", "return torch.zeros(num_steps)")
        nb.cells.remove(_cell(nb, "test_cosine_betas"))

    def loop(nb):
        _replace_body(nb, "alphas_cumprod", "while True:\n    pass")

    def sys_exit(nb):
        _replace_body(nb, "q_sample", "import sys\nsys.exit(1)")

    def huge(nb):  # correct answers, but the answer cell prints half a million lines
        _cell(nb, "q_posterior").source += "\nfor _i in range(500_000):\n    print('spam', _i)"

    def missing(nb):
        cell = _cell(nb, "q_sample")
        cell.source = cell.source.replace("def q_sample(", "def my_q_sample(")

    def calls_reference(nb):
        _replace_body(
            nb,
            "q_sample",
            "from dimedia_course.forward import q_sample as ref\nreturn ref(x0, t, noise, alphas_cumprod)",
        )

    return {
        "edited_test": (edited, "test_linear_betas", ["test_linear_betas", "edited"]),
        "deleted_test": (deleted, "test_cosine_betas", ["test_cosine_betas", "deleted"]),
        "infinite_loop": (loop, "test_alphas_cumprod", ["test_alphas_cumprod", "Timeout"]),
        "sys_exit": (sys_exit, "test_q_sample", ["test_q_sample", "SystemExit"]),
        "huge_output": (huge, None, ["q_posterior", "huge output"]),
        "missing_function": (missing, "test_q_sample", ["test_q_sample", "NameError", "q_sample"]),
        "calls_reference": (
            calls_reference,
            "test_q_sample",
            ["test_q_sample", "ReferenceUnavailableError", "not available here"],
        ),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade, in one run, the solution and blank submissions of every assignment plus the adversaries."""
    base = tmp_path_factory.mktemp("course")
    course = base / "course"
    course.mkdir()
    shutil.copytree(ROOT / "solutions", course / "solutions")
    subs = base / "submissions"
    for assignment in ASSIGNMENTS:
        for name in sorted(p.name for p in (ROOT / "exercises" / assignment).glob("*.ipynb")):
            good = subs / "good" / assignment
            good.mkdir(parents=True, exist_ok=True)
            nbformat.write(_good_notebook(assignment, name), str(good / name))
            blank = subs / "blank" / assignment
            blank.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / "exercises" / assignment / name, blank / name)
            if assignment == A1:  # the instructor's own notebook (hidden tests included) is graded too
                sol = subs / "instructor" / assignment
                sol.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / "solutions" / assignment / name, sol / name)
    adversaries = _adversaries()
    for student, (build, _, _) in adversaries.items():
        nb = _good_notebook(A1, NB1)
        build(nb)
        (subs / student / A1).mkdir(parents=True)
        nbformat.write(nb, str(subs / student / A1 / NB1))
    (subs / "invalid_json" / A1).mkdir(parents=True)
    text = nbformat.writes(_good_notebook(A1, NB1))
    (subs / "invalid_json" / A1 / NB1).write_text(text[: len(text) // 2], encoding="utf-8")
    (subs / "renamed_notebook" / A1).mkdir(parents=True)
    nbformat.write(_good_notebook(A1, NB1), str(subs / "renamed_notebook" / A1 / "forward_process (1).ipynb"))

    results = grading.autograde(subs, root=course, timeout=CELL_TIMEOUT, verbose=True)
    return course, {(r.student, r.assignment): r for r in results}, adversaries


def _log(result) -> str:
    return result.log_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_get_full_marks_and_run_in_under_a_minute(graded, assignment):
    _, results, _ = graded
    for student in ("good", "instructor") if assignment == A1 else ("good",):
        r = results[(student, assignment)]
        assert r.ok, _log(r)
        assert r.max_score > 0 and r.score == r.max_score, _log(r)
        assert r.seconds < 60, f"{assignment} took {r.seconds:.0f} s to grade"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_release_gets_zero(graded, assignment):
    _, results, _ = graded
    r = results[("blank", assignment)]
    assert r.ok and r.max_score > 0 and r.score == 0, _log(r)
    assert "NotImplementedError" in _log(r)


@pytest.mark.parametrize("student", sorted(_adversaries()))
def test_adversarial_submission_only_loses_the_broken_part(graded, student):
    _, results, adversaries = graded
    _, broken, words = adversaries[student]
    r = results[(student, A1)]
    log = _log(r)
    for key, (score, max_score) in r.cell_scores.items():
        expected = 0 if broken and key.endswith(":" + broken) else max_score
        assert (score or 0) == expected, f"{key}: {score} / {max_score}\n{log}"
    assert r.max_score == results[("good", A1)].max_score
    for word in words:
        assert word.lower() in log.lower(), f"the log should name {word!r}:\n{log}"
    # the student graded next to this one is unharmed
    good = results[("good", A1)]
    assert good.score == good.max_score


def test_invalid_json_scores_zero_with_a_clear_log(graded):
    _, results, _ = graded
    r = results[("invalid_json", A1)]
    assert r.score == 0 and r.max_score == results[("good", A1)].max_score
    assert "invalid JSON" in _log(r)


def test_renamed_notebook_is_graded_under_the_right_name(graded):
    _, results, _ = graded
    r = results[("renamed_notebook", A1)]
    assert r.score == r.max_score > 0, _log(r)
    assert "renamed notebook" in _log(r) and "forward_process (1).ipynb" in _log(r)


def test_export_csv_and_feedback(graded, tmp_path):
    course, results, _ = graded
    out = tmp_path / "grades.csv"
    assert grading.main(["--root", str(course), "export", "--to", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    scores = {(row["student_id"], row["assignment"]): float(row["score"]) for row in rows}
    for (student, assignment), r in results.items():
        assert scores[(student, assignment)] == pytest.approx(r.score), (student, assignment)
    assert grading.main(["--root", str(course), "feedback", A1]) == 0
    html = course / "feedback" / "good" / A1 / NB1.replace(".ipynb", ".html")
    assert html.exists() and "test_q_sample" in html.read_text(encoding="utf-8")
    text = html.read_text(encoding="utf-8")
    assert "HIDDEN TESTS" not in text.replace("(hidden tests)", "") and "reference_unavailable" not in text
