"""Lesson 09's tasks, all offline: sentence polarity, BBC topics from each article's first
words, the Brown-corpus genre of a sentence, and the course corpus's source of a sentence
(for the exercises), each as a :class:`Task` with a training and a held-out test set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from course_lib.corpus import load_brown_tagged, load_corpus
from course_lib.errors import InputError
from course_lib.textdata import POLARITY_CLASSES, TextSplit, polarity_test, polarity_train
from course_lib.transformers_ft import subset
from course_lib.ulmfit import BBC_CLASSES, bbc_split, load_bbc

BROWN_GENRES = ("news", "romance", "learned", "hobbies")
CORPUS_SOURCES = ("wiki", "shakespeare", "factbook")


@dataclass(frozen=True)
class Task:
    """One downstream task: class names, a labelled training set and a held-out test set."""

    name: str
    classes: tuple[str, ...]
    train: TextSplit
    test: TextSplit
    about: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _pick(rng: np.random.Generator, items: Sequence, n: int) -> list:
    if n > len(items):
        raise InputError(f"asked for {n} items, only {len(items)} available")
    return [items[i] for i in np.sort(rng.permutation(len(items))[:n])]


def _split_from(per_class: Mapping[int, Sequence[str]]) -> TextSplit:
    texts = [t for c in sorted(per_class) for t in per_class[c]]
    labels = np.concatenate([np.full(len(per_class[c]), c, dtype=np.int64) for c in sorted(per_class)])
    return TextSplit(texts, labels)


def polarity_task(n_train: int = 240, n_test: int = 400, seed: int = 0) -> Task:
    """Pang & Lee sentence polarity: ``polarity_train(n_train)`` and a stratified subset of the
    fixed test set (lessons 05-06 use the same sentences)."""
    return Task("polarity", tuple(POLARITY_CLASSES), polarity_train(n_train), subset(polarity_test(), n_test, seed),
                "movie-review sentences: positive or negative (Pang & Lee)")


def bbc_task(per_class_train: int = 40, words: int = 40) -> Task:
    """BBC News topics (5 classes): each article's first ``words`` words (title and lead), the
    labelled subset ``bbc_split(5 * per_class_train)`` for training and its fixed test set
    (60 per class, lesson 04's). The corpus holds some articles twice; training articles whose
    text is also in the test set are dropped, so a class may have a few fewer."""
    docs, labels = load_bbc()
    split = bbc_split(len(BBC_CLASSES) * per_class_train)

    def part(idx):
        return TextSplit([" ".join(docs[i][:words]) for i in idx], labels[idx].copy())

    test = part(split["test"])
    train = part(split["labelled"])
    keep = [i for i, text in enumerate(train.texts) if text not in set(test.texts)]  # the corpus repeats some articles
    return Task("BBC topic", tuple(BBC_CLASSES), TextSplit([train.texts[i] for i in keep], train.labels[keep]), test,
                f"the first {words} words of a BBC News article: one of 5 topics")


def brown_genre_task(genres: Sequence[str] = BROWN_GENRES, per_class_train: int = 60, per_class_test: int = 100,
                     min_words: int = 10, seed: int = 0) -> Task:
    """Which Brown-corpus genre a single sentence comes from. Training sentences come from the
    files of the corpus's ``train`` split, test sentences from the ``valid`` and ``test`` files
    (no file is in both); sentences shorter than ``min_words`` words are skipped."""
    rng = np.random.default_rng(seed)
    train, test = {}, {}
    for c, genre in enumerate(genres):
        def texts(splits, genre=genre):
            return [" ".join(w for w, _ in s) for sp in splits for s in load_brown_tagged(sp, [genre]) if len(s) >= min_words]

        train[c] = _pick(rng, texts(["train"]), per_class_train)
        test[c] = _pick(rng, texts(["valid", "test"]), per_class_test)
    return Task("Brown genre", tuple(genres), _split_from(train), _split_from(test),
                f"one sentence of the Brown corpus: which of {len(genres)} genres")


def corpus_source_task(sources: Sequence[str] = CORPUS_SOURCES, per_class_train: int = 40, per_class_test: int = 60,
                       min_words: int = 8, seed: int = 0) -> Task:
    """Which source of the course corpus a sentence comes from (train split for training, test
    split for testing: different documents). Used by the exercises as a new task."""
    rng = np.random.default_rng(seed)
    train, test = {}, {}
    for c, source in enumerate(sources):
        def texts(split, source=source):
            return [" ".join(s) for s in load_corpus(split, [source]) if len(s) >= min_words]

        train[c] = _pick(rng, texts("train"), per_class_train)
        test[c] = _pick(rng, texts("test"), per_class_test)
    return Task("corpus source", tuple(sources), _split_from(train), _split_from(test),
                f"one sentence of the course corpus: which of {len(sources)} sources")


def lesson_tasks() -> dict[str, Task]:
    """The lesson's three tasks at their default sizes, by name."""
    tasks = [polarity_task(), bbc_task(), brown_genre_task()]
    return {t.name: t for t in tasks}

