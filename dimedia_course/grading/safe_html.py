"""Feedback pages that are safe to open: student content sanitised, no script from the internet.

A feedback page shows what a student wrote and what their code printed, to the student and to whoever
grades by hand. Before nbconvert renders an autograded notebook, :class:`SanitizeStudentContent` (an
nbconvert preprocessor, run by ``python -m dimedia_course.grading feedback``)

- renders markdown cells to HTML and cleans them, and cleans HTML, markdown and LaTeX outputs with `nh3 <https://nh3.readthedocs.io>`_
  (no ``<script>``, no event handlers, no ``javascript:`` links; the text stays);
- drops outputs a browser would run or render unescaped (JavaScript, SVG, widgets, anything but plain text,
  PNG/JPEG images with valid base64, HTML, markdown and LaTeX), output metadata and cell attachments.

After rendering, :func:`localise_page` removes every script loaded from the internet (nbconvert's jQuery,
require.js and mermaid, which the sanitised page does not need), replaces the MathJax 2 block that loads
from a CDN with MathJax 3 copied beside the page (``mathjax/``, from the ``sphinx-mathjax-offline`` package
the book uses) so formulas render offline, names the test cells of nbgrader's contents list after
their grade ids (instead of "Test cell" five times), and puts a Content Security Policy first in the page's
head (:func:`content_security_policy`): should anything slip through the sanitiser, the browser still runs
no script but the page's own MathJax set-up (allowed by its hash) and MathJax's files beside the page, loads
nothing from the network and sends no form anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

__all__ = [
    "MATHJAX_DIR",
    "SanitizeStudentContent",
    "clean",
    "clean_markdown",
    "content_security_policy",
    "localise_page",
    "sanitise_output",
    "section_name",
]

SAFE_IMAGES = ("image/png", "image/jpeg")
CLEANED = ("text/html", "text/markdown", "text/latex")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
_REMOTE_SCRIPT = re.compile(r"<script[^>]*\ssrc=[\"']?https?://[^>]*>\s*</script>", re.IGNORECASE)
# nbconvert's mermaid loader: an inline module that imports from a CDN
_REMOTE_MODULE = re.compile(
    r"<script[^>]*>(?:(?!</script>).)*\bfrom\s+['\"]https?://(?:(?!</script>).)*</script>", re.DOTALL
)
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
_MATHJAX_BLOCK = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.DOTALL)
MATHJAX_FILES = ("tex-svg.js", "ui/safe.js")
# the page's one inline script (allowed by its hash in the Content Security Policy)
_MATHJAX_SETUP = """
    window.MathJax = {
      loader: {load: ['ui/safe']},
      tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']],
            processEscapes: true},
      svg: {fontCache: 'global'}
    };
    """
_MATHJAX_LOCAL = f"""<!-- MathJax 3, bundled beside this page (no internet needed) -->
    <script>{_MATHJAX_SETUP}</script>
    <script src="mathjax/tex-svg.js" defer></script>"""


def _mathjax_dir() -> Path | None:
    import sysconfig

    for base in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        path = Path(base) / "sphinx-mathjax-offline" / "static" / "mathjax"
        if (path / "tex-svg.js").is_file():
            return path
    return None


MATHJAX_DIR = _mathjax_dir()


def clean(text: str) -> str:
    """``text`` (markdown or an HTML fragment) with every tag and attribute nh3 does not allow removed."""
    import nh3

    return nh3.clean(str(text), link_rel="noopener noreferrer nofollow")


def clean_markdown(source: str) -> str:
    """Markdown rendered to HTML (as nbconvert does, formulas kept for MathJax), then cleaned."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return clean(markdown2html_mistune(str(source)))


def sanitise_output(output) -> bool:
    """Sanitise one code-cell output in place; False when it must be dropped (nothing safe to show)."""
    if output.get("output_type") not in ("execute_result", "display_data"):
        return True  # streams and errors: nbconvert escapes their text
    output["metadata"] = {}  # image width/height and the like are written into tags unescaped
    data = output.get("data", {})
    kept = {}
    for mime, value in data.items():
        text = "".join(value) if isinstance(value, list) else value
        if mime == "text/plain":
            kept[mime] = text
        elif mime == "text/markdown":  # rendered and cleaned here, like a markdown cell
            kept.setdefault("text/html", clean_markdown(text))
        elif mime in CLEANED:
            kept[mime] = clean(text)
        elif mime in SAFE_IMAGES and isinstance(text, str) and _BASE64.fullmatch(text):
            kept[mime] = text
    if not kept:
        kept["text/plain"] = "[output not shown in feedback: " + ", ".join(sorted(data))[:200] + "]"
    output["data"] = kept
    return True


class SanitizeStudentContent(Preprocessor):
    """nbconvert preprocessor: every cell's student-controlled content made safe to render (see module)."""

    enabled = Bool(True).tag(config=True)  # nbconvert's default is off, and nbgrader registers it as is

    def preprocess_cell(self, cell, resources, index):
        cell.pop("attachments", None)
        if cell.cell_type == "markdown":  # rendered here, then cleaned: markdown links can be javascript:
            cell.source = clean_markdown(cell.source)
        elif cell.cell_type == "raw":
            cell.metadata.pop("raw_mimetype", None)
            cell.metadata.pop("format", None)
            cell.source = clean(cell.source)
        elif cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if sanitise_output(o)]
        return cell, resources


_TOC_ENTRY = re.compile(r'<a href="#([A-Za-z0-9_-]+)">Test cell</a>')


def section_name(grade_id: str) -> str:
    """The contents-list name of a test cell: its grade id in words (``test_q_sample`` -> "q sample")."""
    words = grade_id.removeprefix("test_").replace("_", " ").replace("-", " ").strip()
    return f"Test: {words or grade_id}"


def content_security_policy(inline_scripts=()) -> str:
    """The policy of a feedback page: scripts only from the page's own folder (MathJax) and the inline scripts
    given (by their SHA-256, CSP level 2), inline styles and ``data:`` images and fonts (nbconvert's page and
    MathJax's output use them); nothing else, no network, no forms, no frames, no plugins, no ``<base>``."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii") + "'"
        for code in inline_scripts
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}".rstrip()
        + "; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'none'; "
        "frame-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"
    )


def localise_page(html_path) -> None:
    """No script from the internet in a rendered feedback page; MathJax copied beside it; a Content Security
    Policy first in its head (see module)."""
    path = Path(html_path)
    text = path.read_text(encoding="utf-8")
    text = _REMOTE_MODULE.sub("", _REMOTE_SCRIPT.sub("", text))
    text = _TOC_ENTRY.sub(lambda m: f'<a href="#{m.group(1)}">{section_name(m.group(1))}</a>', text)
    if MATHJAX_DIR is not None:
        text = _MATHJAX_BLOCK.sub(lambda _: _MATHJAX_LOCAL, text)
        for name in MATHJAX_FILES:
            target = path.parent / "mathjax" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(MATHJAX_DIR / name, target)
    else:
        text = _MATHJAX_BLOCK.sub("<!-- MathJax not installed: formulas are shown as TeX -->", text)
    own = [_MATHJAX_SETUP] if MATHJAX_DIR is not None else []
    policy = f'<meta http-equiv="Content-Security-Policy" content="{content_security_policy(own)}">'
    text, found = _HEAD.subn(lambda m: m.group(0) + "\n" + policy, text, count=1)
    if not found:
        text = policy + "\n" + text
    path.write_text(text, encoding="utf-8")
