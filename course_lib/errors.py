"""Errors the course raises on purpose: one clear message, no deep stack trace."""

from __future__ import annotations


class CourseError(Exception):
    """A problem the student or instructor can fix; the message says how."""

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing the full traceback: a student
        # sees the message and the fix, not thirty frames of library code.
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


class AssetError(CourseError):
    """A model or data set is unknown, not installed or corrupt."""


class CheckoutError(AssetError):
    """The course's committed files (``data/``, ``notebooks/``) are not beside ``course_lib``:
    it runs outside a checkout of the course repository and ``COURSE_ROOT`` does not name one."""


class InputError(CourseError, ValueError):
    """An argument a student chose (a widget value, a word, a count) cannot be used."""
