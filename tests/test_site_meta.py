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
