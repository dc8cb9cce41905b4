"""Tests for dimedia_course.course.schedule (the schedule page's data and renderer)."""

import copy

import pytest

from dimedia_course.course import schedule as cs


@pytest.fixture()
def data():
    return cs.load_schedule()


def _minimal():
    return {
        "editions": [
            {
                "id": "x",
                "title": "T",
                "event": "E",
                "city": "C",
                "country": "K",
                "date": "2024-05-27",
                "sessions": [
                    {"start": "09:00", "end": "10:00", "minutes": 60, "title": "A", "kind": "talk", "topics": ["a|b"]},
                    {"start": "10:00", "end": "10:30", "minutes": 30, "title": "Break", "kind": "break"},
                ],
            }
        ]
    }


def test_shipped_schedule_has_both_editions(data):
    ids = [e["id"] for e in data["editions"]]
    assert ids == ["miccai2023", "isbi2024"]
    cities = {e["id"]: e["city"] for e in data["editions"]}
    assert cities == {"miccai2023": "Vancouver", "isbi2024": "Athens"}


def test_parse_time():
    assert cs.parse_time("00:00") == 0
    assert cs.parse_time("13:30") == 810
    for bad in ["24:00", "9:00", "12:60", "noon", 810]:
        with pytest.raises(cs.ScheduleError, match="HH:MM"):
            cs.parse_time(bad)


def test_validate_accepts_minimal():
    assert cs.validate_schedule(_minimal())["editions"][0]["id"] == "x"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("editions"), "editions"),
        (lambda d: d["editions"][0].pop("city"), "missing key.*city"),
        (lambda d: d["editions"][0]["sessions"][0].pop("minutes"), "missing key.*minutes"),
        (lambda d: d["editions"][0]["sessions"][0].pop("end"), "both start and end"),
        (lambda d: d["editions"][0]["sessions"][0].update(minutes=0), "positive number of minutes"),
        (lambda d: d["editions"][0]["sessions"][0].update(minutes=45), "is not 45 minutes"),
        (lambda d: d["editions"][0]["sessions"][0].update(slides=[1]), "slides"),
        (lambda d: d["editions"][0]["sessions"][0].update(start="9h00"), "start.*HH:MM"),
        (lambda d: d["editions"][0]["sessions"][0].update(end="08:00", minutes=-60), "minutes"),
        (lambda d: d["editions"][0]["sessions"][1].update(start="09:30", minutes=60), "overlap"),
        (lambda d: d["editions"][0]["sessions"][1].update(kind="lunch"), "kind"),
        (lambda d: d["editions"][0].update(date="27/05/2024"), "date"),
        (lambda d: d["editions"].append(copy.deepcopy(d["editions"][0])), "duplicate"),
        (lambda d: d["editions"][0]["sessions"][0].update(topics="a"), "topics"),
    ],
)
def test_validate_reports_problems(mutate, message):
    d = _minimal()
    mutate(d)
    with pytest.raises(cs.ScheduleError, match=message):
        cs.validate_schedule(d)


def test_schedule_error_is_value_error():
    assert issubclass(cs.ScheduleError, ValueError)


def test_load_schedule_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        cs.load_schedule(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("editions: [\n")
    with pytest.raises(cs.ScheduleError, match="YAML"):
        cs.load_schedule(bad)
    unquoted = tmp_path / "unquoted.yml"
    unquoted.write_text(
        "editions:\n- {id: x, title: T, event: E, city: C, country: K, date: 2024-05-27,\n"
        "   sessions: [{start: 13:30, end: '14:00', minutes: 30, title: A, kind: talk}]}\n"
    )
    with pytest.raises(cs.ScheduleError, match="quoted"):
        cs.load_schedule(unquoted)


def test_render_markdown_table():
    md = cs.render_markdown(_minimal(), "x")
    assert "| # | Session | Length | Topics |" in md
    assert "| 1 | A | 60 min (09:00-10:00) | a\\|b |" in md
    assert "*Break*" in md
    assert "Monday 27 May 2024" in md


def test_isbi2024_is_the_seed_schedule(data):
    """Facts of the ISBI 2024 tutorial page: 28 May 2024, Tuesday afternoon, six blocks and their lengths."""
    isbi = next(e for e in data["editions"] if e["id"] == "isbi2024")
    assert str(isbi["date"]) == "2024-05-28" and isbi["part_of_day"] == "afternoon"
    blocks = [(s["title"], s["minutes"]) for s in isbi["sessions"]]
    assert blocks == [
        ("Part 1: Introduction", 60),
        ("Part 2: Advanced topics", 30),
        ("Coffee break", 30),
        ("Applications in medical imaging", 30),
        ("Demonstration", 30),
        ("Talk and discussion", 30),
    ]
    assert all("start" not in s for s in isbi["sessions"])  # the page gives no clock times
    out = cs.render_html(data, "isbi2024")
    assert "Tuesday 28 May 2024, afternoon" in out and "Placeholder" not in out


def test_miccai2023_blocks_without_invented_times(data):
    miccai = next(e for e in data["editions"] if e["id"] == "miccai2023")
    blocks = [(s["kind"], s["minutes"]) for s in miccai["sessions"]]
    assert blocks == [("talk", 60), ("talk", 60), ("break", 30), ("talk", 60), ("discussion", 60)]
    assert all("start" not in s for s in miccai["sessions"])


def test_render_html_table(data):
    out = cs.render_html(data, "miccai2023", slides_base="../slides/")
    assert '<table class="dimedia-schedule">' in out and "60 min" in out
    assert "Vancouver" in out and "Sunday 8 October 2023" in out
    assert 'href="../slides/intro.html"' in out and 'href="../slides/ddpm.html"' in out
    assert "not clock times" in out
    isbi = cs.render_html(data, "isbi2024")
    assert "Athens, Greece" in isbi and "<a href" not in isbi


def test_render_html_escapes():
    d = _minimal()
    d["editions"][0]["sessions"][0]["title"] = "<script>"
    assert "&lt;script&gt;" in cs.render_html(d, "x")


def test_unknown_edition(data):
    with pytest.raises(ValueError, match="edition_id"):
        cs.render_html(data, "nope")


def test_render_schedule_formats():
    assert cs.render_schedule("isbi2024", fmt="markdown").startswith("### DiMEDIA")
    assert cs.render_schedule("isbi2024", fmt="html-str").startswith("<div")
    html_obj = cs.render_schedule("isbi2024")
    assert "dimedia-schedule" in html_obj.data
    with pytest.raises(ValueError, match="fmt"):
        cs.render_schedule("isbi2024", fmt="pdf")


def test_session_minutes(data):
    assert sum(cs.session_minutes(s) for s in data["editions"][0]["sessions"]) == 270
    assert sum(cs.session_minutes(s) for s in data["editions"][1]["sessions"]) == 210
