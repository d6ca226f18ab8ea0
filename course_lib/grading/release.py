"""Write the student copies of the course: ``python3 course.py release [--out DIR]``.

Exercise notebooks lose their solutions (replaced by a stub that raises
``NotImplementedError``), their hidden tests and all outputs; test cells are locked and
checksummed as nbgrader expects. Lesson notebooks are copied with outputs cleared.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat
from nbgrader.preprocessors import (
    ClearHiddenTests,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
)

from course_lib.grading.notebooks import (
    HIDDEN_BEGIN,
    NOTEBOOK_DIR,
    SOLUTION_BEGIN,
    exercise_notebooks,
    lesson_notebooks,
    read,
)


def student_copy(nb):
    """A student copy of an instructor exercise notebook (a new object; ``nb`` is unchanged)."""
    nb = copy.deepcopy(nb)
    resources: dict = {}
    for pre in (ClearSolutions(), ClearHiddenTests(), LockCells(), ClearOutput(), ComputeChecksums()):
        nb, resources = pre.preprocess(nb, resources)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = None
    return nb


def cleared_copy(nb):
    """A lesson notebook with every output cleared."""
    nb = copy.deepcopy(nb)
    nb, _ = ClearOutput().preprocess(nb, {})
    return nb


def leaks(text: str) -> list[str]:
    """Markers of instructor-only content found in a released file's text."""
    return [m for m in (SOLUTION_BEGIN, HIDDEN_BEGIN, "### END SOLUTION", "### END HIDDEN TESTS") if m in text]


def release(out: Path, folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """Write every student copy under ``out`` and return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, path in exercise_notebooks(folder).items():
        target = out / f"{name}.ipynb"
        nbformat.write(student_copy(read(path)), str(target))
        written.append(target)
    for name, path in lesson_notebooks(folder).items():
        target = out / f"{name}.ipynb"
        nbformat.write(cleared_copy(read(path)), str(target))
        written.append(target)
    for target in written:
        found = leaks(target.read_text())
        if found:
            raise RuntimeError(f"{target} still contains instructor-only text: {found}")
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("release"), help="folder for the student copies")
    args = ap.parse_args(argv)
    written = release(args.out)
    print(f"Wrote {len(written)} student notebooks to {args.out}/ (solutions and hidden tests removed).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
