"""The tutorial schedule: load, validate and render ``book/_data/schedule.yml``.

One YAML file holds every edition of the tutorial (MICCAI 2023, ISBI 2024). The schedule page of
the website (``book/schedule.md``) calls :func:`render_html` on it, so the site and the data never
diverge. A session has a length in ``minutes`` and, only where a source gives them, clock times
``start``/``end`` (which must then match the length and not overlap): the tutorial pages give the order
and length of the blocks, not clock times, and the course does not invent them. Validation gives a
clear error naming the edition, the session and the field that is wrong.

This module is course infrastructure, not a diffusion-model concept, so it cites no paper.
"""

from __future__ import annotations

import datetime as _dt
import html
import re
from pathlib import Path

__all__ = [
    "ScheduleError",
    "DEFAULT_SCHEDULE_PATH",
    "SESSION_KINDS",
    "load_schedule",
    "validate_schedule",
    "parse_time",
    "session_minutes",
    "render_markdown",
    "render_html",
    "render_schedule",
]

#: The schedule shipped with the course website.
DEFAULT_SCHEDULE_PATH = Path(__file__).resolve().parents[2] / "book" / "_data" / "schedule.yml"

#: Allowed values of a session's ``kind``.
SESSION_KINDS = ("talk", "demo", "break", "discussion")

_EDITION_KEYS = ("id", "title", "event", "city", "country", "date", "sessions")
_SESSION_KEYS = ("title", "kind", "minutes")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ScheduleError(ValueError):
    """The schedule data is malformed; the message says where and what was expected."""


def parse_time(value, where: str = "time") -> int:
    """Parse a 24-hour ``"HH:MM"`` clock time into minutes after midnight.

    Raises:
        ScheduleError: if ``value`` is not a string of the form ``HH:MM`` (00:00 to 23:59).
    """
    if not isinstance(value, str):
        # YAML reads an unquoted 13:30 as the integer 810 (sexagesimal): ask for quotes.
        raise ScheduleError(f"{where}: expected a quoted clock time 'HH:MM', got {value!r} ({type(value).__name__})")
    match = _TIME_RE.match(value.strip())
    if match is None:
        raise ScheduleError(f"{where}: expected a clock time 'HH:MM' (24 h, 00:00-23:59), got {value!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def _format_minutes(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def session_minutes(session: dict) -> int:
    """Length of one (validated) session in minutes."""
    return int(session["minutes"])


def _decks(session: dict) -> list[str]:
    decks = session.get("slides") or []
    return [decks] if isinstance(decks, str) else list(decks)


def _check_date(value, where: str) -> None:
    text = value.isoformat() if isinstance(value, _dt.date) else value
    if not isinstance(text, str):
        raise ScheduleError(f"{where}: expected a date 'YYYY-MM-DD', got {value!r}")
    try:
        _dt.date.fromisoformat(text)
    except ValueError:
        raise ScheduleError(f"{where}: expected a date 'YYYY-MM-DD', got {value!r}") from None


def validate_schedule(data) -> dict:
    """Check a schedule mapping and return it unchanged.

    Expected layout: ``{"editions": [edition, ...]}`` where each edition has the keys
    ``id, title, event, city, country, date, sessions`` and each session ``title, kind, minutes``
    (``kind`` in :data:`SESSION_KINDS`, ``minutes`` a positive int), optional ``topics`` and ``slides``
    (a deck name or a list of them) and, optionally, both ``start`` and ``end`` clock times, which
    must then span ``minutes`` and follow each other without overlap. Edition ids must be unique.

    Raises:
        ScheduleError: naming the edition/session and the problem.
    """
    if not isinstance(data, dict) or "editions" not in data:
        raise ScheduleError("schedule: expected a mapping with a top-level 'editions' list")
    editions = data["editions"]
    if not isinstance(editions, list) or not editions:
        raise ScheduleError("schedule.editions: expected a non-empty list of editions")
    seen_ids = set()
    for e_index, edition in enumerate(editions):
        where = f"editions[{e_index}]"
        if not isinstance(edition, dict):
            raise ScheduleError(f"{where}: expected a mapping, got {type(edition).__name__}")
        missing = [k for k in _EDITION_KEYS if k not in edition]
        if missing:
            raise ScheduleError(f"{where} ({edition.get('id', '?')}): missing key(s) {', '.join(missing)}")
        where = f"edition {edition['id']!r}"
        if edition["id"] in seen_ids:
            raise ScheduleError(f"{where}: duplicate edition id")
        seen_ids.add(edition["id"])
        _check_date(edition["date"], f"{where}.date")
        sessions = edition["sessions"]
        if not isinstance(sessions, list) or not sessions:
            raise ScheduleError(f"{where}.sessions: expected a non-empty list of sessions")
        previous_end, previous_title = None, None
        for s_index, session in enumerate(sessions):
            s_where = f"{where}, session {s_index + 1}"
            if not isinstance(session, dict):
                raise ScheduleError(f"{s_where}: expected a mapping, got {type(session).__name__}")
            missing = [k for k in _SESSION_KEYS if k not in session]
            if missing:
                raise ScheduleError(f"{s_where} ({session.get('title', '?')!r}): missing key(s) {', '.join(missing)}")
            s_where = f"{where}, session {session['title']!r}"
            minutes = session["minutes"]
            if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
                raise ScheduleError(f"{s_where}.minutes: expected a positive number of minutes, got {minutes!r}")
            decks = _decks(session)
            if not all(isinstance(d, str) and d for d in decks):
                raise ScheduleError(f"{s_where}.slides: expected a deck name or a list of deck names")
            if session["kind"] not in SESSION_KINDS:
                raise ScheduleError(f"{s_where}.kind: expected one of {SESSION_KINDS}, got {session['kind']!r}")
            topics = session.get("topics", [])
            if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
                raise ScheduleError(f"{s_where}.topics: expected a list of strings")
            if ("start" in session) != ("end" in session):
                raise ScheduleError(f"{s_where}: give both start and end clock times, or neither")
            if "start" not in session:
                continue
            start = parse_time(session["start"], f"{s_where}.start")
            end = parse_time(session["end"], f"{s_where}.end")
            if end <= start:
                raise ScheduleError(f"{s_where}: end {session['end']} must be after start {session['start']}")
            if end - start != minutes:
                raise ScheduleError(f"{s_where}: {session['start']}-{session['end']} is not {minutes} minutes")
            if previous_end is not None and start < previous_end:
                raise ScheduleError(
                    f"{s_where}: starts at {session['start']}, before the previous session "
                    f"{previous_title!r} ends at {_format_minutes(previous_end)} (overlap or wrong order)"
                )
            previous_end, previous_title = end, session["title"]
    return data


def load_schedule(path=None) -> dict:
    """Read and validate the schedule YAML file (default: :data:`DEFAULT_SCHEDULE_PATH`).

    Raises:
        FileNotFoundError: if the file does not exist.
        ScheduleError: if the YAML is malformed or fails :func:`validate_schedule`.
    """
    import yaml

    path = Path(DEFAULT_SCHEDULE_PATH if path is None else path)
    if not path.is_file():
        raise FileNotFoundError(f"path: schedule file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ScheduleError(f"{path}: not valid YAML ({err})") from None
    return validate_schedule(data)


def _edition(data: dict, edition_id: str) -> dict:
    for edition in data["editions"]:
        if edition["id"] == edition_id:
            return edition
    known = ", ".join(e["id"] for e in data["editions"])
    raise ValueError(f"edition_id: unknown edition {edition_id!r}; expected one of {known}")


def _heading(edition: dict) -> str:
    date = _dt.date.fromisoformat(str(edition["date"]))
    when = date.strftime("%A %d %B %Y").replace(" 0", " ")
    part = f", {edition['part_of_day']}" if edition.get("part_of_day") else ""
    return f"{edition['event']}, {edition['city']}, {edition['country']}: {when}{part}"


def _time_label(session: dict) -> str:
    return f"{session['start']}-{session['end']}" if "start" in session else ""


def _notes(edition: dict) -> list[str]:
    if any("start" not in s for s in edition["sessions"]):
        return ["The tutorial page gives the order and length of each block, not clock times."]
    return []


def render_markdown(data: dict, edition_id: str) -> str:
    """Render one edition as a Markdown section with a table ``Time | Session | Topics``."""
    validate_schedule(data)
    edition = _edition(data, edition_id)
    lines = [f"### {edition['title']}", "", f"**{_heading(edition)}**"]
    if edition.get("venue"):
        lines += ["", f"Venue: {edition['venue']}. Times are local ({edition.get('timezone', 'local time')})."]
    lines += [f"\n> {note}" for note in _notes(edition)]
    lines += ["", "| # | Session | Length | Topics |", "| --- | --- | --- | --- |"]
    for i, s in enumerate(edition["sessions"], 1):
        title = f"*{s['title']}*" if s["kind"] == "break" else s["title"]
        topics = "; ".join(s.get("topics", [])).replace("|", "\\|")
        length = f"{s['minutes']} min" + (f" ({_time_label(s)})" if "start" in s else "")
        lines.append(f"| {i} | {title.replace('|', chr(92) + '|')} | {length} | {topics} |")
    return "\n".join(lines) + "\n"


def render_html(data: dict, edition_id: str, slides_base: str | None = None) -> str:
    """Render one edition as an HTML fragment: a heading, placeholder notes and a schedule table.

    Args:
        data: the validated schedule mapping.
        edition_id: which edition (e.g. ``"miccai2023"``).
        slides_base: if given, sessions with a ``slides`` deck link to ``{slides_base}{deck}.html``.
    """
    validate_schedule(data)
    edition = _edition(data, edition_id)
    esc = html.escape
    parts = [f'<div class="dimedia-edition" id="schedule-{esc(edition["id"])}">']
    parts.append(f"<p><strong>{esc(_heading(edition))}</strong>")
    if edition.get("venue"):
        parts.append(
            f"<br>Venue: {esc(edition['venue'])}. Times are local ({esc(edition.get('timezone', 'local time'))})."
        )
    parts.append("</p>")
    for note in _notes(edition):
        parts.append(f'<p class="dimedia-placeholder">{esc(note)}</p>')
    parts.append('<div class="dimedia-schedule-wrap"><table class="dimedia-schedule">')
    parts.append(
        "<thead><tr><th>#</th><th>Session</th><th>Length</th><th>Topics</th><th>Slides</th></tr></thead><tbody>"
    )
    for i, s in enumerate(edition["sessions"], 1):
        row_class = ' class="dimedia-break"' if s["kind"] == "break" else ""
        topics = "".join(f"<li>{esc(t)}</li>" for t in s.get("topics", []))
        topics_html = f"<ul>{topics}</ul>" if topics else ""
        decks = _decks(s) if slides_base is not None else []
        slides_html = ", ".join(f'<a href="{esc(slides_base)}{esc(d)}.html">{esc(d)}</a>' for d in decks)
        clock = f"<br>{esc(_time_label(s))}" if "start" in s else ""
        parts.append(
            f"<tr{row_class}><td>{i}</td><td>{esc(s['title'])}</td>"
            f'<td class="dimedia-time">{s["minutes"]} min{clock}</td>'
            f"<td>{topics_html}</td><td>{slides_html}</td></tr>"
        )
    parts.append("</tbody></table></div>")
    total = sum(session_minutes(s) for s in edition["sessions"])
    parts.append(f"<p>Total: {total // 60} h {total % 60:02d} min.</p></div>")
    return "\n".join(parts)


def render_schedule(edition_id: str, path=None, fmt: str = "html", slides_base: str | None = None):
    """Load the schedule and render one edition; in a notebook, ``fmt="html"`` returns an
    :class:`IPython.display.HTML` object so the table renders on the website.

    Args:
        edition_id: which edition.
        path: schedule YAML (default: :data:`DEFAULT_SCHEDULE_PATH`).
        fmt: ``"html"`` (IPython HTML object), ``"html-str"`` or ``"markdown"`` (plain strings).
    """
    data = load_schedule(path)
    if fmt == "markdown":
        return render_markdown(data, edition_id)
    if fmt not in ("html", "html-str"):
        raise ValueError(f"fmt: expected 'html', 'html-str' or 'markdown', got {fmt!r}")
    text = render_html(data, edition_id, slides_base=slides_base)
    if fmt == "html-str":
        return text
    from IPython.display import HTML

    return HTML(text)
