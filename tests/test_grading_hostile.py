"""Grading a hostile class: no submission can raise its score or harm anyone else's.

One small class (lesson 00, plus lesson 08 for a helper used by its tests) in which each
student attacks the grader in one way. Each test asserts the grader contains it: the attack
scores nothing, the damage stays in the attacker's own notebook (recorded with a status),
everyone else is graded, ``scores.csv`` is written and not touched afterwards, and no
feedback shows hidden test code. Tests that need the bubblewrap sandbox are skipped where
``bwrap`` is missing; the containment tests also run without it (``isolation="subprocess"``).
"""

from __future__ import annotations

import csv
import os
import secrets
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from course_lib.grading import grade
from course_lib.grading.notebooks import exercise_notebooks, is_test, read, split_hidden
from course_lib.grading.sandbox import Limits, Sandbox

LESSON = "00_setup_and_tour_exercises"
CLIP = "08_clip_zero_shot_exercises"
SOURCES = exercise_notebooks()
HAS_BWRAP = shutil.which("bwrap") is not None
needs_bwrap = pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap (bwrap) is not installed: no sandbox to test")

GOOD_SOFTMAX = """def softmax_t(logits, temperature=1.0):
    return torch.softmax(logits.float() / temperature, dim=-1)
"""
WRONG_SOFTMAX = """def softmax_t(logits, temperature=1.0):
    e = (logits.float() / temperature).exp()
    return e / e.sum(dim=-1, keepdim=True)
"""


# A correct answer that is the course library's own function, reached through importlib.
IMPORTS_ANSWER = """import importlib
def softmax_t(logits, temperature=1.0):
    lib = importlib.import_module("course_lib." + "clip")
    return getattr(lib, "softmax_with" + "_temperature")(logits.float(), temperature)
"""


def notebook_with(lesson: str, **cells: str):
    nb = read(SOURCES[lesson])
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in cells:
            cell.source = cells[gid]
    return nb


def hidden_lines(lessons=(LESSON, CLIP)) -> set[str]:
    lines = set()
    for lesson in lessons:
        for c in read(SOURCES[lesson]).cells:
            if is_test(c):
                lines |= {ln.strip() for ln in split_hidden(c.source)[1].splitlines() if len(ln.strip()) > 20}
    return lines


def hostile_submissions(marker: str, out: Path, sources_dir: Path, root: Path) -> dict[str, tuple[str, dict]]:
    """student -> (lesson, solution cells by grade_id)."""
    # a detached process that waits for scores.csv and appends to it (and leaves a mark)
    script = (
        "import os, time\n"
        "for _ in range(300):\n"
        "    time.sleep(0.1)\n"
        f"    if os.path.exists({str(out / 'scores.csv')!r}):\n"
        f"        for p in ({str(out / 'scores.csv')!r}, '/tmp/{marker}-escaped'):\n"
        "            try:\n"
        "                open(p, 'a').write('mallory,x,x,99,1,graded,\\n')\n"
        "            except OSError:\n"
        "                pass\n"
    )
    escape = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', {script!r}, {marker!r}], start_new_session=True,\n"
        "                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n" + GOOD_SOFTMAX
    )
    read_instructor = f"""import glob, json, os
src = None
for path in [os.path.join(os.getcwd(), "{LESSON}.ipynb"), "../notebooks/{LESSON}.ipynb",
             {str(sources_dir / (LESSON + ".ipynb"))!r}, {str(root / "good" / (LESSON + ".ipynb"))!r},
             *glob.glob({str(root) + "/*/*.ipynb"!r})]:
    try:
        cells = json.load(open(path))["cells"]
    except (OSError, ValueError):
        continue
    src = next("".join(c["source"]) for c in cells if "def softmax_t" in "".join(c["source"]))
    break
exec(src if src else '''{WRONG_SOFTMAX}''')
"""
    leak = """import builtins, inspect, linecache
def softmax_t(logits, temperature=1.0):
    if logits.abs().max() > 100:  # only the hidden test calls with big logits
        frame = inspect.currentframe().f_back
        src = "".join(linecache.getlines(frame.f_code.co_filename))
        ns = get_ipython().user_ns
        history = "\\n".join(ns.get("_ih", [])) + "\\n".join(ns.get("In", []))
        builtins.STOLEN = src + history
        raise AssertionError("HIDDEN:\\n" + src + history)
    return torch.softmax(logits.float() / temperature, dim=-1)
"""
    # top_k's solution cell runs after softmax_t's hidden test: it raises what was stolen
    leak_later = """import builtins
def top_k(probs, names, k=5):
    values, indices = torch.as_tensor(probs).topk(min(k, len(names)))
    return [(names[int(i)], float(v)) for v, i in zip(values, indices)]
raise RuntimeError(getattr(builtins, "STOLEN", "nothing stolen"))
"""
    return {
        "good": (LESSON, {}),
        "kill_parent": (LESSON, {"softmax_t": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + GOOD_SOFTMAX}),
        "kill_all": (LESSON, {"softmax_t": """import os, signal
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
""" + GOOD_SOFTMAX}),
        "background": (LESSON, {"softmax_t": escape}),
        "forks": (LESSON, {"softmax_t": """import subprocess
procs = []
for _ in range(100):
    try:
        procs.append(subprocess.Popen(["sleep", "60"], start_new_session=True))
    except OSError:
        break
""" + GOOD_SOFTMAX}),
        "monkeypatch_torch": (LESSON, {"softmax_t": "torch.allclose = lambda *a, **k: True\n" + WRONG_SOFTMAX}),
        "patch_tensor_method": (LESSON, {"softmax_t": "torch.Tensor.all = lambda self, *a, **k: torch.tensor(True)\n"
                                         "torch.isfinite = lambda x: torch.ones_like(x, dtype=torch.bool)\n"
                                         + WRONG_SOFTMAX}),
        "read_instructor": (LESSON, {"softmax_t": read_instructor}),
        "leak": (LESSON, {"softmax_t": leak, "top_k": leak_later}),
        "memory_hog": (LESSON, {"softmax_t": "hog = torch.ones(6 * 2**30 // 4)\n" + GOOD_SOFTMAX}),
        "memory_creep": (LESSON, {"softmax_t": "hog = []\nwhile True:\n    hog.append(bytearray(2**26))\n"}),
        "disk_hog": (LESSON, {"softmax_t": "with open('big', 'wb') as f:\n    for _ in range(400):\n"
                                           "        f.write(b'x' * 2**20)\n" + GOOD_SOFTMAX}),
        "imports_answer": (LESSON, {"softmax_t": IMPORTS_ANSWER}),
        "clip_good": (CLIP, {}),
        "redefine_helper": (CLIP, {"ex1_clip_loss": "def rel_error(a, b):\n    return 0.0\n\n"
                                   "def clip_loss(u, v, temperature):\n    return (u @ v.T).sum() * 0\n"}),
    }


def build_class(tmp: Path, students: dict[str, tuple[str, dict]]) -> Path:
    root = tmp / "class"
    for student, (lesson, cells) in students.items():
        (root / student).mkdir(parents=True)
        nbformat.write(notebook_with(lesson, **cells), str(root / student / f"{lesson}.ipynb"))
    return root


def scores(out: Path) -> dict[tuple[str, str], tuple[float, str]]:
    with open(out / "scores.csv") as f:
        return {(r["student"], r["exercise"]): (float(r["points"]), r["status"]) for r in csv.DictReader(f)}


def survivors(marker: str) -> list[int]:
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if marker.encode() in (p / "cmdline").read_bytes():
                    found.append(int(p.name))
            except OSError:
                pass
    return found


def grade_hostile(tmp: Path, isolation: str, names: list[str] | None = None):
    marker = "hostile-" + secrets.token_hex(6)
    out = tmp / "grades"
    root = tmp / "class"
    students = hostile_submissions(marker, out, SOURCES[LESSON].parent, root)
    if names is not None:
        students = {k: v for k, v in students.items() if k in names}
    build_class(tmp, students)
    limits = Limits(memory_mb=1024, cpu_seconds=300, processes=64, output_kb=64, disk_mb=128)
    start = time.perf_counter()
    results = grade.grade_class(root, out, jobs=2, timeout=30, progress=False, limits=limits, isolation=isolation)
    seconds = time.perf_counter() - start
    before = (out / "scores.csv").read_bytes()
    time.sleep(3)  # a process that escaped would write within this time
    return {"out": out, "results": results, "marker": marker, "before": before, "seconds": seconds}


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory):
    if not HAS_BWRAP:
        pytest.skip("bubblewrap (bwrap) is not installed: no sandbox to test")
    return grade_hostile(tmp_path_factory.mktemp("sandboxed"), "bwrap")


@pytest.fixture(scope="module")
def fallback(tmp_path_factory):
    return grade_hostile(tmp_path_factory.mktemp("fallback"), "subprocess",
                         ["good", "kill_parent", "background", "forks", "memory_hog", "monkeypatch_torch"])


def check_contained(run, attackers: list[str]):
    s = scores(run["out"])
    assert s[("good", "softmax_t")] == (2.0, "graded") and s[("good", "top_k")] == (2.0, "graded"), s
    for student in attackers:
        assert s[(student, "softmax_t")][0] == 0.0, (student, s[(student, "softmax_t")])
    assert (run["out"] / "scores.csv").read_bytes() == run["before"], "scores.csv was modified after grading"
    assert b"mallory" not in run["before"]
    assert not Path(f"/tmp/{run['marker']}-escaped").exists(), "a background process wrote outside its sandbox"
    assert not survivors(run["marker"]), "a process started by a submission outlived grading"


# ------------------------------------------------------------------ containment (sandbox and fallback)


@pytest.mark.parametrize("mode", ["sandboxed", "fallback"])
def test_killing_the_grader_loses_only_that_notebook(mode, request):
    run = request.getfixturevalue(mode)
    check_contained(run, ["kill_parent", "kill_all"] if mode == "sandboxed" else ["kill_parent"])
    s = scores(run["out"])
    assert s[("kill_parent", "softmax_t")][1] == "aborted"
    assert s[("kill_parent", "top_k")] == (0.0, "aborted")
    fb = (run["out"] / "feedback" / "kill_parent" / f"{LESSON}.md").read_text()
    assert "stopped" in fb


@pytest.mark.parametrize("mode", ["sandboxed", "fallback"])
def test_background_processes_do_not_survive(mode, request):
    run = request.getfixturevalue(mode)
    check_contained(run, [])
    s = scores(run["out"])
    assert s[("background", "softmax_t")][1] in ("graded", "aborted")
    assert s[("forks", "top_k")][1] in ("graded", "aborted")


@pytest.mark.parametrize("mode", ["sandboxed", "fallback"])
def test_memory_hog_costs_its_exercise(mode, request):
    run = request.getfixturevalue(mode)
    s = scores(run["out"])
    assert s[("memory_hog", "softmax_t")] == (0.0, "graded")
    assert s[("memory_hog", "top_k")] == (2.0, "graded"), "a memory hog cost another exercise"


@needs_bwrap
def test_memory_creep_and_disk_hog(sandboxed):
    s = scores(sandboxed["out"])
    for student in ("memory_creep", "disk_hog"):
        assert s[(student, "softmax_t")] == (0.0, "graded"), (student, s[(student, "softmax_t")])
        assert s[(student, "top_k")] == (2.0, "graded"), student


# ------------------------------------------------------------------ integrity


@pytest.mark.parametrize("mode", ["sandboxed", "fallback"])
def test_monkeypatching_torch_scores_nothing(mode, request):
    run = request.getfixturevalue(mode)
    s = scores(run["out"])
    assert s[("monkeypatch_torch", "softmax_t")] == (0.0, "graded")
    r = next(r for r in run["results"] if r["student"] == "monkeypatch_torch")
    notes = [t["tampering"] for e in r["exercises"] for t in e["tests"]]
    assert any("torch.allclose" in n for n in notes), notes


@needs_bwrap
def test_patching_tensor_methods_scores_nothing(sandboxed):
    s = scores(sandboxed["out"])
    assert s[("patch_tensor_method", "softmax_t")] == (0.0, "graded")


@needs_bwrap
def test_redefining_a_helper_scores_nothing(sandboxed):
    s = scores(sandboxed["out"])
    assert s[("redefine_helper", "ex1_clip_loss")][0] == 0.0
    assert s[("clip_good", "ex1_clip_loss")][0] > 0.0
    good = {k[1]: v for k, v in s.items() if k[0] == "clip_good"}
    bad = {k[1]: v for k, v in s.items() if k[0] == "redefine_helper"}
    assert all(bad[e] == good[e] for e in good if e != "ex1_clip_loss"), (good, bad)


# ------------------------------------------------------------------ isolation and leaks


@needs_bwrap
def test_instructor_material_is_out_of_reach(sandboxed):
    s = scores(sandboxed["out"])
    assert s[("read_instructor", "softmax_t")] == (0.0, "graded")


@needs_bwrap
def test_feedback_never_shows_hidden_tests(sandboxed):
    s = scores(sandboxed["out"])
    assert s[("leak", "softmax_t")][0] == 0.0
    secret = hidden_lines()
    for f in (sandboxed["out"] / "feedback").rglob("*.md"):
        text = f.read_text()
        assert not any(line in text for line in secret), f"{f} shows hidden test code"
    fb = (sandboxed["out"] / "feedback" / "leak" / f"{LESSON}.md").read_text()
    assert "hidden tests: FAILED" in fb and "HIDDEN:" not in fb


@needs_bwrap
def test_sandbox_has_no_network_and_a_private_folder(tmp_path):
    sb = Sandbox(Limits(), hide=[tmp_path], isolation="bwrap")
    assert sb.isolation == "bwrap"
    (tmp_path / "secret.txt").write_text("instructor only")
    code = f"""
import os, socket, pathlib
assert not pathlib.Path({str(tmp_path / 'secret.txt')!r}).exists()
assert not pathlib.Path({str(SOURCES[LESSON])!r}).exists()
assert os.listdir(".") == [], os.listdir(".")
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    raise SystemExit("network reachable")
except OSError:
    pass
print("SANDBOX-OK")
"""
    import subprocess
    import sys

    argv = [*sb._bwrap_argv(), sys.executable, "-c", code]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert "SANDBOX-OK" in r.stdout, r.stderr


def test_fallback_is_announced(tmp_path, capsys):
    sb = Sandbox(Limits(), isolation="subprocess")
    assert sb.isolation == "subprocess"
    assert sb.describe().startswith("WARNING")
    if os.name == "posix":
        assert "bubblewrap" in sb.describe()


def test_imported_answer_scores_nothing_and_says_why(sandboxed):
    """The course library's own softmax would pass every test (checked here in-process);
    graded, the call is switched off for student code and the feedback says why."""
    import torch

    ns: dict = {"torch": torch}
    exec(IMPORTS_ANSWER, ns)  # noqa: S102 - the test's own code
    logits = torch.randn(3, 5)
    assert torch.allclose(ns["softmax_t"](logits, 2.0), torch.softmax(logits / 2.0, dim=-1))
    s = scores(sandboxed["out"])
    assert s[("imports_answer", "softmax_t")] == (0.0, "graded")
    assert s[("imports_answer", "top_k")] == (2.0, "graded"), "only the exercise whose answer was imported"
    fb = (sandboxed["out"] / "feedback" / "imports_answer" / f"{LESSON}.md").read_text()
    assert "write it yourself" in fb, fb


def test_two_graders_at_once_never_share_a_sandbox_uid():
    """Each grader kills its sandbox uid's processes after a notebook: two graders running at
    once (two instructors, parallel CI) must claim different uids, across processes."""
    a, b = Sandbox(isolation="subprocess"), Sandbox(isolation="subprocess")
    if a.uid_base is None or b.uid_base is None:
        pytest.skip("no sandbox uid here (not root, or the uid probe failed): nothing to share")
    first, second = a._slot(), b._slot()
    assert first != second
    a._free(first)
    assert b._slot() == first, "a freed slot can be claimed again"
