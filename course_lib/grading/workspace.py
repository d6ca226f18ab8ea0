"""The student's workspace, which ``python3 course.py lab`` opens, and revealing one solution.

    python -m course_lib.grading.workspace prepare          # make or top up workspace/
    python -m course_lib.grading.workspace solution 06 ex2  # print one exercise's solution

``workspace/`` (ignored by git) holds the executed lesson notebooks and the **student copies**
of the exercise notebooks: no solutions, no hidden tests, no outputs (the same copies that
``course.py release`` hands out). Copies are made on demand and never overwritten, so a
student's work survives every later ``lab``; delete a file to get a fresh copy. Instructors
open the instructor notebooks, with solutions, by ``python3 course.py lab --instructor``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_lib.assets import REPO_ROOT
from course_lib.errors import InputError
from course_lib.grading.notebooks import (
    NOTEBOOK_DIR,
    SOLUTION_BEGIN,
    SOLUTION_END,
    exercise_notebooks,
    is_solution,
    lesson_notebooks,
    nbgrader_meta,
    read,
)
from course_lib.grading.release import student_copy

WORKSPACE = REPO_ROOT / "workspace"


@dataclass
class Prepared:
    created: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def prepare(out: Path = WORKSPACE, folder: Path = NOTEBOOK_DIR) -> Prepared:
    """Write what is missing in ``out``: lesson notebooks as built, exercises as student copies."""
    out.mkdir(parents=True, exist_ok=True)
    done = Prepared()
    for name, path in lesson_notebooks(folder).items():
        target = out / f"{name}.ipynb"
        if target.exists():
            done.kept.append(target)
        else:
            shutil.copyfile(path, target)
            done.created.append(target)
    for name, path in exercise_notebooks(folder).items():
        target = out / f"{name}.ipynb"
        if target.exists():
            done.kept.append(target)
        else:
            nbformat.write(student_copy(read(path)), str(target))
            done.created.append(target)
    return done


def _exercise_notebook(lesson: str, folder: Path) -> Path:
    books = exercise_notebooks(folder)
    matches = [p for name, p in books.items() if name == lesson or name.startswith(f"{lesson}_")]
    if len(matches) != 1:
        known = ", ".join(name.split("_")[0] for name in books)
        raise InputError(f"no single exercise notebook for lesson {lesson!r}; lessons: {known}")
    return matches[0]


def solution(lesson: str, exercise: str, folder: Path = NOTEBOOK_DIR) -> tuple[str, str]:
    """(grade_id, solution code) of one exercise, e.g. ``solution("06", "ex2")``."""
    nb = read(_exercise_notebook(lesson, folder))
    cells = [c for c in nb.cells if is_solution(c) and c.cell_type == "code"]
    ids = [nbgrader_meta(c)["grade_id"] for c in cells]
    picked = [c for c, gid in zip(cells, ids, strict=True) if gid == exercise or gid.split("_")[0] == exercise]
    if not picked:
        raise InputError(f"lesson {lesson} has no exercise {exercise!r}; its exercises: {', '.join(ids)}")
    lines = [ln for c in picked for ln in c.source.splitlines() if ln.strip() not in (SOLUTION_BEGIN, SOLUTION_END)]
    return nbgrader_meta(picked[0])["grade_id"], "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="make the student workspace (never overwrites)")
    p.add_argument("--out", type=Path, default=WORKSPACE)
    s = sub.add_parser("solution", help="print one exercise's reference solution")
    s.add_argument("lesson", help="lesson number, e.g. 06")
    s.add_argument("exercise", help="exercise, e.g. ex2")
    args = ap.parse_args(argv)
    if args.cmd == "prepare":
        done = prepare(args.out)
        print(f"Workspace {args.out}: {len(done.created)} notebooks created, {len(done.kept)} of yours kept "
              "(delete one to get a fresh copy). Exercise notebooks there are the student copies.")
        return 0
    try:
        gid, code = solution(args.lesson, args.exercise)
    except InputError as e:
        print(e, file=sys.stderr)
        return 2
    print(f"# Reference solution of {args.lesson} {gid} (you asked to see it):\n\n{code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
