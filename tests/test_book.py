"""End-to-end tests of the course website: build it, inspect the HTML, open it in headless Chromium.

The build (``python -m dimedia_course.course.build``) executes the demos, so these tests are slow. They
build into ``$DIMEDIA_BOOK_BUILDDIR`` when set, else into the repository root (``_build/``), so the
Jupyter cache of a previous build is reused and unchanged notebooks are not executed again.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from browser import run_chromium

from dimedia_course.course.build import ROOT, html_dir

pytestmark = pytest.mark.slow

DECKS = (
    "intro",
    "ddpm",
    "understanding",
    "sampling",
    "flow_matching",
    "conditioning",
    "architectures",
    "applications",
    "demos",
    "limitations",
)
ASSIGNMENTS = {
    "a01_forward_process": "forward_process.ipynb",
    "a02_ddpm_loss_sampling": "ddpm.ipynb",
    "a03_ddim_inversion": "ddim_inversion.ipynb",
    "a04_guidance": "guidance.ipynb",
    "a05_latent_diffusion": "latent_diffusion.ipynb",
    "a06_anomaly_detection": "anomaly_detection.ipynb",
    "a07_flow_matching": "flow_matching.ipynb",
}
ORGANISERS = ("Yuyang Xue", "Nefeli Gkouti", "Julia Wolleb", "Sotirios A. Tsaftaris")
SEED_LINKS = (
    "https://drive.google.com/file/d/1JOap7m976yL9YG2oG_w2f7-g6FsygcKI",
    "https://github.com/vios-s/ISBI-2024-DiMEDIA-MONAI-Tutorial",
    "https://github.com/heejkoo/Awesome-Diffusion-Models",
)
PAGES = (
    "book/index.html",
    "book/schedule.html",
    "book/slides.html",
    "book/demos/ddpm_brain.html",
    "book/demos/ddim_inversion_cfg.html",
    "book/references.html",
)
# Anything loaded from the network: CDNs of MathJax, reveal.js, thebe, fonts, analytics.
REMOTE_ASSET = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["'](?:https?:)?//""", re.I)
CDN_NAMES = re.compile(
    r"cdn\.jsdelivr|cdnjs|unpkg\.com|googleapis|googletagmanager|google-analytics|mathjax@|polyfill\.io", re.I
)
GRADING_MARKERS = (
    "### BEGIN HIDDEN TESTS",
    "### END HIDDEN TESTS",
    "### BEGIN SOLUTION",
    "### END SOLUTION",
    "BEGIN HIDDEN TESTS",
)


@pytest.fixture(scope="module")
def site() -> Path:
    """Build the website once for this module and return the folder of the HTML."""
    builddir = Path(os.environ.get("DIMEDIA_BOOK_BUILDDIR", ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "dimedia_course.course.build", "--builddir", str(builddir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    log = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, f"website build failed (exit {proc.returncode}):\n{log}"
    html = html_dir(builddir)
    assert (html / "index.html").is_file(), f"no index.html in {html}:\n{log}"
    return html


def _all_html(site: Path) -> list[Path]:
    return [p for p in site.rglob("*.html") if "_sources" not in p.parts]


def test_pages_exist(site):
    for page in PAGES:
        assert (site / page).is_file(), f"missing page {page}"
    # the root index redirects to the landing page
    assert "book/index.html" in (site / "index.html").read_text(encoding="utf-8")


def test_slides_exist_and_are_linked(site):
    slides_page = (site / "book" / "slides.html").read_text(encoding="utf-8")
    for deck in DECKS:
        deck_html = site / "slides" / f"{deck}.html"
        assert deck_html.is_file(), f"missing slide deck {deck}"
        assert f"../slides/{deck}.html" in slides_page, f"slides page does not link {deck}"
        text = deck_html.read_text(encoding="utf-8")
        assert "_static/revealjs/dist/reveal.js" in text and 'class="reveal"' in text
    assert (site / "slides" / "_static" / "revealjs" / "dist" / "reveal.js").is_file()


def test_no_remote_assets_and_local_mathjax(site):
    for page in _all_html(site):
        text = page.read_text(encoding="utf-8", errors="replace")
        remote = REMOTE_ASSET.search(text)
        assert remote is None, f"{page.relative_to(site)} loads a remote asset: {remote.group(0)!r}"
        cdn = CDN_NAMES.search(text)
        assert cdn is None, f"{page.relative_to(site)} mentions a CDN: {cdn.group(0)!r}"
    index = (site / "book" / "index.html").read_text(encoding="utf-8")
    assert "_static/mathjax/tex-chtml.js" in index
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (site / "slides" / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_no_grading_material_published(site):
    for page in _all_html(site):
        text = page.read_text(encoding="utf-8", errors="replace")
        for marker in GRADING_MARKERS:
            assert marker not in text, f"{page.relative_to(site)} contains the nbgrader marker {marker!r}"


def test_landing_page_content(site):
    text = (site / "book" / "index.html").read_text(encoding="utf-8")
    for needle in (
        "Overview",
        "News",
        "Learning objectives",
        "Organising team",
        "Resources",
        "ISBI 2024",
        "Athens",
        "MICCAI 2023",
        "Vancouver",
    ):
        assert needle in text, f"landing page lacks {needle!r}"


def test_schedule_page_renders_both_editions(site):
    text = (site / "book" / "schedule.html").read_text(encoding="utf-8")
    assert text.count('class="dimedia-schedule"') == 2
    assert "Athens, Greece" in text and "Vancouver, Canada" in text
    assert not re.search(r"\d\d:\d\d&ndash;\d\d:\d\d|\d\d:\d\d–\d\d:\d\d", text), "no invented clock times"


def _visible_text(html: str) -> str:
    html = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    return re.sub(r"<[^>]+>", " ", html)


def test_seed_facts_on_the_site(site):
    """Facts of the tutorial pages (shared/seeds): date, the six ISBI blocks and their lengths, organisers, links."""
    landing = (site / "book" / "index.html").read_text(encoding="utf-8")
    for name in ORGANISERS:
        assert name in landing, f"landing page lacks the organiser {name}"
    for link in SEED_LINKS:
        assert link in landing, f"landing page lacks the link {link}"
    assert "28 May 2024" in landing and "Tuesday afternoon" in landing
    schedule = _visible_text((site / "book" / "schedule.html").read_text(encoding="utf-8"))
    assert "Tuesday 28 May 2024, afternoon" in schedule
    isbi = schedule[schedule.index("ISBI 2024, Athens") :]
    blocks = re.findall(
        r"(Part 1: Introduction|Part 2: Advanced topics|Coffee break|Applications in medical imaging|Demonstration|"
        r"Talk and discussion)\s+(\d+) min",
        isbi,
    )
    assert blocks[:6] == [
        ("Part 1: Introduction", "60"),
        ("Part 2: Advanced topics", "30"),
        ("Coffee break", "30"),
        ("Applications in medical imaging", "30"),
        ("Demonstration", "30"),
        ("Talk and discussion", "30"),
    ], blocks
    resources = (site / "book" / "resources.html").read_text(encoding="utf-8")
    assert "Kazerouni" in resources and "Awesome-Diffusion-Models" in resources


def test_no_placeholder_text_anywhere(site):
    for page in _all_html(site):
        text = _visible_text(page.read_text(encoding="utf-8", errors="replace"))
        assert "placeholder" not in text.lower(), f"{page.relative_to(site)} shows placeholder text"


def test_exercise_pages_reachable_with_a_working_download(site):
    landing = (site / "book" / "index.html").read_text(encoding="utf-8")
    assert "exercises/index.html" in landing, "the navigation does not link the exercises"
    index = (site / "book" / "exercises" / "index.html").read_text(encoding="utf-8")
    for assignment, notebook in ASSIGNMENTS.items():
        page_path = site / "book" / "exercises" / f"{assignment}.html"
        assert f"exercises/{assignment}.html" in landing, f"{assignment} is not in the navigation"
        assert f"{assignment}.html" in index
        page = page_path.read_text(encoding="utf-8")
        match = re.search(rf'href="([^"]*_downloads/[^"]*/{re.escape(notebook)})"', page)
        assert match, f"{assignment}: no download link to {notebook}"
        downloaded = (page_path.parent / match.group(1)).resolve()
        assert downloaded.is_file(), f"{assignment}: the download {match.group(1)} is missing from the site"
        assert downloaded.read_bytes() == (ROOT / "exercises" / assignment / notebook).read_bytes()
        assert "Points" in page and "Total" in page


@pytest.mark.parametrize("demo", ["ddpm_brain", "ddim_inversion_cfg"])
def test_demo_pages_executed_with_figures(site, demo):
    text = (site / "book" / "demos" / f"{demo}.html").read_text(encoding="utf-8")
    assert len(re.findall(r"<img[^>]+src=\"[^\"]+\.png\"", text)) >= 3, f"{demo}: expected at least 3 figures"
    assert "Traceback" not in text, f"{demo}: a cell printed a traceback"


# ---------------------------------------------------------------- browser test (headless Chromium)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def server(site):
    """Serve the built site on 127.0.0.1 (a free port) for the duration of the module."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _chromium_run(url: str, tmp_path: Path, *extra: str, budget_ms: int = 15000) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    return run_chromium(url, profile, *extra, budget_ms=budget_ms)


def _run_harness(site, server, tmp_path, name: str, page: str, marker: str, window: str) -> dict:
    """Serve ``page`` (a harness that loads other pages in iframes) as ``name``, open it in headless Chromium and
    return the JSON it writes into its DOM between ``<marker>:`` and ``:END``."""
    import json

    harness = site / name
    harness.write_text(page, encoding="utf-8")
    try:
        proc = _chromium_run(f"{server}/{name}", tmp_path, "--dump-dom", f"--window-size={window}", budget_ms=120000)
    finally:
        harness.unlink()
    found = re.search(marker + r":(\{.*?\}):END", proc.stdout, re.S)
    assert found, f"the harness {name} did not report; stderr:\n{proc.stderr[-1500:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_browser_landing_page_renders_math(server, tmp_path):
    shot = tmp_path / "landing.png"  # one Chromium run writes the DOM and the screenshot
    proc = _chromium_run(
        f"{server}/book/index.html", tmp_path, "--dump-dom", f"--screenshot={shot}", "--window-size=1280,1600"
    )
    dom = proc.stdout
    assert "Learning objectives" in dom, f"landing page not rendered; stderr:\n{proc.stderr[-2000:]}"
    assert "<mjx-container" in dom, "MathJax did not typeset the equation of the landing page"
    assert shot.is_file() and shot.stat().st_size > 20_000


def test_browser_demo_page_shows_figures(server, tmp_path):
    shot = tmp_path / "demo.png"
    url = f"{server}/book/demos/ddpm_brain.html"
    proc = _chromium_run(url, tmp_path, "--dump-dom", f"--screenshot={shot}", "--window-size=1280,1600")
    dom = proc.stdout
    assert "DDPM" in dom, f"demo page not rendered; stderr:\n{proc.stderr[-2000:]}"
    assert len(re.findall(r"<img[^>]+\.png", dom)) >= 3
    assert shot.is_file() and shot.stat().st_size > 20_000


def test_notebook_pages_offer_their_ipynb(site):
    import json

    for page in ("book/theory/ddpm", "book/theory/sampling", "book/demos/ddpm_brain", "book/theory/understanding"):
        html = (site / f"{page}.html").read_text(encoding="utf-8")
        match = re.search(r'<p class="dimedia-notebook-download"><a href="([^"]+\.ipynb)"', html)
        assert match, f"{page}: no notebook download link"
        notebook = (site / f"{page}.html").parent / match.group(1)
        assert notebook.is_file(), f"{page}: {match.group(1)} missing"
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        assert any(c["cell_type"] == "code" for c in cells)
    for page in ("references", "schedule"):  # plain pages (the schedule is rendered by a directive, no kernel)
        assert "dimedia-notebook-download" not in (site / "book" / f"{page}.html").read_text(encoding="utf-8")


# One Chromium session measures every page: a harness page loads each one in turn in a 1400 px wide iframe (same
# origin), waits for its MathJax to finish typesetting and records the display equations wider than the text column.
_MEASURE = """<!DOCTYPE html><html><body style="margin:0"><script>
var pages = %s, out = {}, i = 0;
function next() {
  if (i >= pages.length) {
    var pre = document.createElement("pre");
    pre.textContent = "MEAS" + "URE:" + JSON.stringify(out) + ":E" + "ND";
    document.body.appendChild(pre);
    return;
  }
  var page = pages[i++], frame = document.createElement("iframe");
  frame.width = 1400; frame.height = 900; frame.style.border = "0";
  frame.onload = function () {
    var w = frame.contentWindow, d = frame.contentDocument;
    function measure() {
      var column = d.querySelector("article.bd-article") || d.querySelector("main");
      var limit = column.getBoundingClientRect().width, wide = [];
      var all = d.querySelectorAll('mjx-container[display="true"]');
      all.forEach(function (m) {
        var inner = m.querySelector("mjx-math");
        var width = inner ? inner.getBoundingClientRect().width : m.scrollWidth;
        if (width > limit + 1) { wide.push([Math.round(width), Math.round(limit), m.textContent.slice(0, 50)]); }
      });
      out[page] = {n: all.length, wide: wide};
      frame.remove();
      next();
    }
    if (w.MathJax && w.MathJax.startup && w.MathJax.startup.promise) { w.MathJax.startup.promise.then(measure); }
    else { setTimeout(measure, 3000); }
  };
  frame.src = page;
  document.body.appendChild(frame);
}
window.addEventListener("load", next);
</script></body></html>"""


def test_no_display_equation_wider_than_the_column_at_1400px(site, server, tmp_path):
    import json

    pages = [p for p in _all_html(site) if "math notranslate nohighlight" in p.read_text(encoding="utf-8")]
    pages = [p.relative_to(site).as_posix() for p in pages if "slides" not in p.relative_to(site).parts]
    assert pages, "no page with display equations found"
    result = _run_harness(
        site,
        server,
        tmp_path,
        "_measure_equations.html",
        _MEASURE % json.dumps(["/" + p for p in pages]),
        "MEASURE",
        "1450,950",
    )
    assert sorted(result) == sorted("/" + p for p in pages), "some pages were not measured"
    assert sum(r["n"] for r in result.values()) > 20, {p: r["n"] for p, r in result.items()}  # typeset, not empty
    offenders = {p: r["wide"] for p, r in result.items() if r["wide"]}
    assert not offenders, f"display equations wider than the text column at 1400 px: {offenders}"


def test_browser_slide_deck_starts_revealjs(server, tmp_path):
    proc = _chromium_run(f"{server}/slides/ddpm.html", tmp_path, "--dump-dom")
    dom = proc.stdout
    # reveal.js adds the class "ready" to .reveal once initialised; MathJax typesets the slides
    assert re.search(r'class="[^"]*\breveal\b[^"]*\bready\b', dom), f"reveal.js did not start:\n{proc.stderr[-2000:]}"
    assert "<mjx-container" in dom


# One Chromium session checks every deck: a harness page loads each deck in a 1280x720 iframe (same origin), waits
# for reveal.js and MathJax, visits every slide and records the elements outside the (scaled 960x700) slide box and
# the slides without a speaker note. MathJax glyph boxes are skipped: the formula is measured as its mjx-math.
_SLIDE_CHECK = """<!DOCTYPE html><html><body style="margin:0"><script>
var decks = %s, out = {}, i = 0;
function done() {
  var pre = document.createElement("pre");
  pre.textContent = "SLI" + "DES:" + JSON.stringify(out) + ":E" + "ND";
  document.body.appendChild(pre);
}
function next() {
  if (i >= decks.length) { done(); return; }
  var deck = decks[i++], frame = document.createElement("iframe");
  frame.width = 1280; frame.height = 720; frame.style.border = "0";
  frame.onload = function () {
    var w = frame.contentWindow, d = frame.contentDocument, tries = 0;
    function measure() {
      var R = w.Reveal, slides = R.getSlides(), box = d.querySelector(".reveal .slides");
      var res = {n: slides.length, over: [], nonotes: []};
      slides.forEach(function (s, k) {
        var idx = R.getIndices(s);
        R.slide(idx.h, idx.v);
        var b = box.getBoundingClientRect(), title = (s.querySelector("h1, h2") || {}).textContent || "?";
        var bad = [];
        s.querySelectorAll("*").forEach(function (e) {
          var tag = e.tagName.toLowerCase();
          if (e.closest("aside.notes") || e.closest("mjx-assistive-mml")) { return; }
          if (tag.indexOf("mjx-") === 0 && tag !== "mjx-math") { return; }  // glyph boxes; the formula is mjx-math
          var r = e.getBoundingClientRect();
          if (r.width === 0 && r.height === 0) { return; }
          if (r.left < b.left - 2 || r.top < b.top - 2 || r.right > b.right + 2 || r.bottom > b.bottom + 2) {
            bad.push(tag);
          }
        });
        if (bad.length) { res.over.push([k, title.trim(), bad.slice(0, 3)]); }
        var note = s.querySelector("aside.notes");
        if (!note || !note.textContent.trim()) { res.nonotes.push([k, title.trim()]); }
      });
      out[deck] = res;
      frame.remove();
      next();
    }
    function wait() {
      var ready = w.Reveal && w.Reveal.isReady && w.Reveal.isReady();
      var mj = w.MathJax && w.MathJax.startup && w.MathJax.startup.promise;
      var hasMath = d.querySelector('script[src*="mathjax"]');
      if (ready && !hasMath) { setTimeout(measure, 300); }
      else if (ready && mj) { w.MathJax.startup.promise.then(function () { setTimeout(measure, 300); }); }
      else if (tries++ < 100) { setTimeout(wait, 100); }
      else { out[deck] = {error: "reveal.js or MathJax did not start"}; frame.remove(); next(); }
    }
    wait();
  };
  frame.src = deck;
  document.body.appendChild(frame);
}
window.addEventListener("load", next);
</script></body></html>"""


def test_every_slide_fits_16_9_and_has_speaker_notes(server, site, tmp_path):
    import json

    result = _run_harness(
        site,
        server,
        tmp_path,
        "_measure_slides.html",
        _SLIDE_CHECK % json.dumps([f"/slides/{deck}.html" for deck in DECKS]),
        "SLIDES",
        "1300,760",
    )
    assert sorted(result) == sorted(f"/slides/{deck}.html" for deck in DECKS), "some decks were not checked"
    errors = {d: r["error"] for d, r in result.items() if "error" in r}
    assert not errors, errors
    overfull = {d: r["over"] for d, r in result.items() if r["over"]}
    assert not overfull, f"slides whose content leaves the 16:9 slide at 1280x720: {overfull}"
    silent = {d: r["nonotes"] for d, r in result.items() if r["nonotes"]}
    assert not silent, f"slides without a speaker note: {silent}"
    assert sum(r["n"] for r in result.values()) >= 110 + len(DECKS)  # the title slides come on top


def test_decks_hold_at_least_110_slides():
    sources = [ROOT / "book" / "slides" / f"{deck}.md" for deck in DECKS]
    counts = {p.stem: len(re.findall(r"^## ", p.read_text(encoding="utf-8"), re.M)) for p in sources}
    assert sum(counts.values()) >= 110, counts


_IMAGE = re.compile(r"^```\{image\} (\S+)\n((?::[\w-]+: .*\n)*)```", re.M)


def test_most_slides_carry_a_figure_with_real_alt_text(site):
    """More than half of the content slides (and at least 64) show an image; every image has an alt text of five
    words or more that is not a file name, and every ``_figures/*.png`` a deck uses was drawn by write_slide_figures
    in this build (which empties the generated folder ``book/slides/_figures`` before it draws)."""
    written = {p.name for p in (ROOT / "book" / "slides" / "_figures").glob("*.png")}
    slides, with_figure, problems = 0, {}, []
    for deck in DECKS:
        text = (ROOT / "book" / "slides" / f"{deck}.md").read_text(encoding="utf-8")
        for slide in re.split(r"^(?=## )", text, flags=re.M)[1:]:
            slides += 1
            images = _IMAGE.findall(slide)
            with_figure[deck] = with_figure.get(deck, 0) + bool(images)
            for path, options in images:
                alt = re.search(r"^:alt: (.*)$", options, re.M)
                alt = alt.group(1).strip() if alt else ""
                name = Path(path).stem.replace("_", " ").lower()
                if len(alt.split()) < 5 or re.search(r"\.(png|jpe?g|svg|gif)\b", alt) or alt.lower() == name:
                    problems.append(f"{deck}: {path} has no real alt text: {alt!r}")
                if path.startswith("_figures/") and Path(path).name not in written:
                    problems.append(f"{deck}: {path} is not drawn by write_slide_figures")
    assert not problems, problems
    total = sum(with_figure.values())
    assert total >= 64 and 2 * total > slides, (total, slides, with_figure)


# ---------------------------------------------------------------- self-learner site (issue 19)
_PIPE_ROW = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", re.M)


def test_no_raw_pipe_table_anywhere_and_tables_are_tables(site):
    """A Markdown table that reached the page as text (myst-nb's CommonMark has no tables) shows its `| --- |` row."""
    for page in _all_html(site):
        html = page.read_text(encoding="utf-8", errors="replace")
        text = re.sub(r"(?is)<(pre|code)\b.*?</\1>", " ", html)  # code listings may show pipes on purpose
        text = _visible_text(text).replace("&#8212;", "-")
        assert not _PIPE_ROW.search(text), f"{page.relative_to(site)} shows a raw Markdown pipe table"
    performance = (site / "book" / "beyond" / "performance.html").read_text(encoding="utf-8")
    assert performance.count("<table") >= 2, "the performance page should show its two benchmark tables"
    assert "submissions per minute" in performance and "train step ms" in performance


def test_landing_page_has_a_start_here_path_and_sources(site):
    landing = (site / "book" / "index.html").read_text(encoding="utf-8")
    text = _visible_text(landing)
    assert "Start here" in text and "Prerequisites" in text
    assert "theory/generative_models.html" in landing
    assert "The objectives of each edition" in text
    assert "Learn how to use MONAI Generative Models to train and use diffusion models" in text  # MICCAI's 5th
    assert "Present with demonstrations a software tool within MONAI" in text  # ISBI's 2nd
    assert text.count("Source:") >= 4 and "https://vios.science/tutorials/diffusion-2023" in landing
    # "Next" from the landing page is the first chapter, not the schedule
    nxt = re.search(r'class="right-next"[^>]*href="([^"]+)"|href="([^"]+)"[^>]*class="right-next"', landing)
    assert nxt and "generative_models" in (nxt.group(1) or nxt.group(2)), nxt
    assert "How to cite" in text


def test_student_bundle_is_offered_by_the_site(site):
    import zipfile

    index = (site / "book" / "exercises" / "index.html").read_text(encoding="utf-8")
    assert 'href="../../downloads/dimedia-student-bundle.zip"' in index
    assert "source .ci/setup" not in index
    bundle = site / "downloads" / "dimedia-student-bundle.zip"
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        requirements = archive.read("dimedia-student-bundle/requirements.txt").decode()
        readme = archive.read("dimedia-student-bundle/README.md").decode()
    for assignment, notebook in ASSIGNMENTS.items():
        assert f"dimedia-student-bundle/exercises/{assignment}/{notebook}" in names
    wheel = [n for n in names if n.endswith(".whl")]
    assert len(wheel) == 1 and f"./{wheel[0].rsplit('/', 1)[1]}" in requirements
    assert "jupyterlab==" in requirements and "pytest" not in requirements and "execnet" not in requirements
    assert "download.pytorch.org/whl/cpu" in readme and "jupyter lab exercises/" in readme
    alone = (site / "downloads" / "requirements-student.txt").read_text()
    assert "torch==" in alone and ".whl" not in alone


def test_every_page_has_the_footer_and_exercise_pages_one_notebook_link(site):
    for page in (site / "book").rglob("*.html"):
        html = page.read_text(encoding="utf-8", errors="replace")
        assert 'class="dimedia-footer"' in html, f"{page.relative_to(site)} has no footer"
        assert "CC BY 4.0" in html and "how-to-cite" in html
    for assignment in ASSIGNMENTS:
        html = (site / "book" / "exercises" / f"{assignment}.html").read_text(encoding="utf-8")
        assert "dimedia-notebook-download" not in html, f"{assignment}: a second notebook link above the real one"
