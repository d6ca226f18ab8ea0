"""Autograde a class: ``python3 course.py grade SUBMISSIONS [--out grades] [--jobs N]``.

SUBMISSIONS holds one folder per student; each may contain any exercise notebooks, at any
depth (so nbgrader's ``submitted/<student>/<assignment>/`` layout works too). For each
notebook the grader:

1. matches it to an exercise notebook by file name (copies like ``... (1).ipynb`` are fine);
2. rebuilds it from the instructor's version, keeping only the student's solution cells
   (test cells cannot be edited away; hidden tests are put back);
3. runs it in a sandboxed worker process of its own (:mod:`course_lib.grading.sandbox`:
   bubblewrap where it works, no network, course material hidden, memory / CPU / process /
   disk / output limits) with a fresh kernel, cell by cell, with a per-cell time limit: a
   cell that errors fails only its own tests; an endless loop or a crashed kernel is
   stopped, the kernel is restarted, the set-up cells are re-run, and grading goes on with
   the next exercise; a submission that kills the worker loses its own notebook (``aborted``);
4. before each test cell re-makes the locked cells' helpers and checks that nothing tests
   rely on was patched (else the test scores 0, "tampering detected");
5. scores each test cell: full points if its visible and hidden parts both pass.

Writes ``OUT/scores.csv`` (student, lesson, exercise, points, max, status, detail) and
``OUT/feedback/<student>/<lesson>.md``. Feedback names failed tests as visible or hidden;
it shows scrubbed error messages of solution cells and visible tests, and nothing from a
failed hidden test. Results are cached in ``OUT/.cache``: a re-run grades only new or
changed submissions unless ``--force``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from course_lib.grading import answers
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
from course_lib.grading.sandbox import Limits, Sandbox

GRADER_VERSION = 3  # part of the cache key: results of an older grader are not reused
DEFAULT_TIMEOUT = 60  # seconds per cell: nbgrader's 30 s default is short for a cold torch import
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


@dataclass
class CellOutcome:
    ok: bool
    status: str = "ok"  # ok | error | timeout | dead kernel | not run
    error: str = ""
    ename: str = ""  # the exception's class name, when status is "error"


@dataclass
class TestOutcome:
    grade_id: str
    points: float
    max_points: float
    visible: CellOutcome
    hidden: CellOutcome | None
    tampering: str = ""  # what the integrity check found changed (then points are 0)


@dataclass
class LessonResult:
    student: str
    lesson: str
    file: str
    status: str  # graded | not a notebook | unknown lesson | aborted | error
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


# ------------------------------------------------------------------ running cells robustly (in the worker)

_MIME = "application/x-course-grader"  # how the grader's own checks report from the kernel


def _make_client_class():
    """A NotebookClient that keeps at most ``output_limit`` bytes of a student cell's output."""
    from nbclient import NotebookClient

    class _CappedClient(NotebookClient):
        output_limit = 256 * 1024
        grader_cell = False
        used = 0
        truncated = False
        last_reply: dict | None = None

        def output(self, outs, msg, display_id, cell_index):
            if not self.grader_cell:
                self.used += len(json.dumps(msg.get("content", {}), default=str))
                if self.used > self.output_limit:
                    self.truncated = True
                    return None
            return super().output(outs, msg, display_id, cell_index)

    return _CappedClient


class _Kernel:
    """A kernel that runs code strings, with a time limit, and can be restarted.

    Nothing is stored in IPython's input history (``In``, ``_ih``, ``_i``): a student's code
    cannot read the hidden tests from there. The kernel's own stdout and stderr go nowhere.
    """

    def __init__(self, timeout: int, cwd: Path, output_limit: int = 256 * 1024):
        self.timeout = timeout
        self.cwd = cwd
        self.output_limit = output_limit
        self.client = None
        self._ctx = None

    def start(self, attempts: int = 3) -> None:
        """Start a fresh kernel (tried ``attempts`` times: a start can fail on a port race)."""
        client_class = _make_client_class()
        for attempt in range(1, attempts + 1):
            nb = nbformat.v4.new_notebook()
            nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
            self.client = client_class(
                nb, timeout=self.timeout, kernel_name="python3", allow_errors=True,
                interrupt_on_timeout=False, resources={"metadata": {"path": str(self.cwd)}},
            )  # fmt: skip
            self.client.output_limit = self.output_limit
            self.client.on_cell_executed = self._on_executed
            devnull = subprocess.DEVNULL
            self._ctx = self.client.setup_kernel(stdin=devnull, stdout=devnull, stderr=devnull)
            try:
                self._ctx.__enter__()
                return
            except Exception:  # noqa: BLE001 - nbclient raises RuntimeError, zmq errors, timeouts
                self._ctx = None
                if attempt == attempts:
                    raise

    def _on_executed(self, cell=None, cell_index=None, execute_reply=None, **_):
        self.client.last_reply = execute_reply

    def stop(self) -> None:
        if self._ctx is not None:
            try:
                self._ctx.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - a dead kernel may fail to shut down cleanly
                pass
        self._ctx = None

    def run(self, source: str, grader: bool = False):
        """Run ``source``; returns (CellOutcome, the cell with its outputs)."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        cell = nbformat.v4.new_code_cell(source)
        if not source.strip():
            return CellOutcome(True), cell
        client = self.client
        client.nb.cells.append(cell)
        client.grader_cell, client.used, client.truncated, client.last_reply = grader, 0, False, None
        try:
            client.execute_cell(cell, len(client.nb.cells) - 1, store_history=False)
        except CellTimeoutError:
            return CellOutcome(False, "timeout", f"stopped after {self.timeout} s (endless loop?)"), cell
        except DeadKernelError:
            return CellOutcome(False, "dead kernel", "the kernel crashed (or ran out of memory)"), cell
        finally:
            client.nb.cells[-1] = nbformat.v4.new_code_cell("")  # keep no outputs around
        reply = (client.last_reply or {}).get("content", {})
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if reply.get("status") == "error" or errors or reply.get("status") not in ("ok", None):
            ename = str(reply.get("ename") or (errors[0].ename if errors else "Error"))
            evalue = str(reply.get("evalue") or (errors[0].evalue if errors else ""))
            return CellOutcome(False, "error", f"{ename}: {evalue[:2000]}", ename=ename[:80]), cell
        return CellOutcome(True), cell


# The grader's own code, run in the kernel between cells. It calls no student code: it reads
# module and class dictionaries directly and never calls repr(), getattr() or isinstance().
_CHECK = r'''
def __course_grader_check(token, modules, names, mime):
    import hashlib, json, marshal, sys, types
    ns = get_ipython().user_ns
    mod_t, fn_t, kinds = types.ModuleType, types.FunctionType, (property, staticmethod, classmethod)
    cls_dict = type.__dict__["__dict__"].__get__
    skip = {"_", "__", "___", "__warningregistry__", "__loader__", "__spec__"}
    # swapped by ipykernel per cell, or wrapped by torch when torch._dynamo is first imported
    swapped = {"builtins.input", "builtins.raw_input", "getpass.getpass", "torch.manual_seed"}
    fp, found = {}, set()

    def tracked(v):
        return callable(v) or type(v) is mod_t or type(v) in kinds

    for name in modules:
        mod = sys.modules.get(name)
        if type(mod) is not mod_t:
            continue
        fp["sys.modules[%r]" % name] = id(mod)
        top = name.split(".")[0]
        for k, v in list(mod.__dict__.items()):
            if type(k) is not str or k in skip or name + "." + k in swapped:
                continue
            if tracked(v):
                fp[name + "." + k] = id(v)
            if issubclass(type(v), type):
                d = cls_dict(v)
                if str(d.get("__module__", "")).split(".")[0] in (top, "builtins"):
                    for ck, cv in list(d.items()):
                        if type(ck) is str and tracked(cv):
                            fp[name + "." + k + "." + ck] = id(cv)
    shell = get_ipython()
    def ids(xs):
        return [id(x) for x in list(xs)]
    fp["IPython input transformers"] = ids(shell.input_transformers_cleanup) + ids(shell.input_transformers_post)
    fp["IPython AST transformers"] = ids(shell.ast_transformers)
    fp["IPython custom exception handler"] = ids(shell.custom_exceptions)
    fp["IPython event callbacks"] = sorted((k, ids(v)) for k, v in shell.events.callbacks.items())
    fp["IPython shell methods"] = sorted(k for k in shell.__dict__ if callable(shell.__dict__[k]))
    kernel = getattr(shell, "kernel", None)
    fp["kernel methods"] = sorted(k for k in (kernel.__dict__ if kernel is not None else {}) if callable(kernel.__dict__[k]))
    fp["sys.settrace"] = id(sys.gettrace())
    fp["sys.setprofile"] = id(sys.getprofile())
    if hasattr(sys, "monitoring"):
        fp["sys.monitoring"] = [str(sys.monitoring.get_tool(i)) for i in range(6)]
    for v in list(ns.values()):
        t = type(v)
        if t is mod_t:
            found.add(str(v.__dict__.get("__name__", "")))
        elif t is fn_t or t is types.BuiltinFunctionType:
            found.add(str(v.__module__))
        elif issubclass(t, type):
            found.add(str(cls_dict(v).get("__module__", "")))
    helpers = {}
    for name in names:
        v = ns.get(name, None)
        h = hashlib.sha256()
        if type(v) is fn_t:
            h.update(marshal.dumps(v.__code__, 2))
            try:
                h.update(marshal.dumps((v.__defaults__, v.__kwdefaults__), 2))
            except ValueError:
                h.update(b"defaults")
            h.update(str(id(v.__globals__)).encode())
        elif issubclass(type(v), type):
            for ck, cv in sorted((k, x) for k, x in cls_dict(v).items() if type(x) is fn_t):
                h.update(ck.encode() + marshal.dumps(cv.__code__, 2))
            h.update(str(id(v)).encode())
        else:
            h.update(str(id(v)).encode())
        helpers[name] = h.hexdigest()
    found.discard("__main__")
    found.discard("None")
    get_ipython().display_pub.publish(
        {mime: json.dumps({"token": token, "fp": fp, "modules": sorted(found), "names": helpers})})

__course_grader_check(*__ARGS__)
del __course_grader_check
'''

# Clears what could show the grader's code to a student's code run later: IPython's cache of
# cell sources (used for tracebacks and inspect) and its history.
_FORGET = r'''
def __course_grader_forget():
    import linecache
    for key, entry in list(linecache.cache.items()):
        if len(entry) > 1 and entry[1] is None:
            linecache.cache.pop(key, None)
    shell = get_ipython()
    getattr(shell.compile, "_filename_map", {}).clear()
    ns = shell.user_ns
    for key in ("_ih", "_oh", "In", "Out"):
        v = ns.get(key)
        if type(v) is list:
            v[:] = [""]
        elif type(v) is dict:
            v.clear()
    for key in ("_i", "_ii", "_iii", "_", "__", "___"):
        ns[key] = ""
__course_grader_forget()
del __course_grader_forget
'''

_TRACKED_MODULES = ["builtins", "math", "operator", "functools", "numpy", "numpy.linalg", "numpy.testing",
                    "numpy.random", "torch", "torch.nn", "torch.nn.functional", "torch.linalg", "torch.testing",
                    "torch.nn.init", "torch.autograd", "course_lib"]  # fmt: skip


def _definitions(source: str) -> tuple[str, list[str], list[str]]:
    """(code re-making a cell's imports, functions and classes; their def/class names; other names it assigns)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython syntax (magics): nothing restored from this cell
        return "", [], []
    keep, defined, assigned = [], [], []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            keep.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            keep.append(node)
            defined.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                assigned += [n.id for n in ast.walk(t) if isinstance(n, ast.Name)]
    code = ast.unparse(ast.Module(body=keep, type_ignores=[])) if keep else ""
    return code, defined, assigned


class _Guard:
    """Keeps the instructor's helpers in place and detects tampering with what tests rely on.

    Before each test cell the imports, functions and classes of the locked cells run so far
    are re-made (a student's ``def rel_error`` is replaced by the instructor's); before and
    after each part of a test cell, the identity of every function and class attribute of
    the modules tests use (torch, numpy, builtins, math, course_lib, ...), IPython's hooks,
    the tracer, the helpers' code and the set-up's data objects are compared with what they
    were after the set-up cells. A difference scores the test 0 with a note.
    """

    def __init__(self, kernel: _Kernel, nb):
        self.kernel = kernel
        self.token = secrets.token_hex(8)
        self.modules = list(_TRACKED_MODULES)
        self.base: dict = {}
        self.data_base: dict[str, str] = {}
        self.restore_code: list[str] = []
        self.helpers: list[str] = []
        test_assigned: set[str] = set()
        for cell in nb.cells:
            if cell.cell_type == "code" and is_test(cell):
                test_assigned |= set(_definitions(cell.source)[2]) | set(_definitions(cell.source)[1])
        self.test_assigned = test_assigned
        self.data_names: list[str] = []

    def check(self, names: list[str]) -> dict | None:
        code = _CHECK.replace("__ARGS__", repr((self.token, self.modules, names, _MIME)))
        outcome, cell = self.kernel.run(code, grader=True)
        if not outcome.ok:
            return None
        for out in cell.outputs:
            data = out.get("data", {}) if out.output_type == "display_data" else {}
            if _MIME in data:
                try:
                    found = json.loads(data[_MIME])
                except (TypeError, ValueError):
                    return None
                if found.get("token") == self.token:
                    return found
        return None

    def after_setup(self, source: str) -> None:
        code, defined, assigned = _definitions(source)
        if code:
            self.restore_code.append(code)
            self.helpers += [d for d in defined if d not in self.helpers]
        data = [a for a in assigned if a not in self.test_assigned and a not in defined and not a.startswith("_i")]
        self.data_names += [d for d in data if d not in self.data_names]
        now = self.check(data)
        if now is None:
            return
        for k, v in now["fp"].items():
            self.base.setdefault(k, v)
        self.modules += [m for m in now["modules"] if m not in self.modules]
        self.data_base.update(now["names"])

    def after_test(self, visible_source: str) -> None:
        code, defined, _ = _definitions(visible_source)
        if code:
            self.restore_code.append(code)
            self.helpers += [d for d in defined if d not in self.helpers]

    def reset(self) -> None:
        """After a kernel restart (the set-up cells re-run): a new baseline."""
        self.base, self.data_base = {}, {}

    def restore(self) -> None:
        if self.restore_code:
            self.kernel.run("\n".join(self.restore_code), grader=True)
            self.kernel.run(_FORGET, grader=True)

    def compare(self, helpers_before: dict | None = None, own: set[str] = frozenset()) -> tuple[str, dict | None]:
        """('' or what was tampered with, the helpers' fingerprints now).

        ``own``: names the test cell being checked (re)defines itself, not compared after it.
        """
        now = self.check(self.helpers + self.data_names)
        if now is None:
            return "the grader's integrity check could not run (display or kernel hooks replaced?)", None
        changed = [k for k, v in self.base.items() if k in now["fp"] and now["fp"][k] != v]
        changed += [f"{k} (set-up data)" for k, v in self.data_base.items() if k not in own and now["names"].get(k) != v]
        if helpers_before is not None:
            changed += [f"{k} (helper)" for k in self.helpers
                        if k not in own and now["names"].get(k) != helpers_before.get(k)]  # fmt: skip
        if changed:
            shown = ", ".join(c[:80] for c in changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
            return f"tampering detected: {shown} changed", now["names"]
        return "", now["names"]


def run_graded(
    nb, timeout: int = DEFAULT_TIMEOUT, cwd: Path = NOTEBOOK_DIR, output_limit: int = 256 * 1024, integrity: bool = True,
    lesson: str = "",
) -> tuple[dict[str, TestOutcome], dict[str, CellOutcome]]:
    """Run a merged notebook cell by cell (in the worker; see :mod:`course_lib.grading.sandbox`).

    Returns each test cell's outcome and each solution cell's outcome, by grade_id. For a
    known ``lesson``, the course_lib functions that are its exercises' answers are switched
    off for student code before anything runs (:mod:`course_lib.grading.answers`), and the
    functions each solution cell defines are marked as student code.
    """
    answer_guard = answers.guard_source(lesson)
    kernel = _Kernel(timeout, cwd, output_limit)
    kernel.start()
    if answer_guard:  # before the set-up cells, so the integrity baseline includes it
        kernel.run(answer_guard, grader=True)
    guard = _Guard(kernel, nb) if integrity else None
    setup_sources: list[str] = []
    outcomes: dict[str, TestOutcome] = {}
    solutions: dict[str, CellOutcome] = {}

    def recover(outcome: CellOutcome) -> bool:
        """Restart a dead or stuck kernel; True if it was restarted."""
        if outcome.status not in ("timeout", "dead kernel"):
            return False
        kernel.stop()
        kernel.start()
        if answer_guard:
            kernel.run(answer_guard, grader=True)
        if guard is not None:
            guard.reset()
        for src in setup_sources:
            kernel.run(src)
            if guard is not None:
                guard.after_setup(src)
        return True

    try:
        kernel.run(_FORGET, grader=True)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            meta = nbgrader_meta(cell)
            if is_test(cell):
                visible_src, hidden_src = split_hidden(cell.source)
                own = set(_definitions(visible_src + "\n" + hidden_src)[1]) | set(_definitions(visible_src + "\n" + hidden_src)[2])
                tampering, helpers = "", None
                if guard is not None:
                    guard.restore()
                    tampering, helpers = guard.compare()
                visible, _ = kernel.run(visible_src)
                restarted = recover(visible)
                if guard is not None and not restarted and not tampering:
                    tampering, _ = guard.compare(helpers, own)
                hidden = None
                if hidden_src.strip():
                    if visible.ok:
                        hidden, _ = kernel.run(hidden_src)
                        restarted = recover(hidden)
                        if guard is not None and not restarted and not tampering:
                            tampering, _ = guard.compare(helpers, own)
                    else:
                        hidden = CellOutcome(False, "not run", "skipped: the visible tests failed")
                kernel.run(_FORGET, grader=True)
                if guard is not None:
                    guard.after_test(visible_src)
                passed = visible.ok and (hidden is None or hidden.ok) and not tampering
                max_points = float(meta.get("points", 0))
                outcomes[meta["grade_id"]] = TestOutcome(
                    meta["grade_id"], max_points if passed else 0.0, max_points, visible, hidden, tampering
                )
            else:
                outcome, _ = kernel.run(cell.source)
                recover(outcome)
                if is_solution(cell):
                    solutions[meta["grade_id"]] = outcome
                    if answer_guard:
                        kernel.run(answers.wrap_student_source(answers.defined_names(cell.source)), grader=True)
                else:
                    setup_sources.append(cell.source)
                    if guard is not None:
                        guard.after_setup(cell.source)
    finally:
        kernel.stop()
    return outcomes, solutions


def run_job(job: dict, limits, cwd: Path) -> dict:
    """The worker's task: run one merged notebook; outcomes as plain JSON data."""
    nb = nbformat.reads(job["notebook"], as_version=4)
    outcomes, solutions = run_graded(nb, timeout=job["timeout"], cwd=cwd, output_limit=limits.output_kb * 1024,
                                     lesson=job.get("lesson", ""))
    return {
        "tests": {k: asdict(v) for k, v in outcomes.items()},
        "solutions": {k: asdict(v) for k, v in solutions.items()},
    }


# ------------------------------------------------------------------ one submission (in the grader)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hidden_lines(source) -> set[str]:
    """The lines of a notebook's hidden tests (stripped, long enough to be distinctive)."""
    lines = set()
    for cell in source.cells:
        if is_test(cell):
            lines |= {ln.strip() for ln in split_hidden(cell.source)[1].splitlines() if len(ln.strip()) >= 8}
    return lines


def scrub(text: str, hidden: set[str], limit: int = 300) -> str:
    """A message from a student's process made safe for feedback: no line of hidden test code."""
    out = []
    for line in str(text).splitlines():
        s = line.strip()
        if any(h in line for h in hidden) or (len(s) >= 12 and any(s in h for h in hidden)):
            out.append("[hidden test code removed]")
        else:
            out.append(line)
    text = "\n".join(out)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _builtin_exception(ename: str) -> str:
    import builtins

    obj = getattr(builtins, ename, None) if ename.isidentifier() else None
    return ename if isinstance(obj, type) and issubclass(obj, BaseException) else "an exception"


def _safe_outcome(raw: dict | None, hidden: set[str], is_hidden: bool) -> CellOutcome | None:
    """A worker's (untrusted) outcome, checked and made safe to show."""
    if raw is None:
        return None
    ok = raw.get("ok") is True
    status = raw.get("status") if raw.get("status") in ("ok", "error", "timeout", "dead kernel", "not run") else "error"
    ename = str(raw.get("ename", ""))
    if ok:
        return CellOutcome(True)
    if is_hidden:  # no text from the student's process at all
        why = {"timeout": "timed out", "dead kernel": "the kernel crashed", "not run": "not run: the visible tests failed"}
        return CellOutcome(False, status, why.get(status, f"hidden test failed ({_builtin_exception(ename)})"))
    if status in ("timeout", "dead kernel", "not run"):
        fixed = {"timeout": "stopped after the time limit (endless loop?)",
                 "dead kernel": "the kernel crashed (or ran out of memory)",
                 "not run": "not run"}  # fmt: skip
        return CellOutcome(False, status, fixed[status])
    return CellOutcome(False, status, scrub(str(raw.get("error", "")), hidden), ename=scrub(ename, hidden, 80))


def grade_file(student: str, path: Path, sources: dict[str, Path], timeout: int, sandbox=None) -> LessonResult:
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
    merged = merge_submission(source, submission)
    sandbox = sandbox or Sandbox(hide=[path.parent, *{p.parent for p in sources.values()}])
    n_cells = sum(c.cell_type == "code" for c in merged.cells)
    n_tests = sum(is_test(c) for c in merged.cells)
    wall = timeout * (n_cells + 2 * n_tests + 4) + 120
    run = sandbox.run({"notebook": nbformat.writes(merged), "timeout": timeout, "lesson": lesson}, wall)
    secret = hidden_lines(source)
    result = LessonResult(student, lesson, path.name, "graded" if run.ok else run.status, detail=run.detail)
    data = run.data if run.ok and isinstance(run.data, dict) else {}
    tests, sols = data.get("tests") or {}, data.get("solutions") or {}
    for ex in exercises(source):
        ex_tests = []
        for gid in ex.test_ids:
            raw = tests.get(gid) if isinstance(tests.get(gid), dict) else None
            visible = _safe_outcome(raw.get("visible") if raw else None, secret, False)
            if visible is None:
                continue
            hidden = _safe_outcome(raw.get("hidden"), secret, True)
            tampering = scrub(str(raw.get("tampering", "")), secret, 400)
            max_points = float(nbgrader_meta(next(c for c in source.cells if nbgrader_meta(c).get("grade_id") == gid)).get("points", 0))
            passed = visible.ok and (hidden is None or hidden.ok) and not tampering
            ex_tests.append(TestOutcome(gid, max_points if passed else 0.0, max_points, visible, hidden, tampering))
        sol_errors = []
        for s in ex.solution_ids:
            o = _safe_outcome(sols.get(s) if isinstance(sols.get(s), dict) else None, secret, False)
            if o is not None and not o.ok:
                sol_errors.append(f"{s}: {o.error}")
        result.exercises.append(
            {
                "name": ex.name,
                "points": sum(t.points for t in ex_tests),
                "max": ex.points,
                "tests": [asdict(t) for t in ex_tests],
                "solution_errors": sol_errors,
            }
        )
    result.seconds = time.perf_counter() - start
    return result


def _grade_job(args: tuple) -> dict:
    student, path, sources, timeout, sandbox = args
    try:
        return asdict(grade_file(student, Path(path), {k: Path(v) for k, v in sources.items()}, timeout, sandbox))
    except Exception as e:  # noqa: BLE001 - one notebook's failure never stops the class
        lesson = match_lesson(Path(path).name, list(sources)) or ""
        return asdict(LessonResult(student, lesson, Path(path).name, "error",
                                   detail=f"the grader failed on this file: {type(e).__name__}: {str(e)[:200]}"))  # fmt: skip


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
    """A student's feedback for one lesson: points per exercise and what failed.

    Only the grader's own words and the (scrubbed) error messages of solution cells and
    visible tests appear: never hidden test code or any text from a failed hidden test.
    """
    total = sum(e["points"] for e in r["exercises"])
    most = sum(e["max"] for e in r["exercises"])
    lines = [f"# Feedback: {r['lesson']} ({r['student']})", "", f"**Score: {total:g} / {most:g}**", ""]
    if r["status"] != "graded":
        lines += [f"Grading of this notebook was stopped: {r['detail']}.", ""]
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
            if t.get("tampering"):
                lines.append(f"- no points: {t['tampering']}")
        lines.append("")
    return "\n".join(lines)


def grade_class(root: Path, out: Path, jobs: int = 1, force: bool = False, timeout: int = DEFAULT_TIMEOUT,
                sources: dict[str, Path] | None = None, progress: bool = True, limits=None,
                isolation: str = "auto") -> list[dict]:  # fmt: skip
    """Grade every submission under ``root``; write scores.csv and feedback; return the rows.

    Each notebook is graded by its own sandboxed worker (:mod:`course_lib.grading.sandbox`),
    ``jobs`` at a time; whatever a submission does, it loses at most its own notebook.
    """
    from tqdm.auto import tqdm

    sources = sources or exercise_notebooks()
    limits = limits or Limits()
    cache = out / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    source_key = hashlib.sha256("".join(_sha(p) for p in sources.values()).encode()).hexdigest()[:16]
    settings = f"{timeout}:{limits.memory_mb}:{limits.cpu_seconds}:{limits.processes}:{limits.output_kb}:{GRADER_VERSION}"
    results: list[dict] = []
    todo = []
    for student, path in find_submissions(root):
        key = hashlib.sha256(f"{student}/{path.relative_to(root)}".encode()).hexdigest()[:20]
        cached = cache / f"{key}.json"
        digest = f"{_sha(path)}:{source_key}:{settings}"
        if not force and cached.exists():
            data = json.loads(cached.read_text())
            if data.get("digest") == digest:
                results.append(data["result"])
                continue
        todo.append(((student, str(path), {k: str(v) for k, v in sources.items()}, timeout), cached, digest))
    if todo:
        hide = [root, out, Path.cwd(), *{Path(p).parent for p in sources.values()}]
        sandbox = Sandbox(limits, hide=hide, isolation=isolation)
        print(sandbox.describe(), file=sys.stderr if sandbox.isolation != "bwrap" else sys.stdout, flush=True)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [(pool.submit(_grade_job, (*args, sandbox)), cached, digest) for args, cached, digest in todo]
            for fut, cached, digest in tqdm(futures, desc="grading", disable=not progress):
                result = fut.result()
                if result["status"] != "error":  # a grader failure is retried next time
                    cached.write_text(json.dumps({"digest": digest, "result": result}))
                results.append(result)
    results.sort(key=lambda r: (r["student"], r["lesson"], r["file"]))
    write_outputs(results, out)
    return results


def write_outputs(results: list[dict], out: Path) -> None:
    rows = []
    for r in results:
        if r["status"] not in ("graded", "aborted") or not r["exercises"]:
            rows.append([r["student"], r["lesson"], "", 0, 0, r["status"], f"{r['file']}: {r['detail']}"])
            continue
        for e in r["exercises"]:
            failed = [t["grade_id"] for t in e["tests"] if t["points"] < t["max_points"]]
            tampered = [t["grade_id"] for t in e["tests"] if t.get("tampering")]
            if r["status"] != "graded":
                detail = f"{r['file']}: {r['detail']}"
            else:
                detail = f"failed: {', '.join(failed)}" if failed else ""
                detail += f"; tampering: {', '.join(tampered)}" if tampered else ""
            rows.append([r["student"], r["lesson"], e["name"], e["points"], e["max"], r["status"], detail])
        fb = out / "feedback" / r["student"] / f"{r['lesson']}.md"
        fb.parent.mkdir(parents=True, exist_ok=True)
        fb.write_text(feedback_markdown(r))
    with open(out / "scores.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "lesson", "exercise", "points", "max", "status", "detail"])
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    d = Limits()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("submissions", type=Path, help="folder with one sub-folder per student")
    ap.add_argument("--out", type=Path, default=Path("grades"), help="where scores.csv and feedback/ go")
    ap.add_argument("--jobs", type=int, default=2, help="submissions graded in parallel")
    ap.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per cell")
    ap.add_argument("--force", action="store_true", help="re-grade submissions already graded")
    ap.add_argument("--memory", type=int, default=d.memory_mb, help="MB of memory per notebook (default %(default)s)")
    ap.add_argument("--cpu-time", type=int, default=d.cpu_seconds, help="CPU seconds per process (default %(default)s)")
    ap.add_argument("--max-procs", type=int, default=d.processes, help="processes per notebook (default %(default)s)")
    ap.add_argument("--output-limit", type=int, default=d.output_kb, help="KB of output kept per cell (default %(default)s)")
    ap.add_argument("--disk", type=int, default=d.disk_mb, help="MB of disk per notebook (default %(default)s)")
    ap.add_argument("--isolation", choices=["auto", "bwrap", "subprocess"], default="auto",
                    help="sandbox: bubblewrap where it works (auto), required (bwrap), or none (subprocess)")
    args = ap.parse_args(argv)
    limits = Limits(args.memory, args.cpu_time, args.max_procs, args.output_limit, args.disk)
    results = grade_class(args.submissions, args.out, jobs=args.jobs, force=args.force, timeout=args.timeout,
                          limits=limits, isolation=args.isolation)  # fmt: skip
    graded = [r for r in results if r["status"] == "graded"]
    stopped = [r for r in results if r["status"] in ("aborted", "error")]
    print(f"Graded {len(graded)} notebooks ({len(results) - len(graded) - len(stopped)} files reported, not graded"
          f"{f'; {len(stopped)} stopped: see status in scores.csv' if stopped else ''}).")  # fmt: skip
    print(f"Scores: {args.out / 'scores.csv'}   Feedback: {args.out / 'feedback'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
