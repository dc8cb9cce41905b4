"""Tests of dimedia_course.course.execute: notebooks executed ahead of the build land in jupyter-book's cache."""

from __future__ import annotations

import os

from dimedia_course.course.build import ROOT
from dimedia_course.course.execute import MYST_READER, book_notebooks, execute_notebooks

HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def _page(body: str) -> str:
    return HEADER + "\n# A page\n\n```{code-cell} ipython3\n" + body + "\n```\n"


def _tiny_book(tmp_path):
    tmp_path.mkdir(parents=True)
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: index\nchapters:\n- file: book/theory/ok\n- file: book/demos/slow\n"
        "- file: book/theory/broken\n- file: book/theory/prose\n"
    )
    (tmp_path / "index.md").write_text("# Index\n")
    for folder in ("theory", "demos"):
        (tmp_path / "book" / folder).mkdir(parents=True)
    (tmp_path / "book" / "theory" / "ok.md").write_text(_page("print(1 + 1)"))
    (tmp_path / "book" / "demos" / "slow.md").write_text(_page("import os\nprint(os.environ['DIMEDIA_MARK'])"))
    (tmp_path / "book" / "theory" / "broken.md").write_text(_page("raise ValueError('on purpose')"))
    (tmp_path / "book" / "theory" / "prose.md").write_text("# No code here\n")
    (tmp_path / "book" / "theory" / "unlisted.md").write_text(_page("print(2)"))
    return tmp_path


def test_book_notebooks_are_the_listed_myst_notebooks_demos_first():
    found = [p.relative_to(ROOT).as_posix() for p in book_notebooks(ROOT)]
    assert found[0].startswith("book/demos/") and "book/demos/ddpm_brain.md" in found
    assert "book/theory/flow_matching.md" in found and "book/theory/generative_models.md" in found
    assert "book/exercises/a01_forward_process.md" not in found  # a plain page: its table is a directive
    assert all(p.endswith(".md") for p in found) and len(found) == len(set(found))
    demos = [i for i, p in enumerate(found) if p.startswith("book/demos/")]
    assert demos == list(range(len(demos)))  # every demo before every other page


def test_notebooks_run_in_parallel_into_the_cache_myst_nb_reads(tmp_path):
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    root = _tiny_book(tmp_path / "root")
    cache_path = tmp_path / "cache"
    env = {**os.environ, "DIMEDIA_MARK": "from the build environment"}
    done = execute_notebooks(root, cache_path, env, jobs=2, timeout=120)
    assert sorted(done["executed"]) == ["book/demos/slow.md", "book/theory/ok.md"]
    assert done["failed"] == ["book/theory/broken.md"] and done["cached"] == 0 and done["jobs"] == 2
    cache = get_cache(str(cache_path))
    for name, expected in (("demos/slow.md", "from the build environment"), ("theory/ok.md", "2")):
        path = root / "book" / name
        nb = read_myst_markdown_notebook(path.read_text(), config=MdParserConfig(), add_source_map=True, path=path)
        _, merged = cache.merge_match_into_notebook(nb)  # how myst-nb finds it: by the hash of its code
        assert expected in merged.cells[-1].outputs[0]["text"]
    again = execute_notebooks(root, cache_path, env, jobs=2, timeout=120)
    assert again == {"executed": [], "failed": ["book/theory/broken.md"], "cached": 2, "jobs": 1}
    assert MYST_READER["name"] == "myst_nb_md"
