"""Author-year labels for the course bibliography ("Ho et al. 2020"), matching the author-year citations in
the text (sphinxcontrib-bibtex's ``bibtex_reference_style = "author_year"``).

Registered as the pybtex formatting style ``"dimedia_author_year"`` by the course's Sphinx extension
(:func:`dimedia_course.course.build.setup`); ``_config.yml`` selects it with ``bibtex_default_style``.
"""

from __future__ import annotations

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle

__all__ = ["AuthorYearLabelStyle", "AuthorYearStyle", "register"]


def _surname(person) -> str:
    return " ".join(person.prelast_names + person.last_names).replace("{", "").replace("}", "")


class AuthorYearLabelStyle(BaseLabelStyle):
    """``Surname 2020``, ``Surname & Other 2020``, ``Surname et al. 2020``; ``2020a``/``2020b`` when two
    entries would get the same label."""

    def format_labels(self, sorted_entries):
        labels = []
        for entry in sorted_entries:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            if not people:
                names = entry.fields.get("organization", entry.key)
            elif len(people) == 1:
                names = _surname(people[0])
            elif len(people) == 2:
                names = f"{_surname(people[0])} & {_surname(people[1])}"
            else:
                names = f"{_surname(people[0])} et al."
            labels.append(f"{names} {entry.fields.get('year', 'n.d.')}")
        counts = {label: labels.count(label) for label in labels}
        seen: dict[str, int] = {}
        for label in labels:
            if counts[label] > 1:
                seen[label] = seen.get(label, 0) + 1
                yield f"{label}{chr(ord('a') + seen[label] - 1)}"
            else:
                yield label


class AuthorYearStyle(UnsrtStyle):
    """pybtex's ``unsrt`` entry format with :class:`AuthorYearLabelStyle` labels, sorted by author and year."""

    default_label_style = "dimedia_author_year"
    default_sorting_style = "author_year_title"


def register() -> None:
    """Make the styles known to pybtex (idempotent)."""
    for group, name, klass in (
        ("pybtex.style.labels", "dimedia_author_year", AuthorYearLabelStyle),
        ("pybtex.style.formatting", "dimedia_author_year", AuthorYearStyle),
    ):
        try:
            register_plugin(group, name, klass)
        except Exception:  # noqa: BLE001 - already registered by an earlier Sphinx run in this process
            pass
