"""The grading round trip, for every exercise notebook present (new ones are picked up).

Releasing strips every solution and hidden test; solution notebooks score full marks;
released notebooks score zero; each decoy passes its visible tests, fails hidden ones and
loses exactly its exercise's points; junk files are reported; an endless loop or a crashed
kernel costs one exercise only.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from course_lib.grading import grade, release
from course_lib.grading.notebooks import (
    exercise_notebooks,
    exercises,
    is_solution,
    is_test,
    match_lesson,
    nbgrader_meta,
    read,
    split_hidden,
)

ROOT = Path(__file__).resolve().parent.parent
DECOY_DIR = ROOT / "tests" / "decoys"
SOURCES = exercise_notebooks()


def load_decoys(lesson: str) -> dict[str, str]:
    path = DECOY_DIR / f"{lesson}.py"
    assert path.exists(), f"{lesson} has no decoys: add {path.relative_to(ROOT)}"
    spec = importlib.util.spec_from_file_location(f"decoys_{lesson}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.DECOYS


def with_solution(nb, grade_id: str, source: str):
    nb = nbformat.reads(nbformat.writes(nb), 4)
    hits = [c for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id]
    assert hits, f"no cell with grade_id {grade_id!r}"
    hits[0].source = source
    return nb


# ------------------------------------------------------------------ static checks (fast)


def test_there_are_exercise_notebooks():
    assert "00_setup_and_tour_exercises" in SOURCES
    assert len(SOURCES) >= 1


@pytest.mark.parametrize("lesson", sorted(SOURCES))
def test_format(lesson):
    nb = read(SOURCES[lesson])
    exs = exercises(nb)
    assert exs, "an exercise notebook needs at least one exercise"
    ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    for ex in exs:
        assert ex.solution_ids and ex.test_ids and ex.points > 0, ex
    for c in nb.cells:
        if is_solution(c):
            assert "### BEGIN SOLUTION" in c.source and "### END SOLUTION" in c.source
        if is_test(c):
            assert nbgrader_meta(c).get("locked"), "test cells must be locked"
            assert "### BEGIN HIDDEN TESTS" in c.source, f"{nbgrader_meta(c)['grade_id']} has no hidden tests"
    assert set(load_decoys(lesson)) <= {i for ex in exs for i in ex.solution_ids}


@pytest.mark.parametrize("lesson", sorted(SOURCES))
def test_release_strips_solutions_and_hidden_tests(lesson, tmp_path):
    nb = read(SOURCES[lesson])
    student = release.student_copy(nb)
    text = nbformat.writes(student)
    assert not release.leaks(text)
    for c in nb.cells:
        if is_solution(c):
            body = c.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
            for line in body.splitlines():
                if len(line.strip()) > 20:
                    assert line.strip() not in text, f"solution line leaked: {line.strip()!r}"
        if is_test(c):
            _, hidden = split_hidden(c.source)
            for line in hidden.splitlines():
                if len(line.strip()) > 20:
                    assert line.strip() not in text, f"hidden test leaked: {line.strip()!r}"
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    # the instructor's notebook itself is untouched
    assert "### BEGIN SOLUTION" in nbformat.writes(nb)


def test_release_command_writes_every_notebook(tmp_path):
    written = release.release(tmp_path / "release")
    names = {p.stem for p in written}
    assert set(SOURCES) <= names
    assert "00_setup_and_tour" in names
    for p in written:
        text = p.read_text()
        assert not release.leaks(text)
        assert all(not c.get("outputs") for c in json.loads(text)["cells"] if c["cell_type"] == "code")


def test_split_hidden_and_matching():
    visible, hidden = split_hidden("a = 1\n### BEGIN HIDDEN TESTS\nb = 2\n### END HIDDEN TESTS\nc = 3")
    assert visible == "a = 1\nc = 3" and hidden == "b = 2"
    lessons = ["00_setup_and_tour_exercises", "01_scratch_vs_transfer_exercises"]
    assert match_lesson("01_scratch_vs_transfer_exercises (1).ipynb", lessons) == lessons[1]
    assert match_lesson("01_scratch_vs_transfer_exercises-Copy1.ipynb", lessons) == lessons[1]
    assert match_lesson("homework.ipynb", lessons) is None


# ------------------------------------------------------------------ the round trip (one class)


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """One class run: solution, released and decoy submissions for every exercise notebook."""
    root = tmp_path_factory.mktemp("class")
    expected = {}  # student -> (lesson, expected points per exercise)
    for lesson, path in SOURCES.items():
        nb = read(path)
        full = {ex.name: ex.points for ex in exercises(nb)}
        (root / f"solution-{lesson}").mkdir()
        shutil.copy(path, root / f"solution-{lesson}" / path.name)
        expected[f"solution-{lesson}"] = (lesson, dict(full))
        (root / f"released-{lesson}").mkdir()
        nbformat.write(release.student_copy(nb), str(root / f"released-{lesson}" / path.name))
        expected[f"released-{lesson}"] = (lesson, {k: 0.0 for k in full})
        for gid, src in load_decoys(lesson).items():
            student = f"decoy-{lesson}-{gid}"
            (root / student).mkdir()
            nbformat.write(with_solution(nb, gid, src), str(root / student / path.name))
            wrong = next(ex.name for ex in exercises(nb) if gid in ex.solution_ids)
            expected[student] = (lesson, {k: (0.0 if k == wrong else v) for k, v in full.items()})
    out = tmp_path_factory.mktemp("grades")
    results = grade.grade_class(root, out, jobs=2, progress=False)
    return root, out, results, expected


def _scores(out: Path) -> dict[tuple[str, str], float]:
    with open(out / "scores.csv") as f:
        return {(r["student"], r["exercise"]): float(r["points"]) for r in csv.DictReader(f) if r["status"] == "graded"}


def test_round_trip_scores(graded_class):
    _, out, _, expected = graded_class
    scores = _scores(out)
    for student, (_, per_exercise) in expected.items():
        for ex, pts in per_exercise.items():
            assert scores[(student, ex)] == pts, (student, ex, scores[(student, ex)], pts)


def test_decoys_pass_visible_fail_hidden(graded_class):
    _, _, results, _ = graded_class
    decoys = [r for r in results if r["student"].startswith("decoy-")]
    assert decoys
    for r in decoys:
        failed = [t for e in r["exercises"] for t in e["tests"] if t["points"] < t["max_points"]]
        assert failed, f"{r['student']}: the decoy was not caught"
        for t in (t for e in r["exercises"] for t in e["tests"]):
            assert t["visible"]["ok"], f"{r['student']}: decoy fails a visible test: {t['visible']['error']}"
        assert any(t["hidden"] is not None and not t["hidden"]["ok"] for t in failed)


def test_feedback_hides_hidden_tests(graded_class):
    _, out, _, _ = graded_class
    files = list((out / "feedback").rglob("*.md"))
    assert files
    hidden_lines = set()
    for path in SOURCES.values():
        for c in read(path).cells:
            if is_test(c):
                hidden_lines |= {ln.strip() for ln in split_hidden(c.source)[1].splitlines() if len(ln.strip()) > 20}
    for f in files:
        text = f.read_text()
        assert "Score:" in text
        assert not any(line in text for line in hidden_lines), f"{f} shows hidden test code"


def test_rerun_skips_graded_and_force_regrades(graded_class, monkeypatch):
    root, out, results, _ = graded_class
    calls = []
    monkeypatch.setattr(grade, "_grade_job", lambda args: calls.append(args))
    again = grade.grade_class(root, out, jobs=1, progress=False)
    assert not calls and len(again) == len(results)


# ------------------------------------------------------------------ robustness (tour notebook)


def test_junk_loops_and_crashes_cost_one_exercise(tmp_path):
    lesson = "00_setup_and_tour_exercises"
    nb = read(SOURCES[lesson])
    root = tmp_path / "class"
    for student in ("loop", "crash", "junk"):
        (root / student).mkdir(parents=True)
    loop = "def softmax_t(logits, temperature=1.0):\n    pass\nwhile True:\n    pass"
    nbformat.write(with_solution(nb, "softmax_t", loop), str(root / "loop" / f"{lesson}.ipynb"))
    crash = "import os\nos._exit(1)"
    nbformat.write(with_solution(nb, "softmax_t", crash), str(root / "crash" / f"{lesson} (1).ipynb"))
    (root / "junk" / "notes.txt").write_text("not a notebook")
    (root / "junk" / f"{lesson}.ipynb").write_text("{broken json")
    shutil.copy(ROOT / "notebooks" / "00_setup_and_tour.ipynb", root / "junk" / "99_unknown.ipynb")
    out = tmp_path / "grades"
    results = grade.grade_class(root, out, jobs=2, timeout=15, progress=False)
    scores = _scores(out)
    for student in ("loop", "crash"):
        assert scores[(student, "softmax_t")] == 0.0
        assert scores[(student, "top_k")] == 2.0, f"{student}: one exercise's failure cost another"
    statuses = sorted(r["status"] for r in results if r["student"] == "junk")
    assert statuses == ["not a notebook", "not a notebook", "unknown lesson"]
    loop_fb = (out / "feedback" / "loop" / f"{lesson}.md").read_text()
    assert "endless loop" in loop_fb
