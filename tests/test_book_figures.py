"""Every figure drawn by a code cell of the book has a caption, a name and real alt text.

Source-level check, no build: the MyST notebook pages under ``book/`` (not ``book/slides``) are read with
jupytext and every code cell that draws a figure must carry the myst-nb cell metadata

    mystnb:
      figure: {caption: ..., name: fig-...}
      image: {alt: ...}

A cell *draws a figure* when its source (IPython magics removed) matches ``DRAWS``: a call of a course plotting
function (``viz.plot_*``, ``viz.show_*``, or ``plot_*`` / ``show_images`` imported by name), any ``plt.<name>(``
or ``fig.<name>`` use, ``display(Image(...))`` / ``Image(...)``, or a call of a *page helper*: a function
defined in an earlier cell of the same page whose own body matches the same pattern (e.g. ``orthogonal_views``
of the 3D demo).

myst-nb wraps *every* display output of a captioned cell in a figure with the same name, so a captioned cell
must not also display a table (``display(HTML(...))``) and must not call more than one course plotting function
or page helper: a second output would repeat the caption and its name is a duplicate target (a warning, fatal in
the ``-W`` build).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

_PLOT_FN = r"(?:viz\.(?:plot_|show_)\w+|(?<![\w.])(?<!def )(?:plot_\w+|show_images))\("
DRAWS = re.compile(_PLOT_FN + r"|\bplt\.\w+\(|\bfig\.\w+|\bdisplay\(\s*Image\(|(?<![\w.])Image\(")
PLOT_CALL = re.compile(_PLOT_FN)
TABLE_DISPLAY = re.compile(r"\bdisplay\(\s*(?:HTML|Markdown)\(")
IMAGE_FILE = re.compile(r"\.(?:png|jpe?g|svg|gif|pdf)\b", re.IGNORECASE)
NAME = re.compile(r"^fig-[a-z0-9]+(?:-[a-z0-9]+)*$")


def _pages() -> list[Path]:
    pages = []
    for path in sorted(BOOK.rglob("*.md")):
        if "slides" in path.relative_to(BOOK).parts:
            continue
        text = path.read_text(encoding="utf-8")
        if "```{code-cell}" in text:
            pages.append(path)
    return pages


PAGES = _pages()


def _code(source: str) -> str:
    """The cell source without IPython magics and shell escapes (lines starting with % or !)."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def _drawing_helpers(source: str) -> set[str]:
    """Names of the functions defined in ``source`` whose own body draws a figure."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and DRAWS.search(ast.get_source_segment(source, node) or "")
    }


def _figure_cells(path: Path):
    """Yield ``(cell number, cell)`` for every code cell of the page that draws a figure."""
    notebook = jupytext.read(path)
    helpers: set[str] = set()
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        code = _code(cell.source)
        helper_call = re.compile(r"(?<![\w.])(?:" + "|".join(sorted(helpers)) + r")\(") if helpers else None
        calls = len(PLOT_CALL.findall(code)) + (len(helper_call.findall(code)) if helper_call else 0)
        if DRAWS.search(code) or calls:
            yield number, cell, calls
        helpers |= _drawing_helpers(code)


FIGURES = [(path, number, cell, calls) for path in PAGES for number, cell, calls in _figure_cells(path)]


def _id(item) -> str:
    path, number, _, _ = item
    return f"{path.relative_to(BOOK)}:cell{number}"


def test_pages_and_figures_found():
    assert len(PAGES) >= 10, [str(p) for p in PAGES]
    assert len(FIGURES) >= 30, "the detection found too few figure cells: check DRAWS"


@pytest.mark.parametrize("item", FIGURES, ids=_id)
def test_figure_cell_has_caption_name_and_alt(item):
    path, number, cell, calls = item
    where = f"{path.relative_to(ROOT)} code cell {number} ({cell.source.splitlines()[0][:60]!r})"
    meta = cell.metadata.get("mystnb")
    assert isinstance(meta, dict), f"{where}: no mystnb cell metadata (figure caption and image alt)"
    figure, image = meta.get("figure"), meta.get("image")
    assert isinstance(figure, dict) and isinstance(image, dict), f"{where}: mystnb needs figure and image"
    caption, name, alt = figure.get("caption"), figure.get("name"), image.get("alt")
    assert isinstance(caption, str) and caption.strip(), f"{where}: empty figure caption"
    assert isinstance(name, str) and NAME.match(name), f"{where}: figure name {name!r} is not fig-<page>-<what>"
    assert isinstance(alt, str) and alt.strip(), f"{where}: empty image alt"
    assert not IMAGE_FILE.search(alt), f"{where}: alt text looks like a file name: {alt!r}"
    assert len(alt.split()) >= 5, f"{where}: alt text of fewer than 5 words: {alt!r}"
    code = _code(cell.source)
    assert not TABLE_DISPLAY.search(code), f"{where}: a captioned cell also displays a table; move it to its own cell"
    assert calls <= 1, f"{where}: {calls} plotting calls in one captioned cell; split the cell, one figure each"


def test_figure_names_unique_across_book():
    seen: dict[str, str] = {}
    duplicates = []
    for path in PAGES:
        for number, cell in enumerate(jupytext.read(path).cells):
            figure = (cell.metadata.get("mystnb") or {}).get("figure") or {}
            name = figure.get("name")
            if not name:
                continue
            where = f"{path.relative_to(ROOT)} cell {number}"
            if name in seen:
                duplicates.append(f"{name}: {seen[name]} and {where}")
            seen[name] = where
    assert not duplicates, duplicates
