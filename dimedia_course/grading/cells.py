"""nbgrader's cell metadata, read in one place.

nbgrader (schema version 3) keeps in ``cell.metadata["nbgrader"]`` whether a cell is an answer (``solution``),
a graded test (``grade``), locked, its ``grade_id`` and ``points``. The kinds are nbgrader's own helpers
(:func:`nbgrader.utils.is_solution`, :func:`nbgrader.utils.is_grade`); nbgrader has no helper for the id and the
points, so those two are read here, once. :func:`grade_id` imports nothing, so the grading worker (which
drives one kernel per submission) does not pay for importing nbgrader.

This module is course infrastructure, not a diffusion-model concept, so it cites no paper.
"""

from __future__ import annotations

__all__ = ["grade_id", "is_answer", "is_graded", "is_test", "kind", "points"]


def _meta(cell) -> dict:
    meta = (cell.get("metadata") or {}).get("nbgrader") or {}
    return meta if isinstance(meta, dict) else {}


def grade_id(cell) -> str | None:
    """The cell's nbgrader ``grade_id``, or None for a cell nbgrader does not track."""
    value = _meta(cell).get("grade_id")
    return value if isinstance(value, str) and value else None


def points(cell) -> float:
    """The points of a graded cell (0 for any other cell)."""
    return float(_meta(cell).get("points", 0) or 0) if is_graded(cell) else 0.0


def is_answer(cell) -> bool:
    """A cell the student writes (nbgrader's "solution" cell)."""
    from nbgrader.utils import is_solution

    return bool(is_solution(cell))


def is_graded(cell) -> bool:
    """A cell that carries points (nbgrader's "grade" cell): a test cell or a graded answer."""
    from nbgrader.utils import is_grade

    return bool(is_grade(cell))


def is_test(cell) -> bool:
    """A graded cell that is not an answer: an autograded test cell."""
    return is_graded(cell) and not is_answer(cell)


def kind(cell) -> str:
    """What a student or instructor reads the cell as: "answer cell", "test cell" or "read-only cell"."""
    if is_answer(cell):
        return "answer cell"
    return "test cell" if is_graded(cell) else "read-only cell"
