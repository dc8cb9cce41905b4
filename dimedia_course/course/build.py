"""Build the course website: the Jupyter Book (with executed demos) and the reveal.js slides.

Usage::

    python -m dimedia_course.course.build [--no-slides] [--builddir DIR] [--root DIR] [--jobs N]

The website goes to ``DIR/_build/html`` (default ``DIR`` = the repository root, so
``_build/html/index.html``):

1. The notebooks the cache does not hold are executed, one per CPU core (``--jobs``), into the cache that
   jupyter-book reads (:mod:`dimedia_course.course.execute`); then
   ``jupyter-book build <root> --path-output DIR -W --keep-going``: every warning and every failing
   notebook cell fails the build (non-zero exit status, propagated). Executed notebooks are cached
   in ``DIR/_build/.jupyter_cache``: unchanged demos are not re-run, as long as the package and the pinned
   versions are unchanged too (a change of either empties the cache and the doctrees: :func:`drop_stale_outputs`).
2. ``sphinx-build -b revealjs book/slides DIR/_build/html/slides -W --keep-going``: one reveal.js
   deck per part of the course; reveal.js and MathJax are served from the build, never from a CDN.
3. The student bundle (:func:`dimedia_course.grading.bundle.write_bundle`) and its requirements file go to
   ``DIR/_build/html/downloads/``, linked from the exercises page.

The build runs headless (``MPLBACKEND=Agg``) and executes notebooks with the ``python3`` kernel of
the interpreter running this module (its ``bin`` directory comes first on ``PATH``).

This module is course infrastructure, not a diffusion-model concept, so it cites no paper.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["ROOT", "html_dir", "build_env", "build_book", "build_slides", "publish_downloads", "main", "setup"]

#: Repository root (the Jupyter Book root: _config.yml and _toc.yml live here).
ROOT = Path(__file__).resolve().parents[2]


def html_dir(builddir: Path | None = None, root: Path = ROOT) -> Path:
    """Folder of the built website for a given ``--builddir`` (``<builddir>/_build/html``)."""
    return Path(builddir if builddir is not None else root).resolve() / "_build" / "html"


def _kernel_profile(builddir: Path | None, root: Path = ROOT) -> Path:
    """An IPython directory whose kernels start with the inline matplotlib backend.

    ``MPLBACKEND=Agg`` (headless) is inherited by the notebook kernels, and ipykernel then keeps
    Agg, which never displays figures: pages would silently lose them. A kernel config that
    enables ``inline`` makes every figure of the demos and chapters appear in the HTML.
    """
    ipython_dir = html_dir(builddir, root).parent / ".ipython"
    profile = ipython_dir / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "ipython_kernel_config.py").write_text(
        "# Written by dimedia_course.course.build: figures render inline even with MPLBACKEND=Agg.\n"
        "c.IPKernelApp.matplotlib = 'inline'\n"
        "c.InlineBackend.figure_formats = {'png'}\n"
        "c.InlineBackend.rc = {'figure.dpi': 100}\n"
        "# The build's kernels talk to it over localhost: ipykernel's notice that TCP is unencrypted (meant for\n"
        "# remote kernels) would print once per notebook. Only that one message is dropped.\n"
        "import logging\n"
        "class _NoLocalTcpNotice(logging.Filter):\n"
        "    def filter(self, record):\n"
        "        return 'running over TCP without encryption' not in record.getMessage()\n"
        "logging.getLogger('IPKernelApp').addFilter(_NoLocalTcpNotice())\n"
    )
    return ipython_dir


def build_env(builddir: Path | None = None, root: Path = ROOT) -> dict:
    """Environment for the build: headless matplotlib, this interpreter's kernel, package importable."""
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["IPYTHONDIR"] = str(_kernel_profile(builddir, root))
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    # One thread per process: much faster than 2 when the 2 cores are shared (0.56 s vs 3.8 s per training step).
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    return env


def _tool(name: str) -> str:
    """Path of a console script installed next to this interpreter (else found on PATH)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name}: not found next to {sys.executable} nor on PATH; install the requirements")
    return found


#: What the notebooks' outputs depend on besides their own code: the package (code, configs, checkpoints and their
#: records) and the pinned library versions. jupyter-cache keys a notebook by its cells only.
_OUTPUT_INPUTS = (
    "dimedia_course/**/*.py",
    "dimedia_course/**/*.yaml",
    "dimedia_course/checkpoints/*",
    "requirements.txt",
)


def package_digest(root: Path = ROOT) -> str:
    """SHA-256 over the files of ``_OUTPUT_INPUTS`` under ``root`` (paths and bytes, in sorted order)."""
    import hashlib

    root = Path(root).resolve()
    files = sorted({p for pattern in _OUTPUT_INPUTS for p in root.glob(pattern) if p.is_file()})
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def drop_stale_outputs(builddir: Path | None = None, root: Path = ROOT) -> bool:
    """Empty the build's notebook cache and Sphinx's doctrees when the package or the pins changed since they were
    made (:func:`package_digest`, kept in ``_build/.package-digest``), so that no page shows outputs of other code:
    jupyter-cache would reuse a notebook whose cells did not change, and Sphinx would not re-read its page.
    Returns whether anything was dropped."""
    build = html_dir(builddir, root).parent
    stamp, digest = build / ".package-digest", package_digest(root)
    previous = stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else None
    dropped = False
    if previous != digest:
        for folder in (build / ".jupyter_cache", build / ".doctrees"):
            if folder.exists():
                shutil.rmtree(folder)
                dropped = True
        build.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest + "\n", encoding="utf-8")
    return dropped


def build_book(root: Path = ROOT, builddir: Path | None = None, jobs: int | None = None) -> int:
    """Execute the notebooks ``jobs`` at a time into the build's cache (:mod:`dimedia_course.course.execute`;
    default: one per CPU core), then run ``jupyter-book build`` warning-free (``-W --keep-going``); return its exit
    status."""
    root = Path(root).resolve()
    from dimedia_course.course.execute import execute_notebooks

    env = build_env(builddir, root)
    if drop_stale_outputs(builddir, root):
        print("notebook cache and doctrees dropped: the package or the pinned versions changed", flush=True)
    done = execute_notebooks(root, html_dir(builddir, root).parent / ".jupyter_cache", env, jobs=jobs)
    print(
        f"notebooks: {len(done['executed'])} executed ({done['jobs']} at a time), {done['cached']} cached, "
        f"{len(done['failed'])} failed (the build runs those again and reports their errors)",
        flush=True,
    )
    cmd = [_tool("jupyter-book"), "build", str(root), "-W", "--keep-going"]
    if builddir is not None:
        cmd += ["--path-output", str(Path(builddir).resolve())]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=root, env=env)


def build_slides(root: Path = ROOT, builddir: Path | None = None) -> int:
    """Build the reveal.js slides from ``book/slides`` into ``<builddir>/_build/html/slides``; return the status."""
    root = Path(root).resolve()
    source = root / "book" / "slides"
    if not (source / "conf.py").is_file():
        print(f"error: {source / 'conf.py'} is missing: no slides to build", file=sys.stderr)
        return 2
    from dimedia_course.course.slide_figures import write_slide_figures

    # generated and git-ignored: emptied first, so a deck that names a figure the code no longer draws fails (-W)
    shutil.rmtree(source / "_figures", ignore_errors=True)
    write_slide_figures(source / "_figures", root / "book" / "applications" / "figures")
    out = html_dir(builddir, root) / "slides"
    doctrees = out.parent.parent / ".doctrees-slides"
    cmd = [
        _tool("sphinx-build"),
        "-b",
        "revealjs",
        "-W",
        "--keep-going",
        "-q",
        "-d",
        str(doctrees),
        str(source),
        str(out),
    ]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=root, env=build_env(builddir, root))


def _is_remote(script) -> bool:
    """True for a page script that would be fetched from the internet (a URL or an inline URL)."""
    filename = str(getattr(script, "filename", script) or "")
    body = str(getattr(script, "attributes", {}).get("body", ""))
    return filename.startswith(("http://", "https://", "//")) or "https://" in body or "http://" in body


def _drop_remote_scripts(app, pagename, templatename, context, doctree) -> None:
    """Sphinx ``html-page-context`` hook: keep the website fully offline.

    sphinx-thebe (always loaded by Jupyter Book) writes the URL of its CDN bundle into every page
    even when launch buttons are off; the course has no launch buttons, so the script is dropped.
    """
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _is_remote(s)]


def _is_notebook_page(app, pagename: str) -> bool:
    """A MyST markdown notebook (jupytext front matter with a kernelspec) or an .ipynb page."""
    try:
        source = Path(app.env.doc2path(pagename))
    except Exception:  # noqa: BLE001 - generated pages (search, genindex) have no source
        return False
    if source.suffix == ".ipynb":
        return True
    return source.suffix == ".md" and source.is_file() and "kernelspec:" in source.read_text(encoding="utf-8")[:800]


def _add_notebook_download(app, pagename, templatename, context, doctree) -> None:
    """Sphinx ``html-page-context`` hook: every notebook page links its own .ipynb (written at build-finished)."""
    if doctree is None or "body" not in context or not _is_notebook_page(app, pagename):
        return
    if pagename.startswith("book/exercises/a"):  # an exercise page links the student notebook instead
        return
    href = context["pathto"](f"_sources/{pagename}.ipynb", 1)
    name = pagename.rsplit("/", 1)[-1]
    link = (
        f'<p class="dimedia-notebook-download"><a href="{href}" download="{name}.ipynb">'
        "Download this page as a Jupyter notebook (.ipynb)</a></p>"
    )
    context["body"] = link + context["body"]


def _add_footer(app, pagename, templatename, context, doctree) -> None:
    """Sphinx ``html-page-context`` hook: licence, source of the page and how to cite, at the end of every page
    (the theme drops Jupyter Book's ``extra_footer``)."""
    if "body" not in context:
        return
    home = context["pathto"]("book/index")
    source = ""
    if doctree is not None and context.get("sourcename"):
        href = context["pathto"](f"_sources/{context['sourcename']}", 1)
        source = f' &middot; <a href="{href}">source of this page</a>'
    context["body"] = context["body"] + (
        '<footer class="dimedia-footer"><p>DiMEDIA open course. Code: MIT licence; text, figures and slides: '
        '<a href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>'
        f'{source} &middot; <a href="{home}#how-to-cite">how to cite</a> &middot; built offline: no analytics, '
        "no external scripts.</p></footer>"
    )


def _write_notebooks(app, exception) -> None:
    """Sphinx ``build-finished`` hook: write the .ipynb of every notebook page next to its HTML sources."""
    if exception is not None or app.builder.format != "html":
        return
    import jupytext

    for pagename in sorted(d for d in app.env.found_docs if _is_notebook_page(app, d)):
        source = Path(app.env.doc2path(pagename))
        target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        notebook = jupytext.read(source)
        notebook.metadata.pop("jupytext", None)
        jupytext.write(notebook, target, fmt="ipynb")


#: The course's public repository (``https://HOST/OWNER/NAME``): set, the theme shows its repository,
#: "suggest edit" and "open issue" buttons on every page. The site workflow (``.github/workflows/site.yml``) sets
#: it from GitHub's own variables, so the buttons point at wherever the course is published; local builds and
#: forks without it get no buttons (the course has no address of its own to write into ``_config.yml``).
REPOSITORY_ENV = "DIMEDIA_REPOSITORY_URL"
_REPOSITORY_URL = re.compile(r"https://[A-Za-z0-9.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def repository_theme_options(url: str | None, branch: str = "main") -> dict:
    """The sphinx-book-theme options of the repository buttons for ``url`` (``{}`` when ``url`` is empty): the
    repository, edit-this-page (the pages' sources sit at the repository root) and issue buttons. A ``url`` that is
    not ``https://HOST/OWNER/NAME`` is a ``ValueError`` naming :data:`REPOSITORY_ENV`."""
    if not url:
        return {}
    url = url.rstrip("/")
    if not _REPOSITORY_URL.fullmatch(url):
        raise ValueError(f"{REPOSITORY_ENV}: expected https://HOST/OWNER/NAME, got {url!r}")
    return {
        "repository_url": url,
        "repository_branch": branch,
        "path_to_docs": "",
        "use_repository_button": True,
        "use_edit_page_button": True,
        "use_issues_button": True,
    }


def _repository_buttons(app, config) -> None:
    """Sphinx ``config-inited`` hook: add :func:`repository_theme_options` of :data:`REPOSITORY_ENV`."""
    options = repository_theme_options(os.environ.get(REPOSITORY_ENV))
    if options:
        config.html_theme_options = {**(config.html_theme_options or {}), **options}


def setup(app):
    """Sphinx extension hook (listed in ``_config.yml``): strip remote scripts from every page, add the repository
    buttons when :data:`REPOSITORY_ENV` names the repository, register the author-year bibliography style
    (:mod:`dimedia_course.course.bibstyle`) and the directives that render course data without a kernel
    (:mod:`dimedia_course.course.directives`)."""
    from dimedia_course.course import bibstyle, directives

    bibstyle.register()
    directives.register(app)
    app.connect("config-inited", _repository_buttons)
    app.connect("html-page-context", _drop_remote_scripts, priority=900)
    app.connect("html-page-context", _add_notebook_download)
    app.connect("html-page-context", _add_footer)
    app.connect("build-finished", _write_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": False}


def publish_downloads(builddir: Path | None = None, root: Path = ROOT) -> Path:
    """Put the student bundle on the site: ``<html>/downloads/dimedia-student-bundle.zip`` (release notebooks,
    the package wheel, trimmed pinned requirements, a README) and its ``requirements.txt`` on its own
    (``<html>/downloads/requirements-student.txt``). Returns the downloads folder."""
    import zipfile

    from dimedia_course.grading.bundle import BUNDLE_NAME, write_bundle

    out = html_dir(builddir, root) / "downloads"
    bundle = write_bundle(out, root)
    with zipfile.ZipFile(bundle) as archive:
        pins = archive.read(f"{BUNDLE_NAME}/requirements.txt").decode("utf-8").splitlines()
    # On its own (without the bundle's wheel next to it) the file lists the pinned packages only.
    (out / "requirements-student.txt").write_text("\n".join(p for p in pins if not p.startswith("./")) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the first non-zero exit status of the steps (0 on success)."""
    parser = argparse.ArgumentParser(prog="python -m dimedia_course.course.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-slides", action="store_true", help="skip the reveal.js slides")
    parser.add_argument(
        "--builddir",
        type=Path,
        default=None,
        help="output folder: the site goes to DIR/_build/html (default: the root)",
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="book root with _config.yml and _toc.yml")
    parser.add_argument("--jobs", type=int, default=None, help="notebooks executed at a time (default: CPU cores)")
    args = parser.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be a positive integer, got {args.jobs}")
    try:
        repository_theme_options(os.environ.get(REPOSITORY_ENV))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    os.environ["MPLBACKEND"] = "Agg"
    rc = build_book(args.root, args.builddir, args.jobs)
    if rc != 0:
        print(f"error: jupyter-book build failed with exit status {rc}", file=sys.stderr)
    if not args.no_slides:
        rc_slides = build_slides(args.root, args.builddir)
        if rc_slides != 0:
            print(f"error: slides build failed with exit status {rc_slides}", file=sys.stderr)
        rc = rc or rc_slides
    if rc == 0:
        print(f"Student bundle on the site: {publish_downloads(args.builddir, args.root)}", flush=True)
    if rc == 0:
        print(f"Built the course website: {html_dir(args.builddir, args.root) / 'index.html'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
