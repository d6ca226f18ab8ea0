#!/usr/bin/env python3
"""Lesson 04: where does the course LM's ULMFiT win, and what does fine-tuning make it forget?

Part 1, regimes: BBC topics (5 classes, the fixed 300 test articles) with k labelled articles
per class (k drawn per seed from the articles outside the test set) and only the first
``max_tokens`` tokens of each article (16: about the headline; 64: headline and opening).
Three methods at equal data: ULMFiT on the domain LM (stage 2 run once, as in the lesson:
40 steps, rate 2e-3, seed 0; stage 3 with gradual unfreezing, discriminative rates, STLR,
peak 1e-2), the same network from random init (every layer at 3e-3 from the start), and
TF-IDF + logistic regression. Every LSTM run: 20 epochs, batch 20.

Part 2, forgetting: the general LM (stage 2 skipped) fine-tuned as a classifier on 20 labels
per class, 64 tokens, 20 epochs, with the ULMFiT recipe or with every layer at one constant
rate; the LM's perplexity on general-corpus text before and after, next to the test accuracy.

Results (config, seeds, every row, log) go to data/ulmfit/regimes.json; numbers only (the BBC
articles are read in place through the asset registry and never stored).

    OMP_NUM_THREADS=1 python scripts/ulmfit_regimes.py              # the committed runs (CPU)
    python scripts/ulmfit_regimes.py --test-mode                    # a few tiny runs
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib import ulmfit  # noqa: E402
from course_lib.elmo import load_bilm  # noqa: E402

CONFIG = {
    "regimes": {
        "k_per_class": [5, 10, 20, 50],
        "max_tokens": [16, 64],
        "seeds": [0, 1, 2],
        "epochs": 20,
        "batch_size": 20,
        "ulmfit_lr": 1e-2,
        "scratch_lr": 3e-3,
        "stage2": {"steps": 40, "lr": 2e-3, "chunk": 64, "seed": 0},
        "test": "300 articles (60 per class), bbc_split seed 2024",
    },
    "forgetting": {
        "k_per_class": 20,
        "max_tokens": 64,
        "epochs": 20,
        "runs": [["ulmfit", 1e-2], ["ulmfit", 3e-3], ["constant", 1e-2], ["constant", 3e-3], ["constant", 1e-3]],
        "seeds": [0, 1, 2],
        "general_eval": "ulmfit.general_sample(6000), course corpus test split",
    },
    "threads": 1,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "ulmfit" / "regimes.json")
    ap.add_argument("--test-mode", action="store_true")
    args = ap.parse_args()
    cfg = copy.deepcopy(CONFIG)
    if args.test_mode:
        cfg["regimes"].update(k_per_class=[2], max_tokens=[8], seeds=[0], epochs=2)
        cfg["regimes"]["stage2"]["steps"] = 4
        cfg["forgetting"].update(k_per_class=2, max_tokens=8, epochs=2, runs=[["ulmfit", 1e-2], ["constant", 1e-2]], seeds=[0])
    torch.set_num_threads(cfg["threads"])
    t0 = time.perf_counter()
    log: list[str] = []

    def say(msg: str) -> None:
        line = f"[{time.perf_counter() - t0:7.1f} s] {msg}"
        print(line, flush=True)
        log.append(line)

    docs, labels = ulmfit.load_bbc()
    split = ulmfit.bbc_split(0)
    test = split["test"]
    test_docs, y_test = [docs[i] for i in test], labels[test]

    # ---- stage 2 once: the domain LM every ULMFiT run of part 1 starts from
    rc = cfg["regimes"]
    s2 = rc["stage2"]
    train_chunks = ulmfit.chunks([docs[i] for i in split["unlabelled"]], s2["chunk"])
    target_eval = ulmfit.chunks(test_docs, s2["chunk"], max_chunks=100)
    general_eval = ulmfit.general_sample(6000)
    domain_lm = load_bilm()
    hist = ulmfit.domain_finetune(domain_lm, train_chunks, target_eval, general_eval, steps=s2["steps"], eval_every=s2["steps"],
                                  lr=s2["lr"], seed=s2["seed"], progress=False)
    stage2 = {k: [round(v, 2) for v in vals] for k, vals in hist.items()}
    say(f"stage 2: target ppl {hist['target'][0]:.0f} -> {hist['target'][-1]:.0f}, general {hist['general'][0]:.0f} -> {hist['general'][-1]:.0f}")

    regimes: list[dict] = []
    forgetting: list[dict] = []

    def write() -> None:
        if not args.test_mode:
            _write(args.out, cfg, stage2, regimes, forgetting, log, time.perf_counter() - t0)

    for seed in rc["seeds"]:
        for k in rc["k_per_class"]:
            lab = ulmfit.bbc_labelled_sample(k, seed)
            tr, y = [docs[i] for i in lab], labels[lab]
            for mt in rc["max_tokens"]:
                common = dict(epochs=rc["epochs"], batch_size=rc["batch_size"], max_tokens=mt, seed=seed, progress=False)
                accs = {
                    "ULMFiT (domain LM)": ulmfit.train_lm_classifier(copy.deepcopy(domain_lm), tr, y, test_docs, y_test, lr=rc["ulmfit_lr"], **common),
                    "same LSTM, random init": ulmfit.train_lm_classifier(ulmfit.scratch_like(domain_lm, seed), tr, y, test_docs, y_test,
                                                                        ulmfit_recipe=False, lr=rc["scratch_lr"], **common),
                    "TF-IDF + logistic regression": ulmfit.bow_baseline(tr, y, test_docs, y_test, max_tokens=mt),
                }
                for method, acc in accs.items():
                    regimes.append({"method": method, "k_per_class": k, "max_tokens": mt, "seed": seed, "accuracy": round(acc, 4)})
                say(f"regimes seed {seed} k {k:2d} tokens {mt:2d}: " + ", ".join(f"{m} {a:.3f}" for m, a in accs.items()))
                write()

    fc = cfg["forgetting"]
    for seed in fc["seeds"]:
        lab = ulmfit.bbc_labelled_sample(fc["k_per_class"], seed)
        tr, y = [docs[i] for i in lab], labels[lab]
        for recipe, lr in fc["runs"]:
            r = ulmfit.forgetting_run(load_bilm(), general_eval, tr, y, test_docs, y_test, ulmfit_recipe=recipe == "ulmfit", lr=lr,
                                      epochs=fc["epochs"], max_tokens=fc["max_tokens"], seed=seed, progress=False)
            row = {"recipe": recipe, "lr": lr, "seed": seed, **{k: round(v, 4) for k, v in r.items()}}
            forgetting.append(row)
            say("forgetting " + json.dumps(row))
            write()
    say("done")
    write()
    return 0


def _write(out: Path, cfg: dict, stage2: dict, regimes: list, forgetting: list, log: list, seconds: float) -> None:
    """Rewrite the results file after every step, so an interrupted run keeps what it made."""
    result = {
        "config": cfg,
        "device": "cpu",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "seconds": round(seconds, 1),
        "stage2": stage2,
        "regimes": regimes,
        "forgetting": forgetting,
        "log": log,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
