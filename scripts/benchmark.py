#!/usr/bin/env python3
"""Performance report: ``python3 course.py bench [--only NAME ...] [--no-widgets]``.

Executes every notebook in notebooks/ headless, one at a time, and records its wall time,
its kernel's peak memory (resident set size of the kernel process and its children, sampled
every 0.2 s) and its slowest cells; then times every lesson widget's callbacks (each
``widget_demo()``'s sliders, dropdowns and toggles set to a new value, in a kernel-free
Python process). Writes ``docs/performance.md`` and ``docs/performance.json`` with the
machine it ran on, and flags every budget of the course design that is missed:

- a lesson notebook end to end under 240 s; an exercise notebook under 30 s;
- peak memory of one notebook under 4 GB;
- a widget callback (a slider's head refit) under 2 s.

This is a benchmark, not a test: nothing fails; the report says what is over budget.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
DOCS = ROOT / "docs"
BUDGET = {"lesson_s": 240.0, "exercise_s": 30.0, "memory_mb": 4096.0, "callback_s": 2.0}
REFIT = re.compile(r"refit in (\d+(?:\.\d+)?) s")


class PeakMemory:
    """Samples the RSS of a process tree in a background thread."""

    def __init__(self, pid: int, every: float = 0.2):
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                proc = psutil.Process(self.pid)
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
                self.peak = max(self.peak, rss)
            except psutil.Error:
                pass
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_notebook(path: Path, timeout: int = 1200) -> dict:
    """Execute one notebook the way the build and nbval do (``NotebookClient.execute``), timing
    each cell through nbclient's hooks and sampling the kernel's memory from its start."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(str(path), as_version=4)
    cell_times: list[tuple[int, float]] = []
    started: dict[int, float] = {}
    samplers: list[PeakMemory] = []
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})

    def notebook_start(notebook=None, **_):
        pid = client.km.provisioner.pid if client.km.provisioner else client.km.kernel.pid
        samplers.append(PeakMemory(pid).__enter__())

    def cell_start(cell=None, cell_index=0, **_):
        started[cell_index] = time.perf_counter()

    def cell_done(cell=None, cell_index=0, **_):
        cell_times.append((cell_index, time.perf_counter() - started.get(cell_index, time.perf_counter())))

    client.on_notebook_start = notebook_start
    client.on_cell_start = cell_start
    client.on_cell_executed = cell_done
    error = ""
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as e:
        error = f"{type(e).__name__}: {str(e).strip().splitlines()[-1][:200] if str(e).strip() else ''}"
    except Exception as e:  # noqa: BLE001 - recorded in the report
        error = f"{type(e).__name__}: {e}"[:200]
    finally:
        for sampler in samplers:
            sampler.__exit__(None, None, None)
    mem = samplers[0] if samplers else PeakMemory(os.getpid())
    wall = time.perf_counter() - start
    refits = []  # a widget's head refit, timed by the notebook itself ("refit in 0.12 s")
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            for m in REFIT.finditer(out.get("text", "") if out.get("output_type") == "stream" else ""):
                refits.append({"cell": i, "s": float(m.group(1))})
    slowest = sorted(cell_times, key=lambda t: -t[1])[:3]
    return {
        "notebook": path.stem,
        "kind": "exercise" if path.stem.endswith("_exercises") else "lesson",
        "wall_s": round(wall, 1),
        "peak_mb": round(mem.peak / 2**20),
        "slowest_cells": [{"cell": i, "s": round(t, 1)} for i, t in slowest],
        "error": error,
        "refits": refits,
    }


_CALLBACK_PROBE = r"""
import importlib, json, sys, time
import ipywidgets as w
import matplotlib
matplotlib.use("Agg")
mod = importlib.import_module("course_lib." + sys.argv[1])
t0 = time.perf_counter()
root = mod.widget_demo()
build = time.perf_counter() - t0

def walk(x):
    yield x
    for c in getattr(x, "children", ()):
        yield from walk(c)

rows = []
for ctl in walk(root):
    new = None
    if isinstance(ctl, (w.FloatSlider, w.IntSlider, w.FloatLogSlider)):
        new = ctl.max if ctl.value != ctl.max else ctl.min
    elif isinstance(ctl, (w.Dropdown, w.RadioButtons, w.ToggleButtons)) and len(ctl.options) > 1:
        opts = [o[1] if isinstance(o, tuple) else o for o in ctl.options]
        new = next(o for o in opts if o != ctl.value)
    elif isinstance(ctl, (w.Checkbox, w.ToggleButton)):
        new = not ctl.value
    if new is None:
        continue
    t0 = time.perf_counter()
    ctl.value = new
    rows.append({"control": f"{type(ctl).__name__} {ctl.description!r}", "s": round(time.perf_counter() - t0, 3)})
print("JSON" + json.dumps({"module": sys.argv[1], "build_s": round(build, 2), "callbacks": rows}))
"""


def time_callbacks(module: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CALLBACK_PROBE, module], capture_output=True, text=True,
                         cwd=NOTEBOOKS, timeout=600)  # fmt: skip
    for line in out.stdout.splitlines():
        if line.startswith("JSON"):
            return json.loads(line[4:])
    lines = [ln for ln in (out.stderr or out.stdout).splitlines() if ln.strip()]
    return {"module": module, "error": lines[-1][:300] if lines else f"exit code {out.returncode}"}


def machine() -> dict:
    import torch

    from course_lib.device import describe_device

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": describe_device(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def flags(row: dict) -> list[str]:
    out = []
    limit = BUDGET["exercise_s"] if row["kind"] == "exercise" else BUDGET["lesson_s"]
    if row["wall_s"] > limit:
        out.append(f"time {row['wall_s']} s > {limit:g} s")
    if row["peak_mb"] > BUDGET["memory_mb"]:
        out.append(f"memory {row['peak_mb']} MB > {BUDGET['memory_mb']:g} MB")
    if row["error"]:
        out.append(f"error: {row['error']}")
    out += [f"widget refit {r['s']} s > {BUDGET['callback_s']:g} s (cell {r['cell']})" for r in row.get("refits", [])
            if r["s"] > BUDGET["callback_s"]]  # fmt: skip
    return out


GPU_STEM = "performance-cuda"


def _gpu_times(stem: str) -> dict:
    """Wall times of the committed GPU run (``docs/performance-cuda.json``) by notebook, if any."""
    path = DOCS / f"{GPU_STEM}.json"
    if stem == GPU_STEM or not path.is_file():
        return {}
    gpu = json.loads(path.read_text())
    out = {r["notebook"]: r["wall_s"] if not r["error"] else f"error: {r['error']}" for r in gpu["notebooks"]}
    out["_machine"] = f"{gpu['machine']['device']}, {gpu['machine']['date']}"
    return out


def write_report(report: dict, stem: str = "performance") -> None:
    DOCS.mkdir(exist_ok=True)
    (DOCS / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    lines = [
        "# Performance report",
        "",
        f"Written by `python3 course.py bench` on {m['date']}: {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gb']} GB, Python {m['python']}, torch {m['torch']}, {m['device']}.",
        "",
        "Budgets (course design): lesson under 240 s, exercise notebook under 30 s, peak memory "
        "under 4 GB, widget callback under 2 s.",
        "",
        "## Notebooks",
        "",
        "| notebook | wall time (s) | peak memory (MB) | slowest cells (index: s) | budget | GPU wall time (s) |",
        "|---|---|---|---|---|---|",
    ]
    gpu = _gpu_times(stem)
    total = 0.0
    for r in report["notebooks"]:
        total += r["wall_s"]
        slow = ", ".join(f"{c['cell']}: {c['s']}" for c in r["slowest_cells"])
        lines.append(f"| {r['notebook']} | {r['wall_s']} | {r['peak_mb']} | {slow} | "
                     f"{'; '.join(r['flags']) or 'OK'} | {gpu.get(r['notebook'], 'not run')} |")  # fmt: skip
    lines += ["", f"All notebooks together: {total:.0f} s.", ""]
    if stem == GPU_STEM:
        lines += ["This is the GPU run; the CPU report is `performance.md`.", ""]
    elif gpu:
        lines += [f"GPU times from `docs/{GPU_STEM}.json` ({gpu['_machine']}).", ""]
    else:
        lines += [f"GPU column: no GPU run is recorded yet (`python3 course.py bench` on a CUDA machine writes "
                  f"`docs/{GPU_STEM}.json`; re-running the CPU benchmark then fills this column).", ""]
    refits = [(r["notebook"], x) for r in report["notebooks"] for x in r.get("refits", [])]
    if refits:
        lines += ["## Widget refits timed inside the notebooks", "",
                  "Slider callbacks that refit a head on cached features print their own time; the run above recorded:", "",
                  "| notebook | cell | refit (s) | budget |", "|---|---|---|---|"]  # fmt: skip
        for name, x in refits:
            lines.append(f"| {name} | {x['cell']} | {x['s']} | {'OK' if x['s'] <= BUDGET['callback_s'] else 'over 2 s'} |")
        lines.append("")
    if report.get("widgets"):
        lines += ["## Widget callbacks", "", "| module | demo built in (s) | control | callback (s) | budget |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for wd in report["widgets"]:
            if "error" in wd:
                lines.append(f"| {wd['module']} | | | | error: {wd['error'][:120]!r} |")
                continue
            for cb in wd["callbacks"] or [{"control": "(none)", "s": 0}]:
                ok = "OK" if cb["s"] <= BUDGET["callback_s"] else f"over {BUDGET['callback_s']:g} s"
                lines.append(f"| {wd['module']} | {wd['build_s']} | {cb['control']} | {cb['s']} | {ok} |")
        lines.append("")
    missed = [f"{r['notebook']}: {f}" for r in report["notebooks"] for f in r["flags"]]
    missed += [f"{wd['module']} {cb['control']}: {cb['s']} s" for wd in report.get("widgets", []) if "callbacks" in wd
               for cb in wd["callbacks"] if cb["s"] > BUDGET["callback_s"]]  # fmt: skip
    lines += ["## Budgets missed", ""] + ([f"- {m}" for m in missed] or ["None."]) + [""]
    if report.get("notes"):
        lines += ["## Notes", "", *report["notes"], ""]
    (DOCS / f"{stem}.md").write_text("\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="notebook stems to run (default: all)")
    ap.add_argument("--no-widgets", action="store_true")
    ap.add_argument("--stem", default=None, help="report file name under docs/ (default: performance, "
                    f"or {GPU_STEM} when the notebooks run on CUDA)")
    ap.add_argument("--note", action="append", default=[], help="a line for the report's Notes section")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.stem is None:
        from course_lib.device import get_device

        args.stem = GPU_STEM if get_device().type == "cuda" else "performance"
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.only:
        paths = [p for p in paths if p.stem in args.only]
    report = {"machine": machine(), "budget": BUDGET, "notebooks": [], "widgets": [], "notes": args.note}
    for p in paths:
        print(f"running {p.name} ...", flush=True)
        row = run_notebook(p)
        row["flags"] = flags(row)
        print(f"  {row['wall_s']} s, {row['peak_mb']} MB {row['flags'] or ''}", flush=True)
        report["notebooks"].append(row)
    if not args.no_widgets:
        mods = [p.stem for p in sorted((ROOT / "course_lib").glob("*.py")) if "def widget_demo(" in p.read_text()]
        for mod in mods:
            print(f"timing widget callbacks of course_lib.{mod} ...", flush=True)
            report["widgets"].append(time_callbacks(mod))
    previous = DOCS / f"{args.stem}.json"
    if args.only and previous.is_file():  # a partial re-run updates those rows of the last full report
        old = json.loads(previous.read_text())
        report["notebooks"] = sorted([r for r in old["notebooks"] if r["notebook"] not in args.only] + report["notebooks"],
                                     key=lambda r: r["notebook"])  # fmt: skip
        if args.no_widgets:
            report["widgets"] = old.get("widgets", [])
        report["notes"] = old.get("notes", []) + report["notes"] + [
            f"- {report['machine']['date']}: re-ran {', '.join(args.only)} on the same machine; other rows are from "
            f"{old['machine']['date']}."
        ]
        report["machine"] = old["machine"]
    write_report(report, args.stem)
    print(f"wrote docs/{args.stem}.md and docs/{args.stem}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
