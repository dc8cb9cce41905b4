"""The website's data directives (dimedia_course.course.directives), in a tiny Sphinx project with MyST pages."""

from __future__ import annotations

import re
import subprocess
import sys

import nbformat

from dimedia_course.course.build import ROOT
from dimedia_course.course.exercises import index_table, parts_table, release_notebook
from dimedia_course.course.schedule import load_schedule, render_html

CONF = "extensions = ['myst_parser', 'dimedia_course.course.build']\nmyst_enable_extensions = ['colon_fence']\n"


def _build(tmp_path, page: str, *options: str):
    src = tmp_path / "src"
    src.mkdir(parents=True)
    (src / "conf.py").write_text(CONF, encoding="utf-8")
    (src / "index.md").write_text(page, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-W", *options, "-b", "html", str(src), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    html = (tmp_path / "out" / "index.html").read_text(encoding="utf-8") if run.returncode == 0 else ""
    return run, html


def test_directives_render_the_tables_of_the_course_data(tmp_path):
    page = (
        "# Page\n\n```{exercise-parts} a01_forward_process\n```\n\n"
        "```{exercise-index}\na01_forward_process: Forward process\na07_flow_matching: Flow matching\n```\n\n"
        "```{course-schedule} isbi2024\n:slides-base: ../slides/\n```\n"
    )
    run, html = _build(tmp_path, page)
    assert run.returncode == 0, run.stderr[-2000:]
    assert parts_table("a01_forward_process") in html
    assert index_table({"a01_forward_process": "Forward process", "a07_flow_matching": "Flow matching"}) in html
    assert render_html(load_schedule(), "isbi2024", slides_base="../slides/") in html
    # oracle: one row per graded cell of the release notebook, read here with nbformat alone
    cells = nbformat.read(str(release_notebook("a01_forward_process")), as_version=4).cells
    graded = [c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    table = html[html.index(parts_table("a01_forward_process")[:40]) :]
    assert len(re.findall(r"<tr><td>\d+</td>", table[: table.index("</table>")])) == len(graded)


def test_bad_arguments_are_one_line_errors_naming_the_directive(tmp_path):
    """Three bad directives on one page (lines 3, 6, 10): Sphinx (-W --keep-going) names each with its line."""
    page = (
        "# Page\n\n```{exercise-parts} a99_missing\n```\n\n"
        "```{exercise-index}\na01_forward_process Forward\n```\n\n"
        "```{course-schedule} no_such_edition\n```\n"
    )
    run, _ = _build(tmp_path, page, "--keep-going")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    for line, words in ((3, ("exercise-parts", "a99_missing")), (6, ("exercise-index", "ASSIGNMENT: title")),
                        (10, ("course-schedule", "no_such_edition"))):  # fmt: skip
        message = [ln for ln in run.stderr.splitlines() if f"index.md:{line}:" in ln]
        assert len(message) == 1 and all(w in message[0] for w in words), run.stderr[-2000:]


def test_pages_that_only_show_course_data_start_no_kernel():
    """The schedule and the exercise pages are plain MyST pages (no kernelspec): a clean build starts no kernel
    for them."""
    from dimedia_course.course.execute import book_notebooks

    notebooks = {p.relative_to(ROOT).as_posix() for p in book_notebooks(ROOT)}
    plain = ["book/schedule.md", "book/exercises/index.md"] + [
        f"book/exercises/{p.parent.name}.md" for p in sorted((ROOT / "exercises").glob("a0*/*.ipynb"))
    ]
    assert len(plain) == 9 and not notebooks & set(plain)
    for page in plain:
        text = (ROOT / page).read_text(encoding="utf-8")
        assert "code-cell" not in text and "kernelspec" not in text, page
