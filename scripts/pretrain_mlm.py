#!/usr/bin/env python3
"""Pretrain the course's small BERT with masked-language modelling (lesson 05).

Reads the course corpus (``data/corpus/``, through the asset registry), builds a word vocabulary
from its train split, packs consecutive whole sentences of each document into segments of at most
``--max-length`` tokens (``[CLS] ... [SEP]``), and trains ``transformers.BertForMaskedLM`` (a
small config, :func:`course_lib.mlm.bert_config`) on BERT's objective: 15 % of the tokens chosen,
80 % of those replaced by ``[MASK]``, 10 % by a random word, 10 % left; cross-entropy on the
chosen ones (:func:`course_lib.mlm.mask_tokens`, masks drawn afresh for every batch, seeded).
Writes into ``--out`` (default ``data/mlm/``):

- ``model.pt``      fp16 state dict of the ``BertForMaskedLM`` (output layer tied to the embeddings)
- ``config.json``   the BertConfig fields
- ``vocab.txt``     one word per line (id = line number; the first five are the specials)
- ``training.json`` every setting, the seed, the corpus files' sha256, held-out MLM losses, timings
- ``train_log.txt`` the training log

Usage::

    python scripts/pretrain_mlm.py --tiny --out /tmp/m          # smoke test: a few seconds
    python scripts/pretrain_mlm.py --minutes 22                 # fit the run to a time budget

The committed checkpoint was trained in two runs on one CPU thread of a shared 2-core machine
(``OMP_NUM_THREADS=1 nice -n 10``): a first run, whose step-800 weights (``OUT/partial``, written at
its last check) the second run resumed from (the first run's log is kept in ``training.json``,
under ``resumed_from``)::

    python scripts/pretrain_mlm.py --steps 800 --eval-every 100 --save-partial --out /tmp/mlm_stage1_run
    cp -r /tmp/mlm_stage1_run/partial /tmp/mlm_stage1
    python scripts/pretrain_mlm.py --resume /tmp/mlm_stage1 --seed 1 --lr 1.5e-3 --warmup 50 --batch 32 \
        --steps 1014 --eval-every 100 --eval-segments 200 --out data/mlm
    # (the second run was started with --minutes 19 --probe-steps 20, which chose 1014 steps)

Training length: ``--steps`` fixes it; otherwise the script times its first steps and picks the
number of steps that fits ``--minutes`` (recorded, so ``--steps N`` reproduces a run). The
learning rate warms up linearly, then decays (cosine) to 5 % of its peak.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib import assets  # noqa: E402
from course_lib.corpus import ASSET_NAMES, load_documents  # noqa: E402
from course_lib.mlm import (  # noqa: E402
    WordTokenizer,
    bert_config,
    build_mlm,
    build_word_vocab,
    load_mlm_from,
    mask_tokens,
    mlm_batch_loss,
    save_mlm,
    uniform_loss,
)


def log(msg: str, lines: list[str]) -> None:
    print(msg, flush=True)
    lines.append(msg)


def pack(split: str, tok: WordTokenizer, max_length: int, max_tokens: int = 0) -> list[list[int]]:
    """Segments ``[CLS] s1 s2 ... [SEP]`` of consecutive whole sentences of one document
    (at most ``max_length`` ids; a longer sentence is cut)."""
    body = max_length - 2
    segs, n = [], 0
    for doc in load_documents(split):
        cur: list[int] = []
        for s in doc.sentences:
            ids = [tok.stoi.get(w, tok.unk_token_id) for w in s][:body]
            if cur and len(cur) + len(ids) > body:
                segs.append([tok.cls_token_id, *cur, tok.sep_token_id])
                cur = []
            cur.extend(ids)
        if cur:
            segs.append([tok.cls_token_id, *cur, tok.sep_token_id])
        n = sum(len(x) for x in segs)
        if max_tokens and n >= max_tokens:
            break
    return segs


def batches(segs: list[list[int]], batch: int, rng: np.random.Generator, tok: WordTokenizer):
    order = rng.permutation(len(segs))
    for i in range(0, len(order) - batch + 1, batch):
        yield tok.pad({"input_ids": [segs[j] for j in order[i : i + batch]]})


@torch.no_grad()
def held_out_loss(model, segs, tok, batch: int, seed: int, device) -> float:
    """MLM loss per masked token over ``segs`` with a fixed, seeded masking."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    total, n = 0.0, 0
    for i in range(0, len(segs), batch):
        b = tok.pad({"input_ids": segs[i : i + batch]})
        x, y = mask_tokens(b["input_ids"], len(tok), tok.special_ids, tok.mask_token_id, generator=gen)
        k = int((y != -100).sum())
        if k:
            total += float(mlm_batch_loss(model, x.to(device), b["attention_mask"].to(device), y.to(device))) * k
            n += k
    model.train()
    return total / max(n, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "mlm")
    ap.add_argument("--vocab", type=int, default=12000)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=0, help="0: fit the number of steps to --minutes")
    ap.add_argument("--minutes", type=float, default=22.0)
    ap.add_argument("--probe-steps", type=int, default=30, help="steps timed to fit --minutes")
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--eval-segments", type=int, default=300, help="valid segments for the periodic check")
    ap.add_argument("--max-train-tokens", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    ap.add_argument("--resume", type=Path, default=None, help="start from the weights of a folder written by this script")
    ap.add_argument("--save-partial", action="store_true", help="write the model to OUT/partial at every check")
    ap.add_argument("--tiny", action="store_true", help="smoke test: a small slice, a small model, 20 steps")
    args = ap.parse_args()
    if args.tiny:
        args.vocab, args.hidden, args.layers, args.heads = 2000, 32, 2, 2
        args.steps, args.eval_every, args.warmup, args.batch = 20, 10, 5, 16
        args.max_train_tokens = args.max_train_tokens or 50_000
        args.eval_segments = 40

    lines: list[str] = []
    t_start = time.perf_counter()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    log(f"device: {device} ({torch.get_num_threads()} threads), torch {torch.__version__}", lines)

    from course_lib.corpus import load_corpus

    train_sents = load_corpus("train")
    vocab = build_word_vocab(train_sents, args.vocab)
    del train_sents
    tok = WordTokenizer(vocab)
    train = pack("train", tok, args.max_length, args.max_train_tokens)
    valid = pack("valid", tok, args.max_length, args.max_train_tokens // 5 if args.max_train_tokens else 0)
    test = pack("test", tok, args.max_length, args.max_train_tokens // 5 if args.max_train_tokens else 0)
    n_tok = {k: sum(len(s) for s in v) for k, v in (("train", train), ("valid", valid), ("test", test))}
    unk = sum(sum(i == tok.unk_token_id for i in s) for s in valid) / n_tok["valid"]
    log(f"corpus: {len(train):,} train segments ({n_tok['train']:,} ids), valid {len(valid):,} ({n_tok['valid']:,}), "
        f"test {len(test):,} ({n_tok['test']:,}); vocab {len(vocab):,}; valid [UNK] rate {unk:.3f}; "
        f"read in {time.perf_counter() - t_start:.1f} s", lines)

    config = bert_config(len(vocab), args.hidden, args.layers, args.heads, args.max_length, args.dropout)
    model = build_mlm(config, seed=args.seed).to(device)
    resumed = None
    if args.resume:
        prev, prev_tok = load_mlm_from(args.resume)
        if prev_tok.itos != vocab or prev.config.hidden_size != args.hidden or prev.config.num_hidden_layers != args.layers:
            raise SystemExit(f"--resume {args.resume}: a different vocabulary or shape")
        model.load_state_dict(prev.state_dict())
        log_file = args.resume / "train_log.txt"
        resumed = {"folder": str(args.resume), "log": log_file.read_text().splitlines() if log_file.is_file() else []}
        log(f"resumed from {args.resume} (its log is kept in training.json)", lines)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: BERT {args.layers} layers, hidden {args.hidden}, {args.heads} heads, feed-forward "
        f"{config.intermediate_size}, {n_params:,} parameters; uniform guessing ln(V) = {uniform_loss(len(vocab)):.3f}", lines)

    valid_check = valid[: args.eval_segments]
    init_loss = held_out_loss(model, valid_check, tok, 128, args.seed, device)
    log(f"valid MLM loss at {'the start (resumed)' if resumed else 'random init'}: {init_loss:.3f}", lines)
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98))
    total_steps = args.steps or 10**9
    step, epoch, tokens_seen, history = 0, 0, 0, []
    t_train = time.perf_counter()
    done = False
    while not done:
        epoch += 1
        for b in batches(train, args.batch, rng, tok):
            x, y = mask_tokens(b["input_ids"], len(tok), tok.special_ids, tok.mask_token_id, generator=gen)
            lr = args.lr * min(1.0, (step + 1) / args.warmup)
            if step >= args.warmup and total_steps < 10**9:
                frac = (step - args.warmup) / max(1, total_steps - args.warmup)
                lr = args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
            for g in opt.param_groups:
                g["lr"] = lr
            loss = mlm_batch_loss(model, x.to(device), b["attention_mask"].to(device), y.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            step += 1
            tokens_seen += int(b["attention_mask"].sum())
            if step == args.probe_steps and not args.steps:
                per_step = (time.perf_counter() - t_train) / step
                budget = args.minutes * 60 - (time.perf_counter() - t_start)
                n_evals = budget / per_step / args.eval_every
                total_steps = step + int(budget / per_step * 0.95 - n_evals * 4)
                log(f"speed: {per_step * 1000:.0f} ms/step ({args.batch * args.max_length / per_step:,.0f} "
                    f"padded tokens/s); training for {total_steps} steps", lines)
            if step % args.eval_every == 0 or step >= total_steps:
                vl = held_out_loss(model, valid_check, tok, 128, args.seed, device)
                el = time.perf_counter() - t_train
                history.append({"step": step, "epoch": epoch, "lr": lr, "train_loss": float(loss.detach()),
                                "valid_loss": vl, "seconds": round(el, 1)})
                log(f"step {step:5d} epoch {epoch} lr {lr:.2e} loss {float(loss.detach()):.3f} valid {vl:.3f} ({el:.0f} s)", lines)
                if args.save_partial:  # a usable checkpoint while the run goes on
                    save_mlm(model, vocab, args.out / "partial")
                    (args.out / "partial" / "train_log.txt").write_text("\n".join(lines) + "\n")
            if step >= total_steps:
                done = True
                break
    train_seconds = time.perf_counter() - t_train

    final = {k: round(held_out_loss(model, v, tok, 128, args.seed, device), 4) for k, v in (("valid", valid), ("test", test))}
    log(f"held-out MLM loss (all segments, seeded masks): valid {final['valid']}, test {final['test']} "
        f"(perplexity {math.exp(final['test']):.0f}; uniform ln(V) = {uniform_loss(len(vocab)):.3f})", lines)
    model = model.cpu().eval()
    paths = save_mlm(model, vocab, args.out)
    re_model, _ = load_mlm_from(args.out)
    a = held_out_loss(model, valid_check, tok, 128, args.seed, torch.device("cpu"))
    b = held_out_loss(re_model, valid_check, tok, 128, args.seed, torch.device("cpu"))
    log(f"fp16 check on {len(valid_check)} valid segments: fp32 {a:.4f} / fp16 {b:.4f}", lines)
    sizes = {k: round(p.stat().st_size / 1e6, 2) for k, p in paths.items()}
    corpus = {}
    for split, name in ASSET_NAMES.items():
        p = assets.path(name)
        corpus[split] = {"path": str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else p.name,
                         "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
    record = {
        "script": "scripts/pretrain_mlm.py",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("out", "resume")},
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "corpus_files": corpus,
        "segments": {"train": len(train), "valid": len(valid), "test": len(test)},
        "tokens": n_tok,
        "valid_unk_rate": round(unk, 4),
        "parameters": n_params,
        "vocab_size": len(vocab),
        "steps": step,
        "epochs_started": epoch,
        "tokens_seen": tokens_seen,
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.perf_counter() - t_start, 1),
        "init_valid_loss": round(init_loss, 4),
        "uniform_loss": round(uniform_loss(len(vocab)), 4),
        "loss": final,
        "loss_note": "cross-entropy (nats) per masked token, BERT's 80/10/10 rule, masks drawn with a fixed seed",
        "history": history,
        "resumed_from": resumed,
        "file_mb": sizes,
    }
    (args.out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    log(f"wrote {args.out}: {sizes}; total {record['total_seconds']} s", lines)
    (args.out / "train_log.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
