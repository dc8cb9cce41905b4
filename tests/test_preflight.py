"""The instructor preflight (dimedia_course.course.preflight) reports every check and says what to fix."""

from dimedia_course.course import preflight


def test_preflight_passes_in_the_course_environment(capsys):
    assert preflight.main([]) == 0
    out = capsys.readouterr().out
    for name in ("python", "versions", "device", "data", "training step", "sampling"):
        assert f"] {name}:" in out
    assert "ready for the course" in out


def test_wrong_pin_and_missing_file_fail_with_a_fix(tmp_path, capsys):
    req = tmp_path / "requirements.txt"
    req.write_text("torch==0.0.1\nno-such-package-xyz==1.0\n# comment\n")
    check = preflight.check_versions(req)
    assert not check.ok and "torch" in check.detail and "no-such-package-xyz missing" in check.detail
    assert "pip install -r" in check.fix
    assert not preflight.check_versions(tmp_path / "absent.txt").ok
    assert not preflight.check_python((3, 8)).ok and preflight.check_python((3, 11)).ok
    assert preflight.main(["--requirements", str(req)]) == 1
    assert "fix: pip install -r" in capsys.readouterr().out
