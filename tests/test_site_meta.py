"""Publishing metadata of the course website (fast: no build): CITATION.cff, the CI workflow, the README."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_citation_cff_has_the_required_fields():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "license", "version"):
        assert isinstance(cff.get(key), str) and cff[key], key
    assert cff["authors"] and all("name" in a or "family-names" in a for a in cff["authors"])
    assert cff["license"] == "MIT"  # LICENSE (code); the content licence is named in the abstract
    assert "CC BY 4.0" in cff["abstract"]
    import dimedia_course

    assert cff["version"] == dimedia_course.__version__


def test_workflow_builds_with_the_readme_commands_and_deploys_the_html():
    workflows = list((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows, "no workflow in .github/workflows"
    flow = yaml.safe_load(workflows[0].read_text(encoding="utf-8"))
    steps = [s for job in flow["jobs"].values() for s in job["steps"]]
    runs = [s.get("run", "") for s in steps]
    assert "bash .ci/build" in runs and "bash .ci/run" in runs
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/upload-pages-artifact") for u in uses)
    assert any(u.startswith("actions/deploy-pages") for u in uses)
    assert any(s.get("with", {}).get("path") == "_build/html" for s in steps)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "bash .ci/build" in readme and "bash .ci/run" in readme


def test_no_page_tells_users_to_source_the_setup_script():
    for path in [ROOT / "README.md", *(ROOT / "book").rglob("*.md")]:
        assert "source .ci/setup" not in path.read_text(encoding="utf-8"), f"{path.relative_to(ROOT)}"


def test_published_site_gets_repository_edit_and_issue_buttons(tmp_path):
    """The workflow names the repository; the build's Sphinx extension turns it into sphinx-book-theme's buttons
    (checked in a tiny Sphinx project with the course's theme and extension); a malformed address is a one-line
    error naming the variable; without it (local builds) there are no buttons."""
    import os
    import subprocess
    import sys

    from dimedia_course.course.build import REPOSITORY_ENV, repository_theme_options

    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "site.yml").read_text(encoding="utf-8"))
    build_step = next(s for job in flow["jobs"].values() for s in job["steps"] if s.get("run") == "bash .ci/build")
    assert build_step["env"][REPOSITORY_ENV] == "${{ github.server_url }}/${{ github.repository }}"
    assert repository_theme_options(None) == {} and repository_theme_options("") == {}
    for bad in ("github.com/a/b", "https://github.com/a", "https://github.com/a/b/c", "javascript:alert(1)"):
        try:
            repository_theme_options(bad)
        except ValueError as error:
            assert REPOSITORY_ENV in str(error)
        else:
            raise AssertionError(f"{bad!r} accepted")

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        "extensions = ['dimedia_course.course.build']\nhtml_theme = 'sphinx_book_theme'\n", encoding="utf-8"
    )
    (src / "index.rst").write_text("Page\n====\n\nText.\n", encoding="utf-8")
    url = "https://github.com/example-org/dimedia-course"
    pages = {}
    for name, value in (("with", url), ("without", None)):
        env = {k: v for k, v in os.environ.items() if k != REPOSITORY_ENV}
        if value:
            env[REPOSITORY_ENV] = value
        out = tmp_path / name
        run = subprocess.run(
            [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src), str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        pages[name] = (out / "index.html").read_text(encoding="utf-8")
    assert f'href="{url}"' in pages["with"]
    assert f"{url}/edit/main/index.rst" in pages["with"] and f"{url}/issues/new" in pages["with"]
    assert url not in pages["without"] and "/edit/" not in pages["without"]

    bad = subprocess.run(
        [sys.executable, "-m", "dimedia_course.course.build", "--builddir", str(tmp_path / "b")],
        env={**os.environ, REPOSITORY_ENV: "not a url"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and REPOSITORY_ENV in bad.stderr
