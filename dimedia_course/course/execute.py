"""Execute the book's notebooks a few at a time, into the Jupyter cache that ``jupyter-book build`` then reads.

Jupyter Book 1.x (myst-nb, ``execute_notebooks: cache``) executes the notebooks it does not find in its cache one
after the other, while it reads the pages. On a machine with several cores most of a clean build is that wait.
:func:`execute_notebooks` runs first and fills the same cache (jupyter-cache, the library myst-nb uses) with
one kernel per core: each notebook is added to the cache's project with myst-nb's own reader
(``myst_nb_md``), so the build finds it by the same hash and does not execute it again. A notebook that fails
here is simply not cached: the build executes it again and reports the error as it always does.

This module is course infrastructure, not a diffusion-model concept, so it cites no paper.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

__all__ = ["book_notebooks", "execute_notebooks"]

#: The reader myst-nb registers with jupyter-cache for MyST Markdown notebooks.
MYST_READER = {"type": "plugin", "name": "myst_nb_md"}


def book_notebooks(root: Path) -> list[Path]:
    """The MyST Markdown notebooks listed in ``<root>/_toc.yml``: the demos (``book/demos``, which train and
    sample) first, then the others, each group longest source first, so the slow ones start at once."""
    from myst_nb.core.read import is_myst_markdown_notebook
    from sphinx_external_toc.parsing import parse_toc_yaml

    site = parse_toc_yaml(Path(root) / "_toc.yml")
    paths = [Path(root) / f"{doc}.md" for doc in site]  # a SiteMap maps each docname to its entry
    found = [p for p in paths if p.is_file() and is_myst_markdown_notebook(p.read_text(encoding="utf-8"))]
    return sorted(found, key=lambda p: (p.parent.name != "demos", -p.stat().st_size))


def _execute_one(cache_path: str, pk: int, timeout: int, env: dict) -> bool:
    """Worker process: execute one project notebook with jupyter-cache's serial executor (which caches it)."""
    os.environ.update(env)
    from jupyter_cache import get_cache
    from jupyter_cache.executors import load_executor

    cache = get_cache(cache_path)
    result = load_executor("local-serial", cache=cache).run_and_cache(filter_pks=[pk], timeout=timeout)
    return bool(result.succeeded)


def execute_notebooks(root: Path, cache_path: Path, env: dict, jobs: int | None = None, timeout: int = 900) -> dict:
    """Execute the notebooks of :func:`book_notebooks` that ``cache_path`` does not hold yet, ``jobs`` at a time
    (default: the number of CPU cores), each in the working folder of its page and with ``env`` (the build's
    environment). Returns ``{"executed": [...], "failed": [...], "cached": n, "jobs": j}`` with paths relative to
    ``root`` and ``j`` the number of notebooks that ran at a time."""
    from jupyter_cache import get_cache

    root = Path(root).resolve()
    cache = get_cache(str(cache_path))
    records = {path: cache.add_nb_to_project(str(path), read_data=MYST_READER) for path in book_notebooks(root)}
    stale = {record.pk for record in cache.list_unexecuted(filter_pks=[r.pk for r in records.values()])}
    todo = [path for path, record in records.items() if record.pk in stale]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    out = {"executed": [], "failed": [], "cached": len(records) - len(todo), "jobs": jobs}
    if not todo:
        return out
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {path: pool.submit(_execute_one, str(cache_path), records[path].pk, timeout, env) for path in todo}
        for path, future in futures.items():
            out["executed" if future.result() else "failed"].append(str(path.relative_to(root)))
    return out
