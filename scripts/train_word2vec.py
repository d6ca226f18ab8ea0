"""Train the course's Word2Vec on the whole training split of the course corpus and commit it compactly.

Skip-gram, 50 dimensions (the size of the GloVe vectors it is compared with), window 5,
min_count 5, 5 epochs, negative sampling 5, sub-sampling 1e-4, seed 0, one worker (so the
result is reproducible). The (at most) 30,000 most frequent words are kept (what the analogy
evaluation uses), quantised to int8 with one scale per row, in
``data/corpus/word2vec_sg50.npz``; ``data/manifest.json`` gets the entry
``word2vec-corpus-sg50``; the log goes to ``data/corpus/word2vec_sg50.log``.

    python scripts/train_word2vec.py        # about 2-4 minutes on 2 cores
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from course_lib.corpus import corpus_stats, load_corpus  # noqa: E402
from course_lib.embeddings import (  # noqa: E402
    W2V_ASSET,
    evaluate_analogies,
    load_compact,
    save_compact,
    train_word2vec,
)

CONFIG = {
    "sg": True,
    "vector_size": 50,
    "window": 5,
    "min_count": 5,
    "epochs": 5,
    "sample": 1e-4,
    "negative": 5,
    "workers": 1,
    "seed": 0,
}
KEEP = 30_000
OUT = REPO / "data" / "corpus" / "word2vec_sg50.npz"
LOG = OUT.with_suffix(".log")
MANIFEST = REPO / "data" / "manifest.json"


def main() -> int:
    sents = load_corpus("train")
    stats = corpus_stats(sents)
    t0, c0 = time.time(), time.process_time()
    kv = train_word2vec(sents, **CONFIG)
    wall, cpu = time.time() - t0, time.process_time() - c0
    save_compact(kv, OUT, top=KEEP, meta={"config": CONFIG, "corpus": stats})
    kv_small = load_compact(OUT)
    rows = {r.section: r for r in evaluate_analogies(kv_small)}
    lines = [
        f"config {CONFIG}",
        f"corpus train split: {stats}",
        f"trained in {wall:.0f} s wall, {cpu:.0f} s CPU; vocabulary {len(kv)}, kept {len(kv_small)}",
        *(f"{s:28s} {r.correct:5d}/{r.answered:5d} = {r.accuracy:.3f}" for s, r in rows.items()),
    ]
    LOG.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    data = OUT.read_bytes()
    entry = {
        "name": W2V_ASSET,
        "kind": "model",
        "description": (
            "The course's Word2Vec: skip-gram, 50 d, trained on the course corpus's train split (3.4M tokens); "
            f"its {len(kv_small):,} words (min_count 5; at most {KEEP:,} kept), int8 codes with a float32 scale per row (npz)"
        ),
        "source": "trained by scripts/train_word2vec.py on data/corpus/train.txt.xz",
        "licence": "CC BY-SA 4.0 (derived from the course corpus, which contains Wikipedia text)",
        "files": {"corpus/word2vec_sg50.npz": hashlib.sha256(data).hexdigest()},
        "size_mb": round(len(data) / 1e6, 2),
        "counts": {
            "words": len(kv_small),
            "dim": CONFIG["vector_size"],
            "train_tokens": stats["tokens"],
            "questions_words_total_accuracy": round(rows["total"].accuracy, 4),
        },
        "made_by": f"scripts/train_word2vec.py (config {json.dumps(CONFIG)}; log data/corpus/word2vec_sg50.log)",
    }
    manifest = json.loads(MANIFEST.read_text())
    manifest["assets"] = [e for e in manifest["assets"] if e["name"] != W2V_ASSET] + [entry]
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
