#!/usr/bin/env python3
"""Run every test of the course, in order (called by ``python3 course.py test``).

1. ruff over the library, scripts and tests;
2. pytest: unit tests, notebook-source sync, environment sync, the grading round trip;
   then nbval over every notebook in notebooks/ (strict: stored outputs compared after
   tests/nbval_sanitize.cfg); then the real-browser widget check (tests/test_browser.py).

Extra arguments go to pytest, e.g. ``python3 course.py test -k grading`` or
``python3 course.py test --quick`` (skips the notebooks and the browser).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    args = [a for a in argv if a != "--quick"]
    py = sys.executable
    # No MPLBACKEND here: notebook kernels must keep their inline backend (figures are outputs).
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               PYDEVD_DISABLE_FILE_VALIDATION="1")  # fmt: skip
    env.pop("MPLBACKEND", None)
    print("== ruff", flush=True)
    rc = subprocess.call([py, "-m", "ruff", "check", "course_lib", "scripts", "tests", "course.py"], cwd=ROOT, env=env)
    if rc != 0:
        return rc
    targets = ["tests", "--ignore=tests/test_browser.py"]
    if not quick:
        targets += sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("*.ipynb"))
    cmd = [
        py, "-m", "pytest", *targets,
        "--nbval", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "--nbval-cell-timeout", "900",
        "-m", "not slow", "-p", "no:cacheprovider", "--durations=25", *args,
    ]  # fmt: skip
    print("==", " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    if quick:
        return rc
    if args:
        print("== real-browser check not run: extra pytest arguments select what to run", flush=True)
        return rc
    # The browser check is its own run: pytest's --ignore above would also drop it if it were
    # listed in the same command (it did, silently, until session 2).
    browser = [py, "-m", "pytest", "tests/test_browser.py", "-p", "no:cacheprovider", "-v"]
    print("==", " ".join(browser), flush=True)
    rc_browser = subprocess.call(browser, cwd=ROOT, env=env)
    return rc or rc_browser


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
