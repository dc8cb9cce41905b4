"""Sphinx configuration of the reveal.js slides (built by `python -m dimedia_course.course.build`).

reveal.js comes from the sphinx-revealjs package and MathJax from sphinx-mathjax-offline: the
decks work without internet access.
"""

project = "DiMEDIA slides"
author = "The DiMEDIA course contributors"
copyright = "2024, " + author

extensions = [
    "myst_parser",
    "sphinx_revealjs",
    "sphinx-mathjax-offline",
]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

revealjs_style_theme = "white"
revealjs_static_path = ["_static"]
revealjs_css_files = ["dimedia-slides.css"]
revealjs_script_conf = {
    "controls": True,
    "progress": True,
    "hash": True,
    "center": True,
    "transition": "none",
}
revealjs_script_plugins = [
    {"name": "RevealNotes", "src": "revealjs/plugin/notes/notes.js"},
]
