#!/usr/bin/env python3
"""Lesson 04's sweep: MiniLM fine-tuned with each ULMFiT recipe across peak learning rates.

Recipes (course_lib.ulmfit.RECIPES): one constant rate on every layer; ULMFiT's three
techniques together; and ULMFiT with one technique removed (the ablation). Each run
fine-tunes MiniLM on n=500 Pang & Lee sentences for 2 epochs and scores the fixed test set
of 1,000 sentences. Results (config, seed, every row) go to data/ulmfit/minilm_sweep.json;
the notebook shows them and re-runs two points live.

    python scripts/ulmfit_sweep.py                 # the committed grid
    python scripts/ulmfit_sweep.py --test-mode     # two tiny runs, to check the code path
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib import ulmfit  # noqa: E402
from course_lib.device import get_device  # noqa: E402

CONFIG = {
    "recipes": list(ulmfit.RECIPES),
    "lrs": [1e-4, 3e-4, 1e-3, 3e-3],
    "seeds": [0, 1, 2],
    "n_train": 500,
    "epochs": 2,
    "batch_size": 16,
    "max_len": 48,
    "n_test": 1000,
    "factor": 2.6,
    "optimizer": "AdamW, weight decay 0.01",
    "stlr": {"cut_frac": 0.1, "ratio": 32},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "ulmfit" / "minilm_sweep.json")
    ap.add_argument("--test-mode", action="store_true")
    args = ap.parse_args()
    cfg = dict(CONFIG)
    if args.test_mode:
        cfg.update(recipes=["constant", "ulmfit"], lrs=[1e-3], seeds=[0], n_train=32, epochs=1, n_test=50)
    device = get_device()
    rows = []
    t0 = time.perf_counter()
    for seed in cfg["seeds"]:
        for lr in cfg["lrs"]:
            for name in cfg["recipes"]:
                r = ulmfit.finetune_with_recipe(
                    name, lr, n_train=cfg["n_train"], epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                    max_len=cfg["max_len"], n_test=cfg["n_test"], factor=cfg["factor"], seed=seed,
                    device=device, progress=False,
                )
                row = {"key": name, "seed": seed, **r.as_dict()}
                rows.append(row)
                print(json.dumps(row), flush=True)
                if not args.test_mode:
                    _write(args.out, cfg, device, rows, time.perf_counter() - t0)
    return 0


def _write(out: Path, cfg: dict, device: torch.device, rows: list[dict], seconds: float) -> None:
    """Rewrite the results file after every run, so an interrupted sweep keeps what it made."""
    result = {
        "config": cfg,
        "device": str(device) + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else ""),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "seconds": round(seconds, 1),
        "rows": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
