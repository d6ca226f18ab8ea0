#!/usr/bin/env python3
"""Lesson 05's larger runs, too slow for the notebook: results go to data/lesson05/results.json.

MiniLM (frozen-feature probe, full fine-tuning, the same network from random init) and
SmolLM2-135M (zero-shot, few-shot, last-token probe, last block + head) on the Pang & Lee
sentence-polarity task (MiniLM: the fixed 1,000-sentence test set; SmolLM2: a stratified 500 of it), at n = 100 and 500 labels.
Seeded; the config, timings and software versions are saved with the numbers. Results are
written after each step, so a partial run still leaves what it finished.

The from-scratch baseline (the same MiniLM network at random init) gets its own recipe: a
learning-rate sweep at n = 100, every rate trained for more steps than fine-tuning gets, the
rate chosen by accuracy on a validation split of 200 training-pool sentences that are neither
in the n = 500 training set nor in the test set (``transformers_ft.polarity_validation``);
n = 500 reuses that rate (its validation accuracy is recorded too). The test accuracy of
every rate is logged, but only the chosen one is reported.

    python scripts/lesson05_runs.py                 # about 30 CPU minutes on one core
    python scripts/lesson05_runs.py --only scratch  # re-run only the from-scratch sweep, merged into the file
    python scripts/lesson05_runs.py --quick         # a tiny smoke run (nothing written)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from course_lib import transformers_ft as tf
from course_lib.seed import seed_everything
from course_lib.textdata import polarity_test, polarity_train
from course_lib.training import accuracy, fit_linear_probe

OUT = Path(__file__).resolve().parent.parent / "data" / "lesson05" / "results.json"
CONFIG = {
    "seed": 0,
    "ns": [100, 500],
    "n_test_minilm": 1000,
    "n_test_smollm2": 500,
    "minilm": {"max_length": 64, "batch_size": 16, "epochs": 4, "lr_pretrained": 5e-5, "head_lr": 1e-3, "warmup": 0.1,
               "head": "mean pooling + linear"},
    "random_init": {
        "lrs": {"100": [1e-4, 3e-4, 1e-3, 3e-3], "500": "the rate chosen at n = 100 (one run: a sweep at n = 500 did not fit the CPU budget)"},
        "epochs": {"100": 12, "500": 5},
        "head_lr": 1e-3,
        "schedule": "AdamW (weight decay 0.01), 10 % linear warm-up then linear decay, batch 16, max 64 tokens (as fine-tuning)",
        "validation": "200 training-pool sentences (100 per class) outside polarity_train(500) and the test set",
        "select": "highest validation accuracy after the last epoch (ties: the lower rate)",
    },
    "smollm2": {"prompt": tf.PROMPT, "label_words": list(tf.LABEL_WORDS), "max_length": 48, "few_shot_k": 4, "few_shot_test": 200,
                "last_block": {"epochs": 4, "lr": 1e-4, "batch_size": 16}},
    "probe_minilm": tf.PROBE_MINILM,
    "probe_smollm2": tf.PROBE_SMOLLM2,
}


def scratch_sweep(n: int, train, val, test, cfg: dict, chosen_at_100: float | None, save) -> dict:
    """Train the random-init network at each rate of the sweep; choose the rate on ``val``."""
    rc, mc = cfg["random_init"], cfg["minilm"]
    if str(n) in rc["lrs"] and isinstance(rc["lrs"][str(n)], list):
        lrs = rc["lrs"][str(n)]
    elif chosen_at_100 is not None:  # the rate chosen on validation at n = 100
        lrs = [chosen_at_100]
    else:
        lrs = rc["lrs"]["100"]
    epochs = rc["epochs"].get(str(n), max(rc["epochs"].values()))
    runs = []
    for lr in lrs:
        r = tf.finetune_minilm(train, test, pretrained=False, lr=lr, head_lr=rc["head_lr"], epochs=epochs, batch_size=mc["batch_size"],
                               max_length=mc["max_length"], seed=cfg["seed"], val=val, train_accuracy=True, desc=f"random init, lr {lr:g}")
        runs.append({"lr": lr, "epochs": epochs, "steps": r.steps, "val_acc_per_epoch": [round(a, 4) for a in r.val_acc],
                     "val_acc": round(r.val_acc[-1], 4), "train_acc": round(r.train_acc, 4), "test_acc": round(r.accuracy, 4),
                     "final_train_loss": round(r.train_loss[-1], 4), "seconds": round(r.seconds, 1)})
        save(f"MiniLM n={n} random init, lr {lr:g}, {epochs} epochs ({r.steps} steps): val {r.val_acc[-1]:.3f} "
             f"(per epoch {' '.join(f'{a:.2f}' for a in r.val_acc)}), train {r.train_acc:.3f}, test {r.accuracy:.3f} ({r.seconds:.0f} s)")
    best = max(runs, key=lambda x: (x["val_acc"], -x["lr"]))
    return {"n_val": len(val), "runs": runs, "chosen": {"lr": best["lr"], "epochs": best["epochs"], "steps": best["steps"]}, "test_acc": best["test_acc"],
            "val_acc": best["val_acc"], "train_acc": best["train_acc"], "seconds": best["seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["scratch"], help="re-run only this part and merge it into the committed file")
    args = ap.parse_args()
    cfg = json.loads(json.dumps(CONFIG))
    if args.quick:
        cfg.update(ns=[20], n_test_minilm=40, n_test_smollm2=40)
        cfg["smollm2"]["few_shot_test"] = 10
        cfg["minilm"]["epochs"] = 1
        cfg["random_init"]["lrs"] = {"100": [1e-3, 3e-3]}
        cfg["random_init"]["epochs"] = {"20": 2}
    torch.set_num_threads(min(2, torch.get_num_threads()))
    seed = seed_everything(cfg["seed"])
    results: dict = {
        "config": cfg,
        "made_by": "scripts/lesson05_runs.py",
        "software": {"torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads()},
        "minilm": {},
        "smollm2": {},
    }
    log: list[str] = []
    if args.only:
        old = json.loads(OUT.read_text())
        for key in ("minilm", "smollm2", "software"):
            results[key] = old[key]
        results["software_" + args.only] = {"torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads()}
        log = old["log"] + [f"--only {args.only}: re-run with the config above; other entries kept from the earlier run"]
    results["log"] = log

    def save(msg: str) -> None:
        print(msg, flush=True)
        log.append(msg)
        if not args.quick:
            OUT.parent.mkdir(parents=True, exist_ok=True)
            OUT.write_text(json.dumps(results, indent=1) + "\n")

    # ---- MiniLM
    mc = cfg["minilm"]
    mi = results["minilm"]
    test = tf.subset(polarity_test(), cfg["n_test_minilm"], seed=seed)
    val = tf.polarity_validation(40 if args.quick else 200, after=max(cfg["ns"]))
    sweeps = results.setdefault("random_init_sweep", {})
    chosen_at_100 = None
    if args.only != "scratch":
        feats_test = tf.minilm_features(test.texts, "mean", max_length=mc["max_length"])
    for n in cfg["ns"]:
        train = polarity_train(n)
        row = mi.setdefault(f"n{n}", {})
        if args.only != "scratch":
            ftr = tf.minilm_features(train.texts, "mean", max_length=mc["max_length"])
            probe = fit_linear_probe(ftr, torch.as_tensor(train.labels), num_classes=2, **cfg["probe_minilm"])
            row["probe"] = round(accuracy(probe(feats_test).argmax(1), test.labels), 4)
            r = tf.finetune_minilm(train, test, pretrained=True, lr=mc["lr_pretrained"], head_lr=mc["head_lr"], epochs=mc["epochs"], batch_size=mc["batch_size"], max_length=mc["max_length"], seed=seed)
            row["finetune"] = round(r.accuracy, 4)
            row["finetune_seconds"] = round(r.seconds, 1)
            row["finetune_steps"] = r.steps
            save(f"MiniLM n={n} finetune: {r.accuracy:.3f} ({r.steps} steps, {r.seconds:.0f} s)")
        row.setdefault("finetune_steps", mc["epochs"] * -(-n // mc["batch_size"]))
        sw = scratch_sweep(n, train, val, test, cfg, chosen_at_100, save)
        sweeps[f"n{n}"] = sw
        if n == 100:
            chosen_at_100 = sw["chosen"]["lr"]
        row["random_init"] = sw["test_acc"]
        row["random_init_seconds"] = sw["seconds"]
        row["random_init_steps"] = sw["chosen"]["steps"]
        save(f"MiniLM n={n} random_init: lr {sw['chosen']['lr']:g} chosen on validation ({sw['val_acc']:.3f}); test {sw['test_acc']:.3f}")
    if args.only == "scratch":
        save("done (scratch)")
        return
    # ---- SmolLM2
    test = tf.subset(polarity_test(), cfg["n_test_smollm2"], seed=seed)
    t0 = time.perf_counter()
    model, tok = tf.load_smollm2()
    sc = cfg["smollm2"]
    save(f"SmolLM2 loaded in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    fte = tf.decoder_features(model, tok, test.texts, max_length=sc["max_length"], keep_block_input=True)
    y_test = torch.as_tensor(test.labels)
    sm = results["smollm2"]
    sm["test_seconds"] = round(time.perf_counter() - t0, 1)
    sm["zero_shot"] = round(accuracy(tf.zero_shot_predict(fte.scores), y_test), 4)
    save(f"zero-shot {sm['zero_shot']:.3f} ({sm['test_seconds']} s for {len(test)} test sentences)")
    big = polarity_train(max(cfg["ns"]))
    ftr_all = tf.decoder_features(model, tok, big.texts, max_length=sc["max_length"], keep_block_input=True)
    for n in cfg["ns"]:
        train = polarity_train(n)
        pos = [big.texts.index(t) for t in train.texts]
        last = ftr_all.last[pos]
        probe = fit_linear_probe(last, torch.as_tensor(train.labels), num_classes=2, **cfg["probe_smollm2"])
        acc_probe = accuracy(probe(fte.last).argmax(1), y_test)
        t0 = time.perf_counter()
        sub = tf.DecoderFeatures(last, ftr_all.scores[pos], ftr_all.lengths[pos], ftr_all.block_input[pos])
        lb = sc["last_block"]
        clf = tf.train_last_block(model, tok, sub, train.labels, epochs=lb["epochs"], lr=lb["lr"], batch_size=lb["batch_size"], seed=seed)
        acc_block = accuracy(tf.predict_last_block(clf, fte), y_test)
        sm[f"n{n}"] = {"probe": round(acc_probe, 4), "last_block": round(acc_block, 4), "last_block_seconds": round(time.perf_counter() - t0, 1)}
        save(f"SmolLM2 n={n}: last-token probe {acc_probe:.3f}, last block + head {acc_block:.3f}")
    del ftr_all
    # ---- few-shot last (the least needed number)
    test = tf.subset(polarity_test(), cfg["n_test_smollm2"], seed=seed)
    few_test = tf.subset(test, sc["few_shot_test"], seed=seed)
    prefix = tf.few_shot_prefix(tf.subset(polarity_train(100), sc["few_shot_k"], seed=seed))
    zero = tf.decoder_features(model, tok, few_test.texts, max_length=sc["max_length"])
    few = tf.decoder_features(model, tok, few_test.texts, max_length=sc["max_length"], prefix=prefix)
    sm["few_shot"] = {
        "n_test": len(few_test),
        "zero_shot_same_subset": round(accuracy(tf.zero_shot_predict(zero.scores), few_test.labels), 4),
        "few_shot": round(accuracy(tf.zero_shot_predict(few.scores), few_test.labels), 4),
    }
    save(f"few-shot (k={sc['few_shot_k']}) {sm['few_shot']}")

    save("done")


if __name__ == "__main__":
    main()
