"""The student workspace that `course.py lab` opens, and revealing one solution on purpose."""

from __future__ import annotations

import pytest

from course_lib.errors import InputError
from course_lib.grading import workspace
from course_lib.grading.release import leaks


def test_workspace_has_student_copies_and_keeps_student_work(tmp_path):
    done = workspace.prepare(tmp_path)
    names = {p.name for p in done.created}
    assert "06_peft_exercises.ipynb" in names and "06_peft.ipynb" in names and not done.kept
    for p in tmp_path.glob("*_exercises.ipynb"):
        text = p.read_text()
        assert not leaks(text), f"{p.name} leaks instructor-only text"
        assert '"outputs": []' in text or '"outputs"' not in text
    mine = tmp_path / "06_peft_exercises.ipynb"
    mine.write_text(mine.read_text().replace("NotImplementedError", "NotImplementedError  # my work"))
    again = workspace.prepare(tmp_path)
    assert not again.created and mine in again.kept
    assert "# my work" in mine.read_text(), "a student's notebook must never be overwritten"


def test_solution_reveals_one_exercise():
    gid, code = workspace.solution("06", "ex2")
    assert gid == "ex2_adapter" and "def adapter_forward" in code
    assert "BEGIN SOLUTION" not in code and "HIDDEN" not in code
    with pytest.raises(InputError, match="ex1_lora"):
        workspace.solution("06", "ex9")
    with pytest.raises(InputError, match="lessons"):
        workspace.solution("42", "ex1")
