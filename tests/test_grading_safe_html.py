"""Feedback pages safe to open (dimedia_course.grading.safe_html): one crafted notebook rendered once."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nh3")

from dimedia_course.grading.safe_html import MATHJAX_DIR, SanitizeStudentContent, localise_page  # noqa: E402

ATTACKS = {
    "markdown": "# Notes $x_t$\n<script>alert('md')</script><img src=x onerror=\"alert('img')\">"
    " [link](javascript:alert('link')) <a href='https://example.org' onclick='alert(1)'>ok</a>",
    "text/html": "<b>bold</b><script>alert('html')</script><iframe src='https://evil.example'></iframe>",
    "image/svg+xml": "<svg onload=\"alert('svg')\"></svg>",
    "application/javascript": "alert('js')",
    "text/latex": "$x$<script>alert('latex')</script>",
    "image/png": "AAAA\"><script>alert('png')</script>",
}


class _Tags(HTMLParser):
    """Every tag with its attributes, and the text of every script."""

    def __init__(self):
        super().__init__()
        self.tags, self.scripts, self._in_script = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(ATTACKS["markdown"]))
    code = nbformat.v4.new_code_cell("show()")
    for mime in ("text/html", "image/svg+xml", "application/javascript", "text/latex", "image/png"):
        code.outputs.append(
            nbformat.v4.new_output("display_data", data={mime: ATTACKS[mime]}, metadata={mime: {"width": "1 onload=x"}})
        )
    code.outputs.append(nbformat.v4.new_output("stream", name="stdout", text="<script>alert('stream')</script>\n"))
    nb.cells.append(code)
    exporter = HTMLExporter(template_name="classic")
    exporter.register_preprocessor(SanitizeStudentContent)  # as nbgrader does: enabled by default
    html, _ = exporter.from_notebook_node(nb)
    path = tmp_path_factory.mktemp("feedback") / "student" / "a01" / "page.html"
    path.parent.mkdir(parents=True)
    path.write_text(html, encoding="utf-8")
    localise_page(path)
    return path


def test_student_markdown_and_outputs_are_sanitised(page):
    html = page.read_text(encoding="utf-8")
    body = html[html.index("<body") :]
    parsed = _Tags()
    parsed.feed(html)
    assert not any("alert" in script for script in parsed.scripts)
    for tag, attrs in parsed.tags:
        assert tag not in ("iframe", "svg", "object", "embed"), tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not any(str(v).strip().lower().startswith("javascript:") for v in attrs.values()), (tag, attrs)
    assert "<b>bold</b>" in body and 'href="https://example.org"' in body  # harmless HTML stays
    assert "Notes" in body and "$x_t$" in body  # the text and the formula stay
    assert "output not shown in feedback" in body  # SVG and JavaScript dropped, saying so
    assert "&lt;script&gt;alert(&#39;stream&#39;)" in body or "&lt;script&gt;" in body  # printed text escaped


def test_no_script_from_the_internet_and_mathjax_beside_the_page(page):
    html = page.read_text(encoding="utf-8")
    assert "cdnjs" not in html and 'src="http' not in html
    if MATHJAX_DIR is not None:
        assert 'src="mathjax/tex-svg.js"' in html
        assert (page.parent / "mathjax" / "tex-svg.js").stat().st_size > 1_000_000
        assert (page.parent / "mathjax" / "ui" / "safe.js").is_file()


def test_contents_list_names_each_test_cell(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        '<ul><li><a href="#test_q_sample">Test cell</a> (Score: 3.0 / 3.0)</li>'
        '<li><a href="#test_alphas_cumprod">Test cell</a> (Score: 0.0 / 2.0)</li></ul>',
        encoding="utf-8",
    )
    localise_page(page)
    text = page.read_text(encoding="utf-8")
    assert "Test cell" not in text and ">Test: q sample</a>" in text and ">Test: alphas cumprod</a>" in text


def _injected_page(tmp_path):
    """A rendered page with what a sanitiser bug would let through: an inline script and a remote image."""
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# Notes $x_t^2$"))
    exporter = HTMLExporter(template_name="classic")
    exporter.register_preprocessor(SanitizeStudentContent)
    html, _ = exporter.from_notebook_node(nb)
    html = html.replace(
        "</body>",
        "<script>document.body.setAttribute('data-pwned', '1')</script><img src='https://example.org/x.png'></body>",
    )
    path = tmp_path / "page.html"
    path.write_text(html, encoding="utf-8")
    localise_page(path)
    return path


def test_policy_comes_first_and_allows_only_the_pages_own_inline_script(tmp_path):
    import base64
    import hashlib
    import re

    html = _injected_page(tmp_path).read_text(encoding="utf-8")
    head = html[html.index("<head") :]
    first = re.search(r"<head[^>]*>\s*(<[^>]+>)", head).group(1)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', first).group(1)
    assert "default-src 'none'" in policy and "form-action 'none'" in policy and "connect-src 'none'" in policy
    allowed = set(re.findall(r"'sha256-([^']+)'", policy))
    parsed = _Tags()
    parsed.feed(html)
    digests = {base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in parsed.scripts if s.strip()}
    injected = base64.b64encode(hashlib.sha256(b"document.body.setAttribute('data-pwned', '1')").digest()).decode()
    assert injected in digests and injected not in allowed  # the injected script is in the page, not allowed
    assert allowed == (digests - {injected} if MATHJAX_DIR is not None else set())


def test_in_a_browser_a_script_past_the_sanitiser_does_not_run_and_mathjax_does(tmp_path):
    import re

    from browser import run_chromium

    page = _injected_page(tmp_path)

    def body(path, profile):
        dom = run_chromium(path.as_uri(), tmp_path / profile, "--dump-dom", budget_ms=10000, timeout=120).stdout
        return re.search(r"<body[^>]*>", dom).group(0), dom

    tag, dom = body(page, "p1")
    assert "data-pwned" not in tag, "the policy did not stop the injected script"
    if MATHJAX_DIR is not None:
        assert "<mjx-container" in dom, "MathJax did not typeset under the policy"
    control = tmp_path / "control" / "page.html"  # the same page without the policy: the script runs
    control.parent.mkdir()
    control.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page.read_text()), "utf-8")
    assert 'data-pwned="1"' in body(control, "p2")[0]
