"""Answers are not importable: a solution that calls the course_lib function that is its
exercise's answer fails, while the instructor's tests can still use it as a reference."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from course_lib.grading import answers
from course_lib.grading.notebooks import NOTEBOOK_DIR, is_solution, nbgrader_meta

ROOT = Path(__file__).resolve().parent.parent


def test_every_answer_name_exists_and_every_exercise_is_real():
    for notebook, exercises in answers.ANSWERS.items():
        path = NOTEBOOK_DIR / f"{notebook}.ipynb"
        assert path.exists(), f"ANSWERS names a notebook that does not exist: {notebook}"
        nb = nbformat.read(str(path), as_version=4)
        ids = {nbgrader_meta(c)["grade_id"] for c in nb.cells if is_solution(c)}
        for gid, names in exercises.items():
            assert gid in ids, f"{notebook}: no solution cell {gid!r}"
            for dotted in names:
                module, attr = dotted.rsplit(".", 1)
                assert hasattr(importlib.import_module(module), attr), f"{dotted} does not exist"


def test_defined_names():
    src = "import torch\nX = 3\ndef f(x):\n    return x\nclass Head:\n    pass\n"
    assert answers.defined_names(src) == ["X", "f", "Head"]
    assert answers.defined_names("def (") == []


KERNEL = """
import importlib
{guard}
import course_lib.schedules as sched_alias
from course_lib.schedules import stlr as stlr_alias

def direct(t, T):
    return sched_alias.stlr(t, T)

def via_alias(t, T):
    return stlr_alias(t, T)

def via_importlib(t, T):
    return getattr(importlib.import_module("course_lib." + "schedules"), "st" + "lr")(t, T)

def honest(t, T):
    cut = int(T * 0.1)
    p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / 0.1 - 1))
    return 0.01 * (1 + p * 31) / 32

{mark}
from course_lib.grading.answers import AnswerImported
for fn in (direct, via_alias, via_importlib):
    try:
        fn(5, 100)
    except AnswerImported as e:
        print(fn.__name__, "blocked:", "write it yourself" in str(e))
    else:
        print(fn.__name__, "NOT blocked")
# the instructor's test may still call the library's version as its reference
reference = sched_alias.stlr(5, 100)
print("honest matches reference:", abs(honest(5, 100) - reference) < 1e-12)
import course_lib.grading.answers as a
print("depth after:", a.STUDENT_DEPTH)
"""


def test_calling_the_answer_from_student_code_is_blocked_every_way():
    code = KERNEL.format(guard=answers.guard_source("04_ulmfit_exercises"),
                         mark=answers.wrap_student_source(["direct", "via_alias", "via_importlib", "honest"]))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "direct blocked: True" in lines
    assert "via_alias blocked: True" in lines
    assert "via_importlib blocked: True" in lines
    assert "honest matches reference: True" in lines
    assert "depth after: 0" in lines


def test_guard_is_empty_for_a_notebook_without_answers():
    assert answers.guard_source("no_such_notebook") == ""


@pytest.mark.parametrize("notebook", sorted(answers.ANSWERS))
def test_guard_source_compiles(notebook):
    compile(answers.guard_source(notebook), notebook, "exec")
    compile(answers.wrap_student_source(["f"]), notebook, "exec")
    assert textwrap.dedent(answers.guard_source(notebook)).startswith("def __course_guard")


def test_the_guard_reaches_every_module_that_holds_an_answer():
    """A function re-exported by a package, or imported by name into another course_lib module,
    is the same object under several names: the guard must replace it under all of them, so
    ``from course_lib.<package>.<submodule> import answer`` gets no further than the package name."""
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import course_lib
        from course_lib.grading import answers
        for info in pkgutil.walk_packages(course_lib.__path__, "course_lib."):
            if not info.name.startswith("course_lib.grading") and info.name != "course_lib.__main__":
                importlib.import_module(info.name)
        names = sorted({n for nb in answers.ANSWERS.values() for g in nb.values() for n in g})
        originals = {}
        for dotted in names:
            module, attr = dotted.rsplit(".", 1)
            originals[dotted] = getattr(importlib.import_module(module), attr)
        for nb in answers.ANSWERS:
            exec(answers.guard_source(nb), {})
        left = [f"{name}.{key} is {dotted}" for dotted, fn in originals.items()
                for name, mod in list(sys.modules.items())
                if name.startswith("course_lib.") and not name.startswith("course_lib.grading")
                for key, value in vars(mod).items() if value is fn]
        print("LEFT", left)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "LEFT []" in out.stdout, out.stdout[-2000:]
