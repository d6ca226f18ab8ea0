#!/usr/bin/env python3
"""Train lesson 08's CLIP-style projection heads (seeded) and write the committed checkpoint.

Frozen EfficientNet-Lite0 image features (128 px) and frozen MiniLM caption embeddings of the
training pairs (whole concepts held out: ``course_lib.clip.make_split``) go through one linear
head each; the heads and a temperature are trained with the symmetric InfoNCE loss.

Writes ``data/lesson08/clip_heads.pt`` (state dict), ``clip_heads_config.json`` (config, split
sizes, held-out concepts) and ``clip_heads_log.json`` (loss per epoch, time, evaluation, and the
loss on a fixed check slice that the notebook recomputes live), then prints the manifest entry.

Usage: python scripts/train_clip_heads.py [--cache FILE] [--epochs 20] [--seed 0]
Tower features are cached in FILE (default /tmp/course_lesson08_features.pt) between runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from course_lib import clip
from course_lib.seed import seed_everything
from course_lib.training import accuracy

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "lesson08"
CHECK_SLICE = 256  # the first 256 training pairs: the notebook recomputes their loss live


def load_raw() -> clip.Pairs:
    meta = json.loads((OUT / "pairs.json").read_text())
    return clip.Pairs(np.load(OUT / "pairs.npz")["images"], meta["caption"], meta["source"])


def features(pairs: clip.Pairs, cache: Path) -> tuple[torch.Tensor, torch.Tensor]:
    key = hashlib.sha256((OUT / "pairs.npz").read_bytes() + (OUT / "pairs.json").read_bytes()).hexdigest()
    if cache.is_file():
        saved = torch.load(cache, weights_only=True)
        if saved.get("key") == key:
            return saved["image"], saved["text"]
    t0 = time.perf_counter()
    img = clip.image_features(pairs.images)
    txt = clip.text_features(pairs.captions)
    print(f"tower features for {len(pairs)} pairs: {time.perf_counter() - t0:.1f} s")
    torch.save({"key": key, "image": img, "text": txt}, cache)
    return img, txt


@torch.no_grad()
def evaluate(heads: clip.ClipHeads, img: torch.Tensor, txt: torch.Tensor, split: clip.PairSplit) -> dict:
    r = split.retrieval_test
    sim = heads.encode_image(img[r]) @ heads.encode_text(txt[r]).T
    out = {
        "retrieval_pairs": len(r),
        "image_to_text_R@1": clip.recall_at_k(sim, 1), "image_to_text_R@5": clip.recall_at_k(sim, 5),
        "text_to_image_R@1": clip.recall_at_k(sim.T, 1), "text_to_image_R@5": clip.recall_at_k(sim.T, 5),
    }
    cls = clip.class_embeddings(heads, split.concept_names, ["an icon of a {}"])
    logits = clip.zero_shot_logits(heads, img[split.concept_test], cls)
    out["heldout_zero_shot_acc"] = accuracy(logits, torch.as_tensor(split.concept_labels))
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/course_lesson08_features.pt"))
    ap.add_argument("--epochs", type=int, default=clip.DEFAULT_TRAIN_CONFIG["epochs"])
    ap.add_argument("--seed", type=int, default=clip.DEFAULT_TRAIN_CONFIG["seed"])
    ap.add_argument("--dry-run", action="store_true", help="train and evaluate, write nothing")
    args = ap.parse_args()
    seed_everything(args.seed)
    torch.set_num_threads(min(2, torch.get_num_threads()))  # small matrices: more threads only contend

    pairs = load_raw()
    split = clip.make_split(pairs.captions)
    img, txt = features(pairs, args.cache)
    tr = torch.as_tensor(split.train)
    config = {**clip.DEFAULT_TRAIN_CONFIG, "epochs": args.epochs, "seed": args.seed}
    per_epoch = []

    def track(epoch: int, loss: float, heads: clip.ClipHeads) -> None:
        per_epoch.append({"epoch": epoch + 1, **evaluate(heads, img, txt, split)})

    t0 = time.perf_counter()
    heads, losses = clip.train_heads(img[tr], txt[tr], **{k: config[k] for k in
                                     ("epochs", "batch_size", "lr", "weight_decay", "seed", "embed_dim")},
                                     on_epoch_end=track)
    seconds = time.perf_counter() - t0  # includes the per-epoch evaluation
    # the checkpoint is stored in float16 (half the size); evaluate the weights exactly as stored
    heads.load_state_dict({k: v.half().float() for k, v in heads.state_dict().items()})
    check = tr[:CHECK_SLICE]
    with torch.no_grad():
        check_loss = float(clip.clip_loss(heads(img[check], txt[check])))
    log = {
        "train_loss_per_epoch": [round(x, 4) for x in losses],
        "train_seconds": round(seconds, 2),
        "temperature": round(heads.temperature, 4),
        "check_slice": {"pairs": "the first 256 training pairs (split.train[:256])", "loss": round(check_loss, 4)},
        "eval": evaluate(heads, img, txt, split),
        "eval_per_epoch": per_epoch,
    }
    print(json.dumps(log, indent=1))
    if args.dry_run:
        return
    full_config = {
        **config,
        "image_tower": "EfficientNet-Lite0 (ImageNet), global average pool, 1280 d, input 128 px, frozen",
        "text_tower": "all-MiniLM-L6-v2, mean pooling, L2-normalised, 384 d, frozen",
        "heads": "one linear layer each into embed_dim (image features standardised first); learnable temperature",
        "loss": "symmetric InfoNCE (mean of image->text and text->image cross-entropy)",
        "optimizer": "AdamW",
        "split": {"train": len(split.train), "heldout_concept_images": len(split.concept_test),
                  "retrieval_test": len(split.retrieval_test), "split_seed": clip.SPLIT_SEED},
        "heldout_concepts": clip.HELDOUT_CONCEPTS,
        "made_by": "scripts/train_clip_heads.py",
    }
    OUT.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().half() for k, v in heads.state_dict().items()}, OUT / "clip_heads.pt")
    (OUT / "clip_heads_config.json").write_text(json.dumps(full_config, indent=1) + "\n")
    (OUT / "clip_heads_log.json").write_text(json.dumps(log, indent=1) + "\n")
    files = {f"lesson08/{f}": hashlib.sha256((OUT / f).read_bytes()).hexdigest()
             for f in ("clip_heads.pt", "clip_heads_config.json", "clip_heads_log.json")}
    size = sum((OUT / f.split("/")[1]).stat().st_size for f in files) / 1e6
    print(json.dumps({"files": files, "size_mb": round(size, 2)}, indent=1))


if __name__ == "__main__":
    main()
