"""nbgrader cell metadata read in one place (dimedia_course.grading.cells), against nbgrader and the raw JSON."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import is_grade, is_solution

from dimedia_course.grading.cells import grade_id, is_answer, is_graded, is_test, kind, points

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "solutions").glob("*/*.ipynb")) + sorted((ROOT / "exercises").glob("*/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_every_cell_reads_as_nbgrader_and_the_raw_json_say(path):
    nb = nbformat.read(str(path), as_version=4)
    raw = json.loads(path.read_text(encoding="utf-8"))["cells"]
    assert len(raw) == len(nb.cells)
    for cell, plain in zip(nb.cells, raw, strict=True):
        meta = plain.get("metadata", {}).get("nbgrader", {})
        assert grade_id(cell) == grade_id(plain) == meta.get("grade_id")  # NotebookNode or plain dict alike
        assert is_answer(cell) == bool(is_solution(cell)) and is_graded(cell) == bool(is_grade(cell))
        assert is_test(cell) == (bool(meta.get("grade")) and not meta.get("solution"))
        assert points(cell) == (float(meta.get("points", 0)) if meta.get("grade") else 0.0)
        expected = "answer cell" if is_answer(cell) else "test cell" if is_graded(cell) else "read-only cell"
        assert kind(cell) == expected


def test_cells_without_or_with_broken_metadata_are_plain_cells():
    for cell in (nbformat.v4.new_code_cell("x = 1"), {"metadata": {"nbgrader": "not a dict"}}, {"metadata": None}):
        assert grade_id(cell) is None
    assert grade_id({"metadata": {"nbgrader": {"grade_id": 7}}}) is None  # not a string: not an id
    assert kind(nbformat.v4.new_code_cell("x = 1")) == "read-only cell" and points(nbformat.v4.new_code_cell("")) == 0
