#!/usr/bin/env python3
"""Build notebooks from their percent-format sources, and execute them.

Each notebook's source of truth is ``notebooks/src/<name>.py``::

    # %% [markdown]
    # # A title
    # Some prose.

    # %%
    x = 1

    # %% tags=["nbval-ignore-output"]
    train()

    # %% nbgrader={"grade": true, "grade_id": "t1", "points": 2, "locked": true}
    assert x == 1

Usage:
    python scripts/build_notebook.py notebooks/src/01_scratch_vs_transfer.py   # build + execute
    python scripts/build_notebook.py --all                                     # every source
    python scripts/build_notebook.py --no-execute SRC                          # build only
    python scripts/build_notebook.py --markdown-only SRC    # prose edits: keep the executed outputs

The built, executed notebook is written to ``notebooks/<name>.ipynb`` (the file
committed, and the one nbval checks).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "notebooks" / "src"
OUT = ROOT / "notebooks"
MARKER = re.compile(r"^# %%(?P<md> \[markdown\])?(?P<rest>.*)$")


def _parse_meta(rest: str) -> dict:
    """Parse ``key=<json> key2=<json>`` after a cell marker."""
    meta: dict = {}
    rest = rest.strip()
    decoder = json.JSONDecoder()
    while rest:
        m = re.match(r"(\w+)=", rest)
        if not m:
            raise ValueError(f"cannot parse cell metadata: {rest!r}")
        value, end = decoder.raw_decode(rest[m.end() :])
        meta[m.group(1)] = value
        rest = rest[m.end() + end :].strip()
    return meta


def parse(text: str) -> nbformat.NotebookNode:
    """Percent-format text -> a notebook (no outputs)."""
    nb = nbformat.v4.new_notebook()
    cells: list[tuple[bool, dict, list[str]]] = []
    for line in text.splitlines():
        m = MARKER.match(line)
        if m:
            cells.append((bool(m.group("md")), _parse_meta(m.group("rest")), []))
        elif cells:
            cells[-1][2].append(line)
    for is_md, meta, lines in cells:
        while lines and not lines[-1].strip():
            lines.pop()
        if is_md:
            body = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines)
            cell = nbformat.v4.new_markdown_cell(body)
        else:
            cell = nbformat.v4.new_code_cell("\n".join(lines))
        if "nbgrader" in meta:
            meta["nbgrader"].setdefault("schema_version", 3)
            for key in ("grade", "solution", "locked"):
                meta["nbgrader"].setdefault(key, False)
            meta["nbgrader"].setdefault("task", False)
        cell.metadata.update(meta)
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def cell_sources(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(cell type, source) pairs: what must match between a source and its notebook."""
    return [(c.cell_type, c.source) for c in nb.cells]


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 900) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def sync_markdown(src: Path) -> Path:
    """Take the markdown of ``src`` into the executed notebook, keeping its code cells and outputs.

    Refuses (SystemExit) when any code cell differs: then the notebook must be re-executed.
    """
    nb = parse(src.read_text())
    out = OUT / (src.stem + ".ipynb")
    old = nbformat.read(out, as_version=4)

    def code(cells):
        return [(c.source, c.metadata.get("tags"), c.metadata.get("nbgrader")) for c in cells if c.cell_type == "code"]

    old_code, new_code = code(old.cells), code(nb.cells)
    if old_code != new_code:
        raise SystemExit(f"{src.name}: code cells changed; re-execute it (drop --markdown-only)")
    executed = iter(c for c in old.cells if c.cell_type == "code")
    nb.cells = [next(executed) if c.cell_type == "code" else c for c in nb.cells]
    nb.metadata = old.metadata
    nbformat.write(nb, out)
    return out


def build(src: Path, run: bool = True) -> Path:
    nb = parse(src.read_text())
    out = OUT / (src.stem + ".ipynb")
    if run:
        t0 = time.perf_counter()
        execute(nb, OUT)
        print(f"{src.name}: executed in {time.perf_counter() - t0:.1f} s", flush=True)
    nbformat.write(nb, out)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", nargs="*", type=Path)
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--no-execute", action="store_true")
    ap.add_argument("--markdown-only", action="store_true", help="update prose, keep the executed code cells")
    args = ap.parse_args()
    sources = sorted(SRC.glob("*.py")) if args.all else args.sources
    if not sources:
        ap.error("name a source or pass --all")
    for src in sources:
        out = sync_markdown(src) if args.markdown_only else build(src, run=not args.no_execute)
        print("wrote", out.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
