"""Exercise notebooks: where they are, and what their nbgrader cells are."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_lib.assets import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
EXERCISE_SUFFIX = "_exercises"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"


def exercise_notebooks(folder: Path = NOTEBOOK_DIR) -> dict[str, Path]:
    """Every exercise notebook (instructor version, with solutions), by lesson name.

    The lesson name is the file stem, e.g. ``01_scratch_vs_transfer_exercises``. A new
    exercise notebook is picked up by its name alone.
    """
    return {p.stem: p for p in sorted(folder.glob(f"*{EXERCISE_SUFFIX}.ipynb"))}


def lesson_notebooks(folder: Path = NOTEBOOK_DIR) -> dict[str, Path]:
    """Every lesson (non-exercise) notebook, by name."""
    return {p.stem: p for p in sorted(folder.glob("[0-9][0-9]_*.ipynb")) if not p.stem.endswith(EXERCISE_SUFFIX)}


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_solution(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_test(cell) -> bool:
    return bool(nbgrader_meta(cell).get("grade")) and cell.cell_type == "code"


def split_hidden(source: str) -> tuple[str, str]:
    """(visible part, hidden part) of a test cell's source; the markers are dropped."""
    visible, hidden, inside = [], [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == HIDDEN_BEGIN:
            inside = True
        elif stripped == HIDDEN_END:
            inside = False
        else:
            (hidden if inside else visible).append(line)
    return "\n".join(visible), "\n".join(hidden)


@dataclass
class Exercise:
    """One graded exercise: its solution cell(s) and the test cells that follow them."""

    name: str  # grade_id of the (first) solution cell
    solution_ids: list[str] = field(default_factory=list)
    test_ids: list[str] = field(default_factory=list)
    points: float = 0.0


def exercises(nb) -> list[Exercise]:
    """The exercises of a notebook in order: solution cells, then their test cells."""
    out: list[Exercise] = []
    current: Exercise | None = None
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if is_solution(cell) and not is_test(cell):
            if current is None or current.test_ids:
                current = Exercise(name=meta["grade_id"])
                out.append(current)
            current.solution_ids.append(meta["grade_id"])
        elif is_test(cell):
            if current is None:
                current = Exercise(name=meta["grade_id"])
                out.append(current)
            current.test_ids.append(meta["grade_id"])
            current.points += float(meta.get("points", 0))
    return out


def read(path: Path):
    """Read a notebook (nbformat 4)."""
    return nbformat.read(str(path), as_version=4)


def match_lesson(filename: str, lessons: list[str]) -> str | None:
    """Which exercise notebook a submitted file is, tolerant of copies ("... (1)", "-Copy1")."""
    stem = Path(filename).stem.lower()
    stem = re.sub(r"[\s_-]*(\(\d+\)|copy\d*)$", "", stem)
    for name in sorted(lessons, key=len, reverse=True):
        if stem == name.lower() or stem.startswith(name.lower()):
            return name
    return None
