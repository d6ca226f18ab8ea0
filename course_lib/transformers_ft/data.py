"""Lesson 05's data: stratified subsets, a validation split, the committed results, and the
lesson's batches of tokenised sentences (:func:`course_lib.textdata.encode` cut by
:func:`course_lib.textdata.batches` in one of the lesson's two orders)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

from course_lib import assets, cache, models, textdata
from course_lib.textdata import TextSplit, polarity_train

CACHE_DIR = cache.CACHE_DIR / "lesson05"


def committed_results() -> dict:
    """The larger runs of ``scripts/lesson05_runs.py`` (config, seed, accuracies, log), read
    checksum-verified through the asset registry (entry ``lesson05-results``)."""
    return json.loads(assets.path("lesson05-results").read_text())


def subset(split: TextSplit, n: int, seed: int = 0) -> TextSplit:
    """A stratified, seeded subset of n items (n/2 per class), in the original order."""
    if n >= len(split):
        return split
    rng = np.random.default_rng(seed)
    idx = np.sort(np.concatenate([rng.permutation(np.flatnonzero(split.labels == c))[: n // 2] for c in (0, 1)]))
    return TextSplit([split.texts[i] for i in idx], split.labels[idx])


def polarity_validation(n: int = 200, after: int = 500) -> TextSplit:
    """``n`` labelled sentences of the polarity training pool (n/2 per class) that lie outside
    ``polarity_train(after)`` and the test set: for choosing a recipe (e.g. a learning rate)
    without the test set. Sentences whose text also occurs in the training subset are dropped."""
    big, used = polarity_train(after + n), set(polarity_train(after).texts)
    keep = [i for i, t in enumerate(big.texts) if t not in used]
    return TextSplit([big.texts[i] for i in keep], big.labels[keep])


@lru_cache(maxsize=1)
def minilm_tokenizer():
    """MiniLM's tokenizer (:func:`course_lib.models.load_minilm_tokenizer`), loaded once per kernel."""
    return models.load_minilm_tokenizer()


# ---------------------------------------------------------------- batches in the lesson's orders


def length_order(lengths: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
    """Indices that put similar lengths together (shortest first, ties in the given order):
    batches cut in this order carry little padding."""
    return np.argsort(np.asarray(lengths), kind="stable")


def text_loader(split: TextSplit, tokenizer, batch_size: int = 16, max_length: int = 64, shuffle: bool = False,
                seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """``split`` encoded once (:func:`course_lib.textdata.encode`) and cut into dict batches
    (input_ids, attention_mask, labels; :func:`course_lib.textdata.batches`): grouped by length,
    or with ``shuffle`` in NumPy's permutation seeded with ``seed``."""
    enc = textdata.encode(split.texts, tokenizer, max_length)
    order = np.random.default_rng(seed).permutation(len(split)) if shuffle else length_order(enc["attention_mask"].sum(1))
    return textdata.batches(enc, split.labels, batch_size, order)


def shuffled_loader(split: TextSplit, tokenizer, batch_size: int = 16, max_length: int = 64, seed: int = 0) -> textdata.EpochBatches:
    """Lesson 05's training batches: ``split`` encoded once, reshuffled every epoch (epoch ``e``
    in NumPy's permutation seeded with ``seed * 1000 + e``, the order of the committed runs)."""
    enc = textdata.encode(split.texts, tokenizer, max_length)
    n = len(split)

    def make(epoch: int) -> list:
        return textdata.batches(enc, split.labels, batch_size, np.random.default_rng(seed * 1000 + epoch).permutation(n))

    return textdata.EpochBatches(make, -(-n // batch_size))
