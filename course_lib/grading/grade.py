"""Autograde a class: ``python3 course.py grade SUBMISSIONS [--out grades] [--jobs N]``.

SUBMISSIONS holds one folder per student; each may contain any exercise notebooks, at any
depth (so nbgrader's ``submitted/<student>/<assignment>/`` layout works too). For each
notebook the grader:

1. matches it to an exercise notebook by file name (copies like ``... (1).ipynb`` are fine);
2. rebuilds it from the instructor's version, keeping only the student's solution cells
   (test cells cannot be edited away; hidden tests are put back);
3. runs it in a fresh kernel, cell by cell, with a per-cell time limit: a cell that errors
   fails only its own tests; an endless loop or a crashed kernel is stopped, the kernel is
   restarted, the set-up cells are re-run, and grading goes on with the next exercise;
4. scores each test cell: full points if its visible and hidden parts both pass.

Writes ``OUT/scores.csv`` (student, lesson, exercise, points, max, status, detail) and
``OUT/feedback/<student>/<lesson>.md``. Feedback names failed tests as visible or hidden
and shows error messages, never hidden test code. Results are cached in ``OUT/.cache``:
a re-run grades only new or changed submissions unless ``--force``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from course_lib.grading.notebooks import (
    NOTEBOOK_DIR,
    exercise_notebooks,
    exercises,
    is_solution,
    is_test,
    match_lesson,
    nbgrader_meta,
    read,
    split_hidden,
)

DEFAULT_TIMEOUT = 60  # seconds per cell: nbgrader's 30 s default is short for a cold torch import
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


@dataclass
class CellOutcome:
    ok: bool
    status: str = "ok"  # ok | error | timeout | dead kernel | not run
    error: str = ""


@dataclass
class TestOutcome:
    grade_id: str
    points: float
    max_points: float
    visible: CellOutcome
    hidden: CellOutcome | None


@dataclass
class LessonResult:
    student: str
    lesson: str
    file: str
    status: str  # graded | not a notebook | unknown lesson
    exercises: list[dict] = field(default_factory=list)  # name, points, max, tests
    seconds: float = 0.0
    detail: str = ""


# ------------------------------------------------------------------ building the graded notebook


def merge_submission(source, submission):
    """The instructor's notebook with the student's solution cells put in (by grade_id)."""
    theirs = {nbgrader_meta(c).get("grade_id"): c for c in submission.cells if is_solution(c)}
    merged = nbformat.v4.new_notebook(metadata=source.metadata)
    for cell in source.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if is_solution(cell) and not is_test(cell):
            student_cell = theirs.get(gid)
            src = student_cell.source if student_cell is not None else STUB
            new = nbformat.v4.new_code_cell(src) if cell.cell_type == "code" else nbformat.v4.new_markdown_cell(src)
            new.metadata = cell.metadata
            merged.cells.append(new)
        else:
            merged.cells.append(cell)
    return merged


# ------------------------------------------------------------------ running cells robustly


class _Kernel:
    """A kernel that runs code strings, with a time limit, and can be restarted."""

    def __init__(self, timeout: int, cwd: Path):
        self.timeout = timeout
        self.cwd = cwd
        self.client = None
        self._ctx = None
        self._count = 0

    def start(self, attempts: int = 3) -> None:
        """Start a fresh kernel. A kernel can fail to start when parallel graders race for the
        same free port ("Address already in use"); then it is tried again, up to ``attempts``."""
        from nbclient import NotebookClient

        for attempt in range(1, attempts + 1):
            nb = nbformat.v4.new_notebook()
            nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
            self.client = NotebookClient(
                nb, timeout=self.timeout, kernel_name="python3", allow_errors=True,
                interrupt_on_timeout=False, resources={"metadata": {"path": str(self.cwd)}},
            )  # fmt: skip
            self._ctx = self.client.setup_kernel()
            try:
                self._ctx.__enter__()
                return
            except Exception:  # noqa: BLE001 - nbclient raises RuntimeError, zmq errors, timeouts
                self._ctx = None
                if attempt == attempts:
                    raise

    def stop(self) -> None:
        if self._ctx is not None:
            try:
                self._ctx.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - a dead kernel may fail to shut down cleanly
                pass
        self._ctx = None

    def run(self, source: str) -> CellOutcome:
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        if not source.strip():
            return CellOutcome(True)
        cell = nbformat.v4.new_code_cell(source)
        self.client.nb.cells.append(cell)
        try:
            self.client.execute_cell(cell, len(self.client.nb.cells) - 1)
        except CellTimeoutError:
            return CellOutcome(False, "timeout", f"stopped after {self.timeout} s (endless loop?)")
        except DeadKernelError:
            return CellOutcome(False, "dead kernel", "the kernel crashed")
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors:
            e = errors[0]
            return CellOutcome(False, "error", f"{e.ename}: {str(e.evalue)[:300]}")
        return CellOutcome(True)


def run_graded(
    nb, timeout: int = DEFAULT_TIMEOUT, cwd: Path = NOTEBOOK_DIR
) -> tuple[dict[str, TestOutcome], dict[str, CellOutcome]]:
    """Run a merged notebook cell by cell.

    Returns each test cell's outcome and each solution cell's outcome, by grade_id.
    """
    kernel = _Kernel(timeout, cwd)
    kernel.start()
    setup_sources: list[str] = []
    outcomes: dict[str, TestOutcome] = {}
    solutions: dict[str, CellOutcome] = {}

    def recover(outcome: CellOutcome) -> None:
        if outcome.status in ("timeout", "dead kernel"):
            kernel.stop()
            kernel.start()
            for src in setup_sources:
                kernel.run(src)

    try:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            meta = nbgrader_meta(cell)
            if is_test(cell):
                visible_src, hidden_src = split_hidden(cell.source)
                visible = kernel.run(visible_src)
                recover(visible)
                hidden = None
                if hidden_src.strip():
                    if visible.ok:
                        hidden = kernel.run(hidden_src)
                        recover(hidden)
                    else:
                        hidden = CellOutcome(False, "not run", "skipped: the visible tests failed")
                passed = visible.ok and (hidden is None or hidden.ok)
                max_points = float(meta.get("points", 0))
                outcomes[meta["grade_id"]] = TestOutcome(
                    meta["grade_id"], max_points if passed else 0.0, max_points, visible, hidden
                )
            else:
                outcome = kernel.run(cell.source)
                recover(outcome)
                if is_solution(cell):
                    solutions[meta["grade_id"]] = outcome
                else:
                    setup_sources.append(cell.source)
    finally:
        kernel.stop()
    return outcomes, solutions


# ------------------------------------------------------------------ one submission


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def grade_file(student: str, path: Path, sources: dict[str, Path], timeout: int) -> LessonResult:
    """Grade one submitted file (never raises for a bad submission)."""
    start = time.perf_counter()
    lesson = match_lesson(path.name, list(sources))
    if path.suffix != ".ipynb":
        return LessonResult(student, lesson or "", path.name, "not a notebook", detail="not an .ipynb file")
    try:
        submission = read(path)
    except Exception as e:  # noqa: BLE001 - any unreadable file is reported, not raised
        return LessonResult(student, lesson or "", path.name, "not a notebook", detail=f"unreadable: {type(e).__name__}")
    if lesson is None:
        return LessonResult(student, "", path.name, "unknown lesson", detail="matches no exercise notebook")
    source = read(sources[lesson])
    outcomes, solutions = run_graded(merge_submission(source, submission), timeout=timeout)
    result = LessonResult(student, lesson, path.name, "graded")
    for ex in exercises(source):
        tests = [outcomes[t] for t in ex.test_ids if t in outcomes]
        result.exercises.append(
            {
                "name": ex.name,
                "points": sum(t.points for t in tests),
                "max": ex.points,
                "tests": [asdict(t) for t in tests],
                "solution_errors": [
                    f"{s}: {solutions[s].error}" for s in ex.solution_ids if s in solutions and not solutions[s].ok
                ],
            }
        )
    result.seconds = time.perf_counter() - start
    return result


def _grade_job(args: tuple[str, str, dict[str, str], int]) -> dict:
    student, path, sources, timeout = args
    return asdict(grade_file(student, Path(path), {k: Path(v) for k, v in sources.items()}, timeout))


# ------------------------------------------------------------------ a class


def find_submissions(root: Path) -> list[tuple[str, Path]]:
    """(student, file) for every file under each student folder of ``root``."""
    if not root.is_dir():
        raise SystemExit(f"No such folder: {root}")
    found = []
    for student_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(student_dir.rglob("*")):
            if f.is_file() and ".ipynb_checkpoints" not in f.parts and not f.name.startswith("."):
                found.append((student_dir.name, f))
    return found


def feedback_markdown(r: dict) -> str:
    """A student's feedback for one lesson: points per exercise and what failed (no hidden code)."""
    total = sum(e["points"] for e in r["exercises"])
    most = sum(e["max"] for e in r["exercises"])
    lines = [f"# Feedback: {r['lesson']} ({r['student']})", "", f"**Score: {total:g} / {most:g}**", ""]
    for e in r["exercises"]:
        lines.append(f"## {e['name']}: {e['points']:g} / {e['max']:g}")
        for err in e.get("solution_errors", []):
            lines.append(f"- your solution cell failed to run: {err}")
        for t in e["tests"]:
            vis = t["visible"]
            lines.append(f"- visible tests: {'passed' if vis['ok'] else 'FAILED: ' + vis['error']}")
            if t["hidden"] is not None:
                hid = t["hidden"]
                lines.append(f"- hidden tests: {'passed' if hid['ok'] else 'FAILED: ' + hid['error']}")
        lines.append("")
    return "\n".join(lines)


def grade_class(root: Path, out: Path, jobs: int = 1, force: bool = False, timeout: int = DEFAULT_TIMEOUT,
                sources: dict[str, Path] | None = None, progress: bool = True) -> list[dict]:  # fmt: skip
    """Grade every submission under ``root``; write scores.csv and feedback; return the rows."""
    from tqdm.auto import tqdm

    sources = sources or exercise_notebooks()
    cache = out / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    source_key = hashlib.sha256("".join(_sha(p) for p in sources.values()).encode()).hexdigest()[:16]
    results: list[dict] = []
    todo = []
    for student, path in find_submissions(root):
        key = hashlib.sha256(f"{student}/{path.relative_to(root)}".encode()).hexdigest()[:20]
        cached = cache / f"{key}.json"
        digest = f"{_sha(path)}:{source_key}:{timeout}"
        if not force and cached.exists():
            data = json.loads(cached.read_text())
            if data.get("digest") == digest:
                results.append(data["result"])
                continue
        todo.append(((student, str(path), {k: str(v) for k, v in sources.items()}, timeout), cached, digest))
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [(pool.submit(_grade_job, args), cached, digest) for args, cached, digest in todo]
        for fut, cached, digest in tqdm(futures, desc="grading", disable=not progress):
            result = fut.result()
            cached.write_text(json.dumps({"digest": digest, "result": result}))
            results.append(result)
    results.sort(key=lambda r: (r["student"], r["lesson"], r["file"]))
    write_outputs(results, out)
    return results


def write_outputs(results: list[dict], out: Path) -> None:
    rows = []
    for r in results:
        if r["status"] != "graded":
            rows.append([r["student"], r["lesson"], "", 0, 0, r["status"], f"{r['file']}: {r['detail']}"])
            continue
        for e in r["exercises"]:
            failed = [t["grade_id"] for t in e["tests"] if t["points"] < t["max_points"]]
            rows.append([r["student"], r["lesson"], e["name"], e["points"], e["max"], "graded",
                         f"failed: {', '.join(failed)}" if failed else ""])  # fmt: skip
        fb = out / "feedback" / r["student"] / f"{r['lesson']}.md"
        fb.parent.mkdir(parents=True, exist_ok=True)
        fb.write_text(feedback_markdown(r))
    with open(out / "scores.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "lesson", "exercise", "points", "max", "status", "detail"])
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("submissions", type=Path, help="folder with one sub-folder per student")
    ap.add_argument("--out", type=Path, default=Path("grades"), help="where scores.csv and feedback/ go")
    ap.add_argument("--jobs", type=int, default=2, help="submissions graded in parallel")
    ap.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per cell")
    ap.add_argument("--force", action="store_true", help="re-grade submissions already graded")
    args = ap.parse_args(argv)
    results = grade_class(args.submissions, args.out, jobs=args.jobs, force=args.force, timeout=args.timeout)
    graded = [r for r in results if r["status"] == "graded"]
    print(f"Graded {len(graded)} notebooks ({len(results) - len(graded)} files reported, not graded).")
    print(f"Scores: {args.out / 'scores.csv'}   Feedback: {args.out / 'feedback'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
