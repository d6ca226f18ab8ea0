#!/usr/bin/env python3
"""Lesson 06's full comparison table and rank sweep at n = 500 (committed under data/lesson06/).

Each job (one method, or LoRA at one rank) runs in its own subprocess with ``--threads``
torch threads (2: the course's laptop), so that its peak resident memory (``getrusage``) and
its time per epoch belong to that method alone. Up to ``--jobs`` subprocesses run at once.

    python scripts/lesson06_table.py                       # everything, here
    python scripts/lesson06_table.py --make-bundle DIR     # weights + token ids for another machine
    python scripts/lesson06_table.py --bundle DIR          # run from such a bundle

A bundle holds MiniLM's weights with only the word-embedding rows the data uses (the other
rows are rebuilt as zeros: they never reach the model, since no input contains those tokens,
so outputs, shapes, parameter counts and costs are unchanged) and the token ids of the
training and test sentences. It exists only to move the computation to a machine with more
idle cores; it is never committed (the sentences' licence forbids redistribution).

Output: ``data/lesson06/table.json`` with the config, the seed, the machine, one row per
method, the rank sweep and the log of each job.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "data" / "lesson06" / "table.json"
METHOD_JOBS = ["full fine-tuning", "linear probe", "LoRA", "adapter", "prompt tuning", "random init"]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=500, help="training sentences (balanced)")
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ranks", type=int, nargs="*", default=[1, 2, 4, 8, 16])
    ap.add_argument("--alpha", type=float, default=16.0, help="LoRA alpha (kept fixed across ranks)")
    ap.add_argument("--jobs", type=int, default=1, help="subprocesses at once")
    ap.add_argument("--threads", type=int, default=2, help="torch threads per subprocess")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--bundle", type=Path, help="run from a bundle made by --make-bundle")
    ap.add_argument("--make-bundle", type=Path, help="write a bundle to this folder and stop")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # child mode: a JSON job
    return ap.parse_args(argv)


# ---------------------------------------------------------------- data and model sources


def local_data(n: int, max_length: int):
    from course_lib.models import load_minilm_tokenizer
    from course_lib.textdata import encode, polarity_test, polarity_train

    tok = load_minilm_tokenizer()
    train, test = polarity_train(n), polarity_test()
    return encode(train.texts, tok, max_length), train.labels, encode(test.texts, tok, max_length), test.labels


def make_bundle(folder: Path, n: int, max_length: int) -> None:
    import torch
    from safetensors.torch import save_file

    from course_lib.models import load_minilm, minilm_path

    folder.mkdir(parents=True, exist_ok=True)
    tr_enc, tr_y, te_enc, te_y = local_data(n, max_length)
    used = torch.unique(torch.cat([tr_enc["input_ids"].flatten(), te_enc["input_ids"].flatten()]))
    state = {k: v.contiguous() for k, v in load_minilm().state_dict().items()}
    words = state.pop("embeddings.word_embeddings.weight")
    state["used_ids"] = used
    state["used_rows"] = words[used].contiguous()
    save_file(state, str(folder / "weights.safetensors"))
    torch.save(
        {"train": tr_enc, "train_labels": torch.as_tensor(tr_y), "test": te_enc, "test_labels": torch.as_tensor(te_y),
         "n": n, "max_length": max_length, "vocab_size": words.shape[0]},
        folder / "data.pt",
    )
    (folder / "config.json").write_text(Path(minilm_path(), "config.json").read_text())
    size = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
    print(f"bundle: {len(used)} of {words.shape[0]} word rows, {size:.1f} MB in {folder}")


def bundle_encoder(folder: Path, pretrained: bool, seed: int):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel

    torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(str(folder / "config.json"))
    model = AutoModel.from_config(config)
    if pretrained:
        state = {}
        for part in sorted(folder.glob("weights*.safetensors")):  # a bundle may travel in parts
            state.update(load_file(str(part)))
        used, rows = state.pop("used_ids"), state.pop("used_rows")
        words = torch.zeros(config.vocab_size, config.hidden_size)
        words[used] = rows
        state["embeddings.word_embeddings.weight"] = words
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or [k for k in missing if "position_ids" not in k]:
            raise RuntimeError(f"bundle does not match the model: {missing} {unexpected}")
    return model.eval()


# ---------------------------------------------------------------- one job (child process)


def run_job(job: dict) -> dict:
    import torch

    torch.set_num_threads(job["threads"])
    from course_lib import peft as P
    from course_lib.seed import seed_everything
    from course_lib.textdata import batches

    seed_everything(job["seed"])
    t0 = time.perf_counter()
    if job.get("bundle"):
        data = torch.load(Path(job["bundle"]) / "data.pt", weights_only=False)
        tr_enc, tr_y, te_enc, te_y = data["train"], data["train_labels"], data["test"], data["test_labels"]
        encoder = bundle_encoder(Path(job["bundle"]), job["method"] != "random init", job["seed"])
    else:
        tr_enc, tr_y, te_enc, te_y = local_data(job["n"], job["max_length"])
        encoder = None
    test_batches = batches(te_enc, te_y, 64)
    result, _ = P.run_method(
        job["method"], tr_enc, tr_y, test_batches, epochs=job["epochs"], batch_size=job["batch_size"],
        r=job["r"], alpha=job["alpha"], seed=job["seed"], progress=False, encoder=encoder,
    )
    row = P.result_row(result)
    row.update(r=job["r"] if job["method"] == "LoRA" else None, peak_rss_mb=P.peak_rss_mb(),
               job_seconds=time.perf_counter() - t0, threads=torch.get_num_threads())
    return row


def spawn(job: dict) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", json.dumps(job)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"job {job['method']} r={job['r']} failed:\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {row['method']:<17} r={row['r']}  acc {100 * row['accuracy']:.1f}  {row['percent']:.3f} %  "
          f"{row['seconds_per_epoch']:.1f} s/epoch  peak {row['peak_rss_mb']:.0f} MB", flush=True)
    return row


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.one:
        print(json.dumps(run_job(json.loads(args.one))))
        return 0
    if args.make_bundle:
        make_bundle(args.make_bundle, args.n, args.max_length)
        return 0
    base = {"n": args.n, "max_length": args.max_length, "epochs": args.epochs, "batch_size": args.batch_size,
            "seed": args.seed, "alpha": args.alpha, "threads": args.threads,
            "bundle": str(args.bundle.resolve()) if args.bundle else None}
    jobs = [dict(base, method=m, r=8) for m in METHOD_JOBS]
    jobs += [dict(base, method="LoRA", r=r) for r in args.ranks if r != 8]
    # longest first, so the pool ends together
    order = {"full fine-tuning": 0, "random init": 1, "prompt tuning": 2, "adapter": 3, "LoRA": 4, "linear probe": 5}
    jobs.sort(key=lambda j: order[j["method"]])
    t0 = time.perf_counter()
    print(f"{len(jobs)} jobs, {args.jobs} at a time, {args.threads} threads each", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(spawn, jobs))
    import torch

    from course_lib.peft import DEFAULT_LR

    table = [r for r in rows if r["method"] != "LoRA" or r["r"] == 8]
    table.sort(key=lambda r: METHOD_JOBS.index(r["method"]))
    sweep = sorted([r for r in rows if r["method"] == "LoRA"], key=lambda r: r["r"])
    result = {
        "about": "Lesson 06: PEFT methods on Pang & Lee sentence polarity, MiniLM + mean pooling + linear head, "
                 "fixed test set of 1,000 sentences. Made by scripts/lesson06_table.py.",
        "config": {k: v for k, v in base.items() if k != "bundle"} | {
            "lr": DEFAULT_LR, "optimizer": "AdamW (torch defaults), constant lr", "lora_targets": ["query", "value"],
            "lora_r": 8, "adapter_bottleneck": 32, "prompt_virtual_tokens": 20, "jobs_at_once": args.jobs,
            "linear_probe": "logistic regression (LBFGS) on mean-pooled frozen features",
            "from_bundle": bool(args.bundle)},
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                    "torch": torch.__version__, "python": platform.python_version()},
        "measures": {
            "accuracy": "on the 1,000-sentence test set after the last epoch (no early stopping)",
            "seconds_per_epoch": "wall time of one training epoch (linear probe: embedding the training set + LBFGS)",
            "cpu_seconds_per_epoch": "process CPU time (user + sys, all threads) per epoch",
            "memory_mb": "weights + gradients + AdamW states + tensors saved for backward, one batch, counted tensor by tensor",
            "peak_rss_mb": "peak resident memory of the job's whole process (Python, torch, model, data, training)",
        },
        "table": table,
        "rank_sweep": sweep,
        "seconds": time.perf_counter() - t0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} in {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
