#!/usr/bin/env python3
"""Lesson 01: the data-size curve, every method, every k, several seeds (too slow for the notebook).

For each labels-per-class k and seed, on the fixed 2,000-image Animal-MNIST test set:

- ``probe``: frozen ImageNet EfficientNet-Lite0, linear head on cached features (LBFGS);
- ``finetune``: ImageNet init, every block trainable, discriminative rates, BN in eval mode;
- ``finetune_bn_train``: the same with batch norm left in train mode (the batch-norm trap);
- ``gradual``: ImageNet init, gradual unfreezing (head, top blocks, all), BN in eval mode;
- ``random_init``: the same network from random init with a recipe that suits training from
  scratch (:func:`course_lib.vision.train_from_scratch`): one learning rate everywhere with a
  one-cycle schedule, batch norm in train mode and its running statistics re-estimated on
  the training images before evaluation, the same step budget as ``finetune``. The rate is
  chosen first by a small sweep (``config["random_init"]["sweep"]``) on seed 0 at one k,
  scored on a validation split carved from the training pool outside that k-subset
  (never the test set); the sweep is recorded under ``lr_sweep``;
- ``random_init_ft_recipe``: random init trained with the fine-tuning recipe verbatim (rates
  1e-3 / 1e-4, batch norm in eval mode, so its running statistics stay at their initial 0 and
  1 and batch norm never normalises): it predicts one class, 10 % at every k. Kept as a
  warning, not as a baseline (in files made before it had this name, it was ``random_init``);
- ``small_cnn``: a 73k-parameter CNN from scratch on the 28 x 28 images.

Writes ``data/lesson01/curve.json`` (config, seeds, device, per-run accuracy and seconds).
``--quick`` runs a tiny configuration to check the code path. ``--merge`` keeps the other
methods' runs already in ``--out`` and replaces only the ones named by ``--methods``.

    python scripts/lesson01_curve.py                  # every method (about 3 minutes on an H100)
    python scripts/lesson01_curve.py --methods random_init --merge   # one method, into the file
    python scripts/lesson01_curve.py --quick --out /tmp/q.json
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib import data, models, vision  # noqa: E402
from course_lib.device import get_device  # noqa: E402
from course_lib.seed import seed_everything  # noqa: E402
from course_lib.training import evaluate  # noqa: E402

CONFIG = {
    "ks": [1, 5, 10, 50, 100],
    "seeds": [0, 1, 2],
    "size": 96,
    "finetune": {
        "head_lr": 1e-3,
        "backbone_lr": 1e-4,
        "epochs": 6,
        "min_steps": 30,
        "batch_size": 32,
    },
    "gradual": {"epochs_per_phase": 2, "head_lr": 1e-3, "backbone_lr": 1e-4, "factor": 2.0},
    "random_init": {
        "recipe": "course_lib.vision.train_from_scratch: one rate everywhere, one-cycle schedule, "
        "BN in train mode, BN statistics re-estimated on the training images; the finetune step budget",
        "sweep": {"k": 50, "seed": 0, "lrs": [3e-3, 1e-2, 3e-2], "val_per_class": 30},
    },
    "small_cnn": {"epochs": 30, "min_steps": 150, "lr": 3e-3},
    "probe": {"weight_decay": 1e-3},
    "test": "fixed Animal-MNIST test set, 200 per class (2,000 images)",
    "train": "course_lib.data.animal_train_subset(k, seed): nested subsets of the training pool",
}
METHODS = ["probe", "finetune", "finetune_bn_train", "gradual", "random_init", "random_init_ft_recipe", "small_cnn"]
LEGACY_NAMES = {"random_init": "random_init_ft_recipe"}  # in files made before the fair random_init


def _budget(cfg: dict) -> dict:
    """The fine-tuning step budget (epochs, min_steps, batch_size), which random_init gets too."""
    return {key: cfg["finetune"][key] for key in ("epochs", "min_steps", "batch_size")}


def sweep_random_init_lr(cfg: dict, device, cache: dict) -> dict:
    """Choose random_init's learning rate on a validation split of the training pool (never the test set).

    The model trained at the chosen rate is kept in ``cache`` as the (k, seed) run of the
    curve: the same code, seed and data would train it again, identically.
    """
    sw = cfg["random_init"]["sweep"]
    train = data.animal_train_subset(sw["k"], seed=sw["seed"])
    val = vision.validation_split(train, per_class=sw["val_per_class"], seed=sw["seed"])
    t0 = time.perf_counter()
    best, scores, model = vision.choose_lr(
        train, val, sw["lrs"], size=cfg["size"], seed=sw["seed"], device=device, progress=False,
        **_budget(cfg),
    )  # fmt: skip
    cache[("random_init", sw["k"], sw["seed"])] = model
    return {
        **sw,
        "val_images": len(val),
        "val_acc": {f"{lr:g}": round(acc, 4) for lr, acc in scores.items()},
        "chosen_lr": best,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def run_one(method: str, k: int, seed: int, cfg: dict, test, cache: dict, device) -> float:
    """Test accuracy of one method at one (k, seed)."""
    size = cfg["size"]
    train = data.animal_train_subset(k, seed=seed)
    seed_everything(seed)
    if method == "probe":
        if "net" not in cache:
            cache["net"] = models.load_efficientnet_lite0(pretrained=True).to(device)
            cache["test_f"] = _features(cache["net"], test.images, size, device)
        ftr = _features(cache["net"], train.images, size, device)
        return vision.probe_accuracy(
            ftr, train.labels, cache["test_f"], test.labels, k, **cfg["probe"]
        )
    if method == "small_cnn":
        tx = vision.small_cnn_inputs(test.images)
        _, res = vision.train_small_cnn(
            train, tx, test.labels, seed=seed, device=device, progress=False, **cfg["small_cnn"]
        )
        return res.test_acc
    tx = vision.efficientnet_inputs(test.images, size)
    if method == "gradual":
        _, res = vision.gradual_unfreeze(
            train,
            tx,
            test.labels,
            size=size,
            seed=seed,
            device=device,
            progress=False,
            **cfg["gradual"],
        )
        return res.test_acc
    if method == "random_init":
        if (method, k, seed) in cache:  # trained by the learning-rate sweep, at the chosen rate
            model = cache.pop((method, k, seed))
            return evaluate(model, DataLoader(TensorDataset(tx, torch.as_tensor(test.labels)), batch_size=250))[1]
        _, res = vision.train_from_scratch(
            train, tx, test.labels, lr=cfg["random_init"]["lr"], size=size, seed=seed, device=device,
            progress=False, **_budget(cfg),
        )  # fmt: skip
        return res.test_acc
    kw = dict(cfg["finetune"])
    pretrained = method != "random_init_ft_recipe"
    keep_bn_eval = method in ("finetune", "random_init_ft_recipe")  # the fine-tuning recipe, verbatim
    _, res = vision.finetune_efficientnet(
        train, tx, test.labels, pretrained=pretrained, keep_bn_eval=keep_bn_eval, size=size, seed=seed,
        device=device, progress=False, **kw,
    )  # fmt: skip
    return res.test_acc


@torch.no_grad()
def _features(net, images, size, device) -> torch.Tensor:
    out = []
    for i in range(0, len(images), 250):
        x = vision.efficientnet_inputs(images[i : i + 250], size).to(device)
        out.append(net.extract_features(x).mean((2, 3)).cpu())
    return torch.cat(out)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "lesson01" / "curve.json")
    ap.add_argument(
        "--quick", action="store_true", help="k=5, one seed, two methods: a code-path check"
    )
    ap.add_argument("--methods", nargs="*", default=METHODS)
    ap.add_argument("--device", default=None)
    ap.add_argument("--seeds", nargs="*", type=int, default=None)
    ap.add_argument(
        "--merge", action="store_true",
        help="keep the runs already in --out except those of --methods at --seeds (default: all seeds)",
    )
    ap.add_argument("--note", action="append", default=[], help="a note to record in the file")
    ap.add_argument(
        "--resweep", action="store_true", help="with --merge: redo random_init's learning-rate sweep"
    )
    args = ap.parse_args()
    cfg = json.loads(json.dumps(CONFIG))
    if args.quick:
        cfg.update(ks=[5], seeds=[0])
        cfg["finetune"].update(epochs=1, min_steps=2)
        cfg["small_cnn"].update(epochs=1, min_steps=2)
        cfg["random_init"]["sweep"].update(k=5, lrs=[1e-2], val_per_class=2)
        args.methods = [m for m in args.methods if m in ("probe", "finetune", "random_init", "small_cnn")]
    device = get_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    if args.seeds is not None:
        cfg["seeds"] = args.seeds
    test = data.animal_test_set()
    cache: dict = {}
    runs, log, notes = [], [], []
    sweep = None
    to_run = list(args.methods)
    run_seeds = list(cfg["seeds"])
    here = f"{_device_name(device)} (torch {torch.__version__})"
    if args.merge and args.out.exists():
        old = _upgrade(json.loads(args.out.read_text()))
        notes = [n for n in old.get("notes", []) if n.split(":")[0] not in to_run or "made as" in n]

        def replaced(method, seed):
            return method in to_run and seed in run_seeds

        runs = [r for r in old["runs"] if not replaced(r["method"], r["seed"])]
        log = [line for line in old["log"] if not any(f" seed={s} {m} " in line for m in to_run for s in run_seeds)]
        cfg["seeds"] = sorted(set(cfg["seeds"]) | set(old["config"]["seeds"]))
        args.methods = [m for m in METHODS if m in old["methods"] or m in to_run]
        if "lr_sweep" in old and old["lr_sweep"] and not args.resweep:
            sweep = old["lr_sweep"]
            cfg["random_init"] = old["config"]["random_init"]
        for m in old["methods"]:
            if not any(n.startswith(f"{m}: ") and ("ran on" in n or "runs kept" in n) for n in notes):
                notes.append(f"{m}: ran on {old['device']} (torch {old['torch']})")
    for m in to_run:
        notes = [n for n in notes if not (n.startswith(f"{m}: ") and ("ran on" in n or "runs kept" in n))]
        notes.append(f"{m}: ran on {here} (its seeds: seeds_by_method)")
    notes += [n for n in args.note if n not in notes]
    t_all = time.perf_counter()
    if "random_init" in to_run and sweep is None:
        sweep = sweep_random_init_lr(cfg, device, cache)
        cfg["random_init"]["lr"] = sweep["chosen_lr"]
        line = f"lr sweep for random_init at k={sweep['k']} seed={sweep['seed']}: validation accuracy {sweep['val_acc']} on {sweep['val_images']} pool images -> lr {sweep['chosen_lr']:g} ({sweep['seconds']:.1f} s)"
        log.append(line)
        print(line, flush=True)
    for seed in run_seeds:  # seed outermost: a run cut short still has whole curves
        for k in cfg["ks"]:
            for method in to_run:
                t0 = time.perf_counter()
                acc = run_one(method, k, seed, cfg, test, cache, device)
                sec = time.perf_counter() - t0
                runs.append(
                    {
                        "method": method,
                        "k": k,
                        "seed": seed,
                        "test_acc": round(acc, 4),
                        "seconds": round(sec, 1),
                    }
                )
                line = f"k={k:3d} seed={seed} {method:18s} acc={acc:.4f} ({sec:.1f} s)"
                log.append(line)
                print(line, flush=True)
                _write(args, cfg, runs, log, device, t_all, sweep, notes)
    _write(args, cfg, runs, log, device, t_all, sweep, notes)
    print("wrote", args.out)
    return 0


def _device_name(device) -> str:
    return str(device) + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else "")


def _upgrade(old: dict) -> dict:
    """Rename methods of a file made by an earlier version of this script (see LEGACY_NAMES)."""
    if "lr_sweep" in old or "random_init" not in old["methods"]:
        return old
    for r in old["runs"]:
        r["method"] = LEGACY_NAMES.get(r["method"], r["method"])
    old["methods"] = [LEGACY_NAMES.get(m, m) for m in old["methods"]]
    old["mean_test_acc"] = {LEGACY_NAMES.get(m, m): v for m, v in old["mean_test_acc"].items()}
    for before, after in LEGACY_NAMES.items():
        old["log"] = [re.sub(rf" {before} +", f" {after} ", line) for line in old["log"]]
        old.setdefault("notes", []).append(
            f"{after}: made as '{before}' (the same code path) before the fair '{before}' existed; renamed"
        )
    old["config"].pop("random_init_scratch", None)
    return old


def _write(args, cfg, runs, log, device, t_all, sweep=None, notes=()) -> None:
    summary = {
        m: {
            str(k): round(
                float(np.mean([r["test_acc"] for r in runs if r["method"] == m and r["k"] == k])), 4
            )
            for k in cfg["ks"]
            if any(r["method"] == m and r["k"] == k for r in runs)
        }
        for m in args.methods
        if any(r["method"] == m for r in runs)
    }
    result = {
        "made_by": "scripts/lesson01_curve.py",
        "config": cfg,
        "methods": args.methods,
        "device": _device_name(device) if not args.merge else "several: see notes",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "total_seconds": round(time.perf_counter() - t_all, 1),
        "notes": list(notes),
        "lr_sweep": sweep,
        "seeds_by_method": {
            m: sorted({r["seed"] for r in runs if r["method"] == m}) for m in args.methods
        },
        "mean_test_acc": summary,
        "runs": runs,
        "log": log,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
