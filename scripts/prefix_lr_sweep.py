#!/usr/bin/env python3
"""Lesson 06: choose prefix tuning's learning rate on a validation split (never the test set).

Prefix tuning is run exactly as lesson 06 runs it live (MiniLM, n = 200 training sentences cut
to 32 tokens, 5 epochs, AdamW, batch 16, 10 prefix vectors per layer, seed 0) at each rate,
and scored on 400 validation sentences drawn from the training pool outside those 200. The
best rate becomes ``course_lib.peft.DEFAULT_LR["prefix tuning"]``. Writes
``data/lesson06/prefix_lr_sweep.json`` (config, accuracies, seconds, log).

    python scripts/prefix_lr_sweep.py
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib import peft as P  # noqa: E402
from course_lib.models import load_minilm_tokenizer  # noqa: E402
from course_lib.textdata import TextSplit, batches, encode, polarity_train  # noqa: E402

CONFIG = {"n_train": 200, "n_validation": 400, "max_length": 32, "epochs": 5, "batch_size": 16,
          "n_prefix": 10, "seed": 0, "rates": [3e-3, 1e-2, 3e-2]}


def validation_split(n_train: int, n_val: int) -> TextSplit:
    """``n_val`` pool sentences (half per class) that are not among polarity_train(n_train)."""
    train = set(polarity_train(n_train).texts)
    pool = polarity_train(n_train + 2 * n_val)
    keep = [i for i, t in enumerate(pool.texts) if t not in train]
    per_class = {c: [i for i in keep if pool.labels[i] == c][: n_val // 2] for c in (0, 1)}
    idx = sorted(per_class[0] + per_class[1])
    return TextSplit([pool.texts[i] for i in idx], pool.labels[idx])


def main() -> int:
    cfg = CONFIG
    tok = load_minilm_tokenizer()
    train = polarity_train(cfg["n_train"])
    val = validation_split(cfg["n_train"], cfg["n_validation"])
    train_enc = encode(train.texts, tok, cfg["max_length"])
    val_batches = batches(encode(val.texts, tok, cfg["max_length"]), val.labels, batch_size=64)
    runs, log = [], []
    for lr in cfg["rates"]:
        t0 = time.perf_counter()
        res, _ = P.run_method("prefix tuning", train_enc, train.labels, val_batches, epochs=cfg["epochs"], lr=lr,
                              batch_size=cfg["batch_size"], seed=cfg["seed"], progress=False)
        runs.append({"lr": lr, "validation_accuracy": res.accuracy, "seconds": round(time.perf_counter() - t0, 1)})
        log.append(f"lr={lr:g} validation accuracy {res.accuracy:.4f} ({runs[-1]['seconds']} s)")
        print(log[-1], flush=True)
    best = max(runs, key=lambda r: r["validation_accuracy"])
    out = {"made_by": "scripts/prefix_lr_sweep.py", "config": cfg, "runs": runs, "chosen_lr": best["lr"],
           "torch": torch.__version__, "python": platform.python_version(), "log": log}
    path = ROOT / "data" / "lesson06" / "prefix_lr_sweep.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"chosen lr {best['lr']:g}; wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
