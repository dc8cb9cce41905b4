"""MyST directives of the website that render course data as HTML while Sphinx reads a page, without a kernel.

The schedule of each edition and the graded parts of each exercise are tables computed from data files (the
schedule YAML, the student release notebooks). A code cell on the page would start a Jupyter kernel (and import
torch) only to print them: about 3 s of CPU per page on every clean build. These directives call the same
functions of :mod:`dimedia_course.course.schedule` and :mod:`dimedia_course.course.exercises` and tell Sphinx
which file each page was made from, so the page is read again when that file changes.

- ``{course-schedule} EDITION`` with ``:slides-base: ../slides/``: one edition's schedule table.
- ``{exercise-parts} ASSIGNMENT``: the graded parts of one exercise (what to implement, points).
- ``{exercise-index}`` with one ``ASSIGNMENT: title`` line per exercise: links, graded parts, points.

This module is course infrastructure, not a diffusion-model concept, so it cites no paper.
"""

from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

__all__ = ["CourseSchedule", "ExerciseIndex", "ExerciseParts", "register"]


class _HtmlDirective(SphinxDirective):
    """A directive whose output is one raw HTML block; an error in the data is reported at the directive's line."""

    def html(self) -> str:
        raise NotImplementedError

    def run(self):
        try:
            text = self.html()
        except (ValueError, KeyError, FileNotFoundError) as error:
            raise self.error(f"{self.name}: {error}") from None
        return [nodes.raw("", text, format="html")]


class CourseSchedule(_HtmlDirective):
    """``{course-schedule} isbi2024``: the schedule table of one edition (:func:`~.schedule.render_html`)."""

    required_arguments = 1
    option_spec = {"slides-base": directives.unchanged}

    def html(self) -> str:
        from dimedia_course.course.schedule import DEFAULT_SCHEDULE_PATH, load_schedule, render_html

        self.env.note_dependency(str(DEFAULT_SCHEDULE_PATH))
        data = load_schedule(DEFAULT_SCHEDULE_PATH)
        return render_html(data, self.arguments[0], slides_base=self.options.get("slides-base"))


class ExerciseParts(_HtmlDirective):
    """``{exercise-parts} a01_forward_process``: the graded parts of one exercise (:func:`~.exercises.parts_table`)."""

    required_arguments = 1

    def html(self) -> str:
        from dimedia_course.course.exercises import parts_table, release_notebook

        self.env.note_dependency(str(release_notebook(self.arguments[0])))
        return parts_table(self.arguments[0])


class ExerciseIndex(_HtmlDirective):
    """``{exercise-index}`` with ``ASSIGNMENT: title`` lines: one row per exercise (:func:`~.exercises.index_table`)."""

    has_content = True

    def html(self) -> str:
        from dimedia_course.course.exercises import index_table, release_notebook

        titles = {}
        for line in self.content:
            key, sep, title = line.partition(":")
            if not sep or not title.strip():
                raise ValueError(f"expected lines 'ASSIGNMENT: title', got {line!r}")
            titles[key.strip()] = title.strip()
        for key in titles:
            self.env.note_dependency(str(release_notebook(key)))
        return index_table(titles)


def register(app) -> None:
    """Add the directives to a Sphinx application (called by :func:`dimedia_course.course.build.setup`)."""
    app.add_directive("course-schedule", CourseSchedule)
    app.add_directive("exercise-parts", ExerciseParts)
    app.add_directive("exercise-index", ExerciseIndex)
