#!/usr/bin/env python3
"""Pretrain the course's ELMo-shaped biLSTM language model (lesson 03; its forward stack: lesson 04).

Reads the course corpus (``data/corpus/``, made by ``scripts/build_corpus.py``) directly from its
xz files, builds a vocabulary from the train split, trains forward and backward LSTM stacks with
a shared, tied softmax, and writes into ``--out`` (default ``data/bilm/``):

- ``model.pt``      fp16 state dict of :class:`course_lib.elmo.BiLM`
- ``config.json``   the model's shape (``BiLMConfig``)
- ``vocab.txt``     one word per line (id = line number)
- ``training.json`` every setting, the seed, the corpus files' sha256, held-out perplexities
- ``train_log.txt`` the training log

It needs the course's Python environment (``course_lib.elmo`` imports the course's kit); on a GPU
machine, install the course's requirements first::

    python scripts/pretrain_bilm.py                       # GPU if present; ~4 min on an H100
    python scripts/pretrain_bilm.py --vocab 10000 --proj 128 --hidden 256 --dropout 0.1 \
        --bptt 32 --batch 64 --warmup 100 --minutes 40    # the committed checkpoint: 2 CPU cores,
                                                          # 39 min, 1.1 passes, test perplexity 95
    python scripts/pretrain_bilm.py --tiny --out /tmp/b   # smoke test: a small slice, a few steps

Training length: ``--steps`` fixes it; otherwise the script measures its speed over the first
steps and picks the number of steps that fits ``--minutes`` (recorded in training.json, so
``--steps N`` reproduces a run). The learning rate warms up linearly, then decays (cosine).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import math
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib.elmo import SPECIALS, BiLM, BiLMConfig, load_bilm_from, save_bilm  # noqa: E402


def log(msg: str, lines: list[str]) -> None:
    print(msg, flush=True)
    lines.append(msg)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def corpus_files(corpus_dir: Path) -> dict[str, Path]:
    """train/valid/test files, from data/manifest.json's corpus-<split> entries (else by name)."""
    out: dict[str, Path] = {}
    manifest = ROOT / "data" / "manifest.json"
    if manifest.exists() and corpus_dir.resolve() == (ROOT / "data" / "corpus").resolve():
        for entry in json.loads(manifest.read_text())["assets"]:
            for split in ("train", "valid", "test"):
                if entry["name"] == f"corpus-{split}":
                    out[split] = ROOT / "data" / next(iter(entry["files"]))
    for split in ("train", "valid", "test"):
        if split not in out:
            hits = sorted(corpus_dir.glob(f"*{split}*.txt*"))
            if not hits:
                raise SystemExit(f"no {split} file in {corpus_dir}")
            out[split] = hits[0]
    return out


def read_sentences(path: Path, max_tokens: int | None = None) -> list[list[str]]:
    """Tokenised sentences of a corpus file (``@@ source doc`` lines open documents)."""
    opener = lzma.open if path.suffix == ".xz" else open
    out, n = [], 0
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("@@ "):
                continue
            toks = line.split(" ")
            out.append(toks)
            n += len(toks)
            if max_tokens and n >= max_tokens:
                break
    return out


def build_vocab(sentences: list[list[str]], size: int) -> list[str]:
    counts = Counter(t for s in sentences for t in s)
    for s in SPECIALS:
        counts.pop(s, None)
    ranked = sorted(counts, key=lambda t: (-counts[t], t))
    return SPECIALS + ranked[: size - len(SPECIALS)]


def to_stream(sentences: list[list[str]], stoi: dict[str, int]) -> np.ndarray:
    """One id stream: <eos> s1 <eos> s2 <eos> ... (unknown words -> <unk>)."""
    eos, unk = stoi["<eos>"], stoi["<unk>"]
    ids = [eos]
    for s in sentences:
        ids.extend(stoi.get(t, unk) for t in s)
        ids.append(eos)
    return np.asarray(ids, dtype=np.int64)


def windows(stream: np.ndarray, length: int, offset: int = 0) -> torch.Tensor:
    """Non-overlapping windows of ``length + 1`` ids (consecutive windows share one id)."""
    s = stream[offset:]
    n = (len(s) - 1) // length
    idx = np.arange(n)[:, None] * length + np.arange(length + 1)[None, :]
    return torch.from_numpy(s[idx])


@torch.no_grad()
def evaluate(model: BiLM, data: torch.Tensor, batch: int, device: torch.device) -> tuple[float, float]:
    """Perplexity (forward, backward) over windows, each scored without carried state."""
    model.eval()
    lf = lb = 0.0
    n = 0
    for i in range(0, len(data), batch):
        x = data[i : i + batch].to(device, non_blocking=True)
        f, b = model(x)
        k = x.shape[0]
        lf += float(f) * k
        lb += float(b) * k
        n += k
    model.train()
    return math.exp(lf / n), math.exp(lb / n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus-dir", type=Path, default=ROOT / "data" / "corpus")
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "bilm")
    ap.add_argument("--vocab", type=int, default=20000)
    ap.add_argument("--proj", type=int, default=176)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--bptt", type=int, default=64)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=0, help="0: fit the number of steps to --minutes")
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--eval-tokens", type=int, default=300_000, help="valid tokens for the periodic check")
    ap.add_argument("--probe-steps", type=int, default=60, help="steps timed to fit --minutes")
    ap.add_argument("--final-eval-tokens", type=int, default=0, help="cap on valid/test tokens (0: all)")
    ap.add_argument("--max-train-tokens", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    ap.add_argument("--tiny", action="store_true", help="smoke test: small slice, small model, 30 steps")
    args = ap.parse_args()
    if args.tiny:
        args.vocab, args.proj, args.hidden, args.batch = 2000, 32, 64, 16
        args.steps, args.eval_every, args.warmup = 30, 15, 5
        args.max_train_tokens = args.max_train_tokens or 50_000
        args.eval_tokens = 5_000

    lines: list[str] = []
    t_start = time.perf_counter()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        log(f"device: cuda ({torch.cuda.get_device_name(device)}), torch {torch.__version__}", lines)
    else:
        log(f"device: cpu ({torch.get_num_threads()} threads), torch {torch.__version__}", lines)

    files = corpus_files(args.corpus_dir)
    cap = args.max_train_tokens or None
    train = read_sentences(files["train"], cap)
    valid = read_sentences(files["valid"], cap and cap // 5)
    test = read_sentences(files["test"], cap and cap // 5)
    vocab = build_vocab(train, args.vocab)
    stoi = {w: i for i, w in enumerate(vocab)}
    streams = {k: to_stream(v, stoi) for k, v in (("train", train), ("valid", valid), ("test", test))}
    unk_rate = {k: float((v == stoi["<unk>"]).mean()) for k, v in streams.items()}
    log(f"corpus: train {len(streams['train']):,} ids, valid {len(streams['valid']):,}, test "
        f"{len(streams['test']):,}; vocab {len(vocab):,}; <unk> rate {unk_rate['train']:.3f} (train) "
        f"{unk_rate['valid']:.3f} (valid); read in {time.perf_counter() - t_start:.1f} s", lines)

    config = BiLMConfig(vocab_size=len(vocab), proj=args.proj, hidden=args.hidden, layers=args.layers,
                        dropout=args.dropout)
    model = BiLM(config, vocab).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {config}, {n_params:,} parameters ({n_params * 2 / 1e6:.1f} MB in fp16)", lines)

    valid_w = windows(streams["valid"], args.bptt)
    valid_check = valid_w[: max(1, args.eval_tokens // args.bptt)]
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)

    total_steps = args.steps or 10**9
    step, epoch, history = 0, 0, []
    best = (float("inf"), 0, None)  # (mean valid-check perplexity, step, state on the CPU)
    t_train = time.perf_counter()
    speed_probe_at = args.probe_steps
    done = False
    tokens_seen = 0
    while not done:
        data = windows(streams["train"], args.bptt, offset=int(rng.integers(args.bptt)))
        order = torch.from_numpy(rng.permutation(len(data)))
        epoch += 1
        for i in range(0, len(order) - args.batch + 1, args.batch):
            x = data[order[i : i + args.batch]].to(device, non_blocking=True)
            lr = args.lr * min(1.0, (step + 1) / args.warmup)
            if step >= args.warmup and total_steps < 10**9:
                frac = (step - args.warmup) / max(1, total_steps - args.warmup)
                lr = args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
            for g in opt.param_groups:
                g["lr"] = lr
            lf, lb = model(x)
            loss = (lf + lb) / 2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            step += 1
            tokens_seen += x.numel()
            if step == speed_probe_at and not args.steps:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                per_step = (time.perf_counter() - t_train) / step
                budget = args.minutes * 60 - (time.perf_counter() - t_train)
                evals = 1 + budget / per_step / args.eval_every
                eval_cost = 0.5 * args.eval_tokens / (args.batch * args.bptt) + 2  # in steps
                total_steps = step + int(budget / per_step * 0.93 - evals * eval_cost)
                log(f"speed: {per_step * 1000:.1f} ms/step ({x.numel() / per_step:,.0f} tokens/s); "
                    f"training for {total_steps} steps", lines)
            if step % args.eval_every == 0 or step >= total_steps:
                pf, pb = evaluate(model, valid_check, args.batch, device)
                if (pf + pb) / 2 < best[0]:
                    best = ((pf + pb) / 2, step, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
                el = time.perf_counter() - t_train
                history.append({"step": step, "epoch": epoch, "lr": lr, "train_loss": float(loss.detach()),
                                "valid_ppl_forward": pf, "valid_ppl_backward": pb, "seconds": el})
                log(f"step {step:6d} epoch {epoch} lr {lr:.2e} loss {float(loss.detach()):.3f} valid ppl "
                    f"fwd {pf:.1f} bwd {pb:.1f}  ({el:.0f} s)", lines)
            if step >= total_steps:
                done = True
                break
    train_seconds = time.perf_counter() - t_train
    if best[2] is not None and best[1] != step:
        model.load_state_dict(best[2])
        log(f"keeping the best checkpoint by valid perplexity: step {best[1]} of {step}", lines)

    ppl = {}
    for split in ("valid", "test"):
        w = windows(streams[split], args.bptt)
        if args.final_eval_tokens:
            w = w[: max(1, args.final_eval_tokens // args.bptt)]
        f, b = evaluate(model, w, args.batch, device)
        ppl[split] = {"forward": round(f, 2), "backward": round(b, 2)}
    log(f"held-out perplexity ({args.bptt}-token windows, no carried state): valid fwd "
        f"{ppl['valid']['forward']} bwd {ppl['valid']['backward']}; test fwd {ppl['test']['forward']} "
        f"bwd {ppl['test']['backward']}", lines)

    model = model.cpu().eval()
    paths = save_bilm(model, args.out)
    # the fp16 checkpoint is what the course loads: check it scores the same
    re_model = load_bilm_from(args.out)
    vt = windows(streams["valid"], args.bptt)[:64]
    a, b = evaluate(model, vt, 64, torch.device("cpu")), evaluate(re_model, vt, 64, torch.device("cpu"))
    log(f"fp16 check on {len(vt)} valid windows: fp32 fwd {a[0]:.2f} / fp16 fwd {b[0]:.2f}", lines)
    sizes = {k: round(p.stat().st_size / 1e6, 2) for k, p in paths.items()}
    record = {
        "script": "scripts/pretrain_bilm.py",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "device": str(device) if device.type != "cuda" else f"cuda ({torch.cuda.get_device_name(0)})",
        "torch": torch.__version__,
        "corpus_files": {k: {"path": str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p),
                             "sha256": sha256(p)} for k, p in files.items()},
        "tokens": {k: int(len(v)) for k, v in streams.items()},
        "unk_rate": unk_rate,
        "parameters": n_params,
        "steps": step,
        "kept_step": best[1],
        "epochs": epoch,
        "tokens_seen": tokens_seen,
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.perf_counter() - t_start, 1),
        "perplexity": ppl,
        "perplexity_note": f"{args.bptt}-token windows of the id stream, no state carried between windows",
        "history": history,
        "file_mb": sizes,
    }
    (args.out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    log(f"wrote {args.out}: {sizes}; total {record['total_seconds']} s", lines)
    (args.out / "train_log.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
