#!/usr/bin/env python3
"""Lesson 01: the data-size curve, every method, every k, several seeds (too slow for the notebook).

For each labels-per-class k and seed, on the fixed 2,000-image Animal-MNIST test set:

- ``probe``: frozen ImageNet EfficientNet-Lite0, linear head on cached features (LBFGS);
- ``finetune``: ImageNet init, every block trainable, discriminative rates, BN in eval mode;
- ``finetune_bn_train``: the same with batch norm left in train mode (the batch-norm trap);
- ``gradual``: ImageNet init, gradual unfreezing (head, top blocks, all), BN in eval mode;
- ``random_init``: the same network, recipe and budget as ``finetune``, from random init
  (batch norm in eval mode too, so its running statistics stay at their initial 0 and 1);
- ``small_cnn``: a 73k-parameter CNN from scratch on the 28 x 28 images.

Writes ``data/lesson01/curve.json`` (config, seeds, device, per-run accuracy and seconds).
``--quick`` runs a tiny configuration to check the code path.

    python scripts/lesson01_curve.py                  # the committed results
    python scripts/lesson01_curve.py --quick --out /tmp/q.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib import data, models, vision  # noqa: E402
from course_lib.device import get_device  # noqa: E402
from course_lib.seed import seed_everything  # noqa: E402

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
    "gradual": {"epochs_per_phase": 2, "head_lr": 1e-3, "backbone_lr": 1e-4, "decay": 0.5},
    "random_init_scratch": {"head_lr": 1e-3, "backbone_lr": 1e-3},
    "small_cnn": {"epochs": 30, "min_steps": 150, "lr": 3e-3},
    "probe": {"weight_decay": 1e-3},
    "test": "fixed Animal-MNIST test set, 200 per class (2,000 images)",
    "train": "course_lib.data.animal_train_subset(k, seed): nested subsets of the training pool",
}
METHODS = ["probe", "finetune", "finetune_bn_train", "gradual", "random_init", "small_cnn"]
# also available with --methods: "random_init_scratch" (random init, BN in train mode, 1e-3 everywhere)


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
    kw = dict(cfg["finetune"])
    pretrained = not method.startswith("random_init")
    keep_bn_eval = method in (
        "finetune",
        "gradual",
        "random_init",
    )  # random_init: the exact fine-tuning recipe
    if (
        method == "random_init_scratch"
    ):  # optional, not in the committed file: a recipe suited to scratch
        kw.update(cfg["random_init_scratch"])
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
        "--merge", action="store_true", help="keep the other methods' runs already in --out"
    )
    args = ap.parse_args()
    cfg = json.loads(json.dumps(CONFIG))
    if args.quick:
        cfg.update(ks=[5], seeds=[0])
        cfg["finetune"].update(epochs=1, min_steps=2)
        cfg["small_cnn"].update(epochs=1, min_steps=2)
        args.methods = [m for m in args.methods if m in ("probe", "finetune", "small_cnn")]
    device = get_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    if args.seeds is not None:
        cfg["seeds"] = args.seeds
    test = data.animal_test_set()
    cache: dict = {}
    runs, log = [], []
    to_run = list(args.methods)
    if args.merge and args.out.exists():
        old = json.loads(args.out.read_text())
        runs = [r for r in old["runs"] if r["method"] not in args.methods]
        log = [line for line in old["log"] if not any(f" {m} " in line for m in args.methods)]
        cfg["seeds"] = sorted(set(cfg["seeds"]) | set(old["config"]["seeds"]))
        args.methods = [m for m in old["methods"] if m not in args.methods] + args.methods
    t_all = time.perf_counter()
    for seed in cfg["seeds"]:  # seed outermost: a run cut short still has whole curves
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
                _write(args, cfg, runs, log, device, t_all)
    _write(args, cfg, runs, log, device, t_all)
    print("wrote", args.out)
    return 0


def _write(args, cfg, runs, log, device, t_all) -> None:
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
        "device": str(device)
        + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else ""),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "total_seconds": round(time.perf_counter() - t_all, 1),
        "mean_test_acc": summary,
        "runs": runs,
        "log": log,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
