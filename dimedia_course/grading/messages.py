"""The sentences a student or an instructor reads (console, logs, feedback, CSV), and the two escapes that
make untrusted text safe to print or to open in a spreadsheet.

Student ids, file names, notebook text and exception names come from submissions: :func:`printable` escapes
their control characters (no carriage return or ANSI escape can forge a summary line), :func:`csv_cell`
neutralises what a spreadsheet would run as a formula.
"""

from __future__ import annotations

import unicodedata

__all__ = [
    "CSV_COLUMNS",
    "NOT_SUBMITTED",
    "checks_failed",
    "checks_passed",
    "csv_cell",
    "hint_line",
    "one_line",
    "printable",
    "unknown_assignments",
    "unreadable_banner",
]

NOT_SUBMITTED = "not submitted"
CSV_COLUMNS = ("student_id", "assignment", "status", "timestamp", "score", "max_score")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def printable(text) -> str:
    """``text`` with every control, format and unassigned character escaped (``\\x1b``, ``\\r``, ``\\u202e``),
    newlines included: one line, safe in a terminal and a log."""
    out = []
    for char in str(text):
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp"):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


def csv_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: cells starting with ``= + - @``, a tab or a carriage return
    get a leading ``'`` (OWASP's advice against CSV injection); None is the empty cell."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def one_line(err: BaseException) -> str:
    """A command error as one line: its type when the message is empty, its first line otherwise."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    text = lines[0] if lines else type(err).__name__
    more = " (more lines follow with --traceback)" if len(lines) > 1 else ""
    return printable(f"error: {text}{more}")


def unknown_assignments(names, known) -> str:
    shown = ", ".join(repr(printable(n)) for n in sorted(names)[:5])
    return f"submissions: no assignment called {shown}; expected one of {', '.join(known)} (a typo in a folder name?)"


def unreadable_banner(notebook: str, reason: str) -> str:
    """The first cell of the feedback of a notebook that could not be read."""
    return (
        f"**Your notebook `{notebook}` could not be read** ({reason}). It was graded as the blank exercise, "
        "so every part below shows the exercise's `NotImplementedError`. Open the file in Jupyter, save it "
        "again and hand it in once more (ask your instructor)."
    )


def hint_line(hint: str) -> str:
    """The line under a failed test cell with the instructor's hint (``HINTS`` in ``grader_checks.py``)."""
    return f"Hint: {hint}"


def checks_passed(score: float, points: float) -> str:
    """The output appended to a test cell whose hidden checks all passed."""
    return f"Hidden checks passed: {score:g} / {points:g} points\n"


def checks_failed(failed: int, total: int, counted: bool) -> str:
    """The head of a failed test cell's output: how many hidden checks failed (``counted``: the failures are
    those of individual cases, not of the whole cell)."""
    return f"{failed} of {total} hidden checks failed" if total > 1 and counted else "hidden checks failed"
