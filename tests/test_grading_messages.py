"""Text from submissions made safe for terminals, logs and spreadsheets; command errors in one line
(dimedia_course.grading.messages and the command line)."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import pytest

from dimedia_course import grading
from dimedia_course.grading.messages import csv_cell, one_line, printable


def test_printable_escapes_control_characters_and_keeps_text():
    forged = "alice\r                good a01 13 / 13 ok\x1b[2K\u202egnp.exe\nnext"
    out = printable(forged)
    assert "\r" not in out and "\x1b" not in out and "\n" not in out and "\u202e" not in out
    assert out.startswith("alice\\x0d") and "\\x1b[2K" in out and "\\u202e" in out
    assert printable("Zoë Müller, a01 (β = 0.02)") == "Zoë Müller, a01 (β = 0.02)"


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_that_a_spreadsheet_would_run_are_text(cell):
    assert csv_cell(cell) == "'" + cell
    assert csv_cell("alice, bob") == "alice, bob" and csv_cell(None) == "" and csv_cell(3.5) == "3.5"


def test_one_line_errors():
    assert one_line(ValueError("bad\nsecond line")) == "error: bad (more lines follow with --traceback)"
    assert one_line(RuntimeError()) == "error: RuntimeError"


def test_typo_in_an_assignment_folder_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "alice" / "a01_forward_procss").mkdir(parents=True)
    assert grading.main(["autograde", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'a01_forward_procss'" in err and "a01_forward_process" in err
    assert "Traceback" not in err


def test_command_errors_are_one_line(tmp_path, capsys):
    assert grading.main(["--root", str(tmp_path), "export", "--to", str(tmp_path / "g.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --db: no gradebook") and len(err.splitlines()) == 1
    assert grading.main(["autograde", str(tmp_path / "nowhere")]) == 1
    assert "submissions:" in capsys.readouterr().err


def test_csv_export_quotes_everything(tmp_path, monkeypatch):
    """A gradebook with one forged student id and one assignment not handed in (nbgrader's API, no grading)."""
    pytest.importorskip("nbgrader")
    from nbgrader.api import Gradebook

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")  # alembic
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(db, grading.settings.COURSE_ID) as gb:
        gb.update_or_create_assignment("a01")
        gb.update_or_create_student('=HYPERLINK("http://evil","x"),bob')
        gb.update_or_create_student("carol")
        gb.add_submission("a01", "carol")
    out = grading.export_grades(tmp_path / "grades.csv", root=tmp_path, db_url=db)
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[0] == '"student_id","assignment","status","timestamp","score","max_score"'
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    by_id = {r["student_id"]: r for r in rows}
    assert by_id['\'=HYPERLINK("http://evil","x"),bob']["status"] == "not submitted"
    assert by_id['\'=HYPERLINK("http://evil","x"),bob']["score"] == ""
    assert by_id["carol"]["status"] == "graded" and float(by_id["carol"]["score"]) == 0.0
