"""Fast tests of dimedia_course.course.build (the full site build is tested in tests/test_book.py)."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from dimedia_course.course import build

ROOT = Path(__file__).resolve().parents[1]


def test_html_dir():
    assert build.html_dir(Path("/tmp/x")) == Path("/tmp/x/_build/html")
    assert build.html_dir() == build.ROOT / "_build" / "html"


def test_build_env_is_headless_and_uses_this_interpreter(tmp_path):
    env = build.build_env(tmp_path)
    assert env["MPLBACKEND"] == "Agg"
    # kernels still show figures: the IPython profile of the build enables the inline backend
    config = Path(env["IPYTHONDIR"]) / "profile_default" / "ipython_kernel_config.py"
    assert "c.IPKernelApp.matplotlib = 'inline'" in config.read_text()
    assert Path(env["IPYTHONDIR"]).is_relative_to(tmp_path)
    assert env["PATH"].split(":")[0] == str(Path(build.sys.executable).parent)


def test_build_kernels_show_inline_figures_and_print_no_localhost_tcp_notice(tmp_path):
    """A kernel started with the build's environment: the figure is an inline PNG, and ipykernel's one-line notice
    about unencrypted TCP (printed once per notebook otherwise) is the only thing silenced."""
    import subprocess

    code = (
        "import nbformat, nbclient\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("
        "'import matplotlib.pyplot as plt; plt.plot([1, 2])')])\n"
        "nbclient.NotebookClient(nb, kernel_name='python3', timeout=120).execute()\n"
        "print(sorted(k for o in nb.cells[0].outputs for k in o.get('data', {})))\n"
    )
    run = subprocess.run([build.sys.executable, "-c", code], env=build.build_env(tmp_path), capture_output=True,
                         text=True, timeout=180)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "image/png" in run.stdout
    assert "without encryption" not in run.stderr, run.stderr[-2000:]


def test_remote_scripts_are_dropped():
    local = SimpleNamespace(filename="_static/x.js", attributes={})
    cdn = SimpleNamespace(filename="https://unpkg.com/thebe.js", attributes={})
    inline = SimpleNamespace(filename=None, attributes={"body": 'const U = "https://unpkg.com/x"'})
    context = {"script_files": [local, cdn, inline]}
    build._drop_remote_scripts(None, "page", "page.html", context, None)
    assert context["script_files"] == [local]


def test_config_is_offline_and_strict():
    config = yaml.safe_load((build.ROOT / "_config.yml").read_text())
    assert config["only_build_toc_files"] is True
    assert config["execute"]["allow_errors"] is False
    assert config["execute"]["execute_notebooks"] == "cache"
    extensions = config["sphinx"]["extra_extensions"]
    assert "sphinx-mathjax-offline" in extensions and "sphinxcontrib.bibtex" in extensions
    assert config["bibtex_bibfiles"] == ["book/references.bib"]
    assert not config["html"]["analytics"]["google_analytics_id"]
    assert not config["launch_buttons"]["binderhub_url"] and not config["launch_buttons"]["colab_url"]


def test_toc_lists_existing_pages():
    toc = yaml.safe_load((build.ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc["parts"]:
        walk(part["chapters"])
    missing = [f for f in files if not (build.ROOT / f"{f}.md").is_file()]
    assert not missing, f"pages listed in _toc.yml but missing: {missing}"
    for must in (
        "book/index",
        "book/schedule",
        "book/slides",
        "book/demos/ddpm_brain",
        "book/demos/ddim_inversion_cfg",
    ):
        assert must in files


def test_missing_slides_conf_fails(tmp_path, capsys):
    (tmp_path / "book" / "slides").mkdir(parents=True)
    assert build.build_slides(tmp_path, tmp_path) == 2
    assert "conf.py" in capsys.readouterr().err


def test_cli_rejects_unknown_options():
    with pytest.raises(SystemExit):
        build.main(["--no-such-option"])


def test_a_change_of_the_package_or_the_pins_drops_cached_outputs(tmp_path):
    """jupyter-cache keys a notebook by its cells only: after a change of the package (or of the pins) the cached
    outputs and Sphinx's doctrees would show other code's results. They are dropped then, and only then."""
    root = tmp_path / "root"
    (root / "dimedia_course" / "checkpoints").mkdir(parents=True)
    (root / "dimedia_course" / "__pycache__").mkdir()
    (root / "dimedia_course" / "m.py").write_text("A = 1\n")
    (root / "dimedia_course" / "checkpoints" / "c.json").write_text("{}\n")
    (root / "requirements.txt").write_text("torch==2.13.0\n")
    build_dir = root / "_build"

    def fill():
        for name in (".jupyter_cache", ".doctrees"):
            (build_dir / name).mkdir(parents=True, exist_ok=True)
            (build_dir / name / "x").write_text("cached")

    fill()
    assert build.drop_stale_outputs(None, root) is True  # no digest yet: nothing known about these outputs
    assert not (build_dir / ".jupyter_cache").exists() and not (build_dir / ".doctrees").exists()
    fill()
    assert build.drop_stale_outputs(None, root) is False and (build_dir / ".jupyter_cache" / "x").is_file()
    (root / "dimedia_course" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"compiled")  # not an input
    assert build.drop_stale_outputs(None, root) is False
    for change in (
        lambda: (root / "dimedia_course" / "m.py").write_text("A = 2\n"),
        lambda: (root / "dimedia_course" / "checkpoints" / "c.json").write_text('{"new": 1}\n'),
        lambda: (root / "requirements.txt").write_text("torch==2.13.0\nnumpy==2.4.6\n"),
    ):
        fill()
        change()
        assert build.drop_stale_outputs(None, root) is True
        assert not (build_dir / ".jupyter_cache").exists() and not (build_dir / ".doctrees").exists()
    assert build.package_digest(ROOT) == build.package_digest(ROOT) and len(build.package_digest(ROOT)) == 64
