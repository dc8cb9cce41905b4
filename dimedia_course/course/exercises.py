"""The exercise pages of the website: what each released assignment asks and how many points each part gives.

Reads only the student release (``exercises/<assignment>/<notebook>.ipynb``), never ``solutions/``, so a page
can show nothing that students do not already have.
"""

from __future__ import annotations

import html
from pathlib import Path

from dimedia_course.grading.cells import grade_id, is_answer, is_test, points

__all__ = ["RELEASE_DIR", "release_notebook", "graded_parts", "parts_table", "index_table"]

#: The nbgrader release folder (what students get).
RELEASE_DIR = Path(__file__).resolve().parents[2] / "exercises"


def release_notebook(assignment: str, release_dir: Path = RELEASE_DIR) -> Path:
    """The one released notebook of ``assignment`` (e.g. ``"a01_forward_process"``)."""
    folder = Path(release_dir) / assignment
    notebooks = sorted(folder.glob("*.ipynb"))
    if len(notebooks) != 1:
        raise ValueError(f"assignment: expected one notebook in {folder}, found {len(notebooks)}")
    return notebooks[0]


def graded_parts(assignment: str, release_dir: Path = RELEASE_DIR) -> list[dict]:
    """The autograded test cells in order: ``[{"grade_id", "points", "implements"}]``, where ``implements`` is
    the function the student writes in the answer cell just before the test (its ``def`` name)."""
    import nbformat

    cells = nbformat.read(str(release_notebook(assignment, release_dir)), as_version=4).cells
    parts, last_function = [], None
    for cell in cells:
        if is_answer(cell) and cell.cell_type == "code":
            names = [ln.split("(")[0][4:].strip() for ln in cell.source.splitlines() if ln.startswith("def ")]
            last_function = names[0] if names else None
        if is_test(cell) and cell.cell_type == "code":
            parts.append({"grade_id": grade_id(cell), "points": points(cell), "implements": last_function})
    return parts


def parts_table(assignment: str, release_dir: Path = RELEASE_DIR) -> str:
    """An HTML table of the graded parts of ``assignment`` (function to write, graded by, points) for its page."""
    parts = graded_parts(assignment, release_dir)
    rows = "".join(
        f"<tr><td>{i}</td><td><code>{html.escape(p['implements'] or '')}</code></td>"
        f"<td><code>{html.escape(p['grade_id'])}</code></td><td>{p['points']:g}</td></tr>"
        for i, p in enumerate(parts, 1)
    )
    total = sum(p["points"] for p in parts)
    return (
        '<table class="dimedia-schedule"><thead><tr><th>#</th><th>You implement</th><th>Graded by</th>'
        f"<th>Points</th></tr></thead><tbody>{rows}<tr><td></td><td><strong>Total</strong></td><td></td>"
        f"<td><strong>{total:g}</strong></td></tr></tbody></table>"
    )


def index_table(titles: dict[str, str], release_dir: Path = RELEASE_DIR) -> str:
    """An HTML table of the exercises ``{assignment: title}``: a link to each page, its graded parts and points."""
    rows = []
    for key, title in titles.items():
        parts = graded_parts(key, release_dir)
        rows.append(
            f'<tr><td><a href="{html.escape(key)}.html">{html.escape(title)}</a></td><td>{len(parts)}</td>'
            f"<td>{sum(p['points'] for p in parts):g}</td></tr>"
        )
    return (
        '<table class="dimedia-schedule"><thead><tr><th>Exercise</th><th>Graded parts</th><th>Points</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )
