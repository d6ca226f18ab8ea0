"""The image-caption pairs of lesson 08 and their split: whole concepts held out of training,
and caption-unique pairs kept for retrieval."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from course_lib import assets

PAIRS_ASSET = "lesson08-clip-pairs"
SPLIT_SEED = 8
N_RETRIEVAL_TEST = 250

# Concepts held out of training: no training caption contains any of these words (the class
# word itself, its plural and close synonyms). Test images are those whose caption names exactly
# one held-out concept.
HELDOUT_CONCEPTS: dict[str, tuple[str, ...]] = {
    "cat": ("cat", "cats", "kitten", "kittens", "kitty"),
    "dog": ("dog", "dogs", "puppy", "puppies"),
    "apple": ("apple", "apples"),
    "clock": ("clock", "clocks", "oclock"),
    "tree": ("tree", "trees"),
    "car": ("car", "cars", "automobile", "automobiles"),
    "cake": ("cake", "cakes", "cupcake", "cupcakes"),
    "book": ("book", "books"),
    "moon": ("moon", "moons"),
    "flower": ("flower", "flowers"),
    "phone": ("phone", "phones", "telephone", "telephones"),
    "hat": ("hat", "hats"),
    "camera": ("camera", "cameras"),
    "globe": ("globe", "globes"),
    "airplane": ("airplane", "airplanes", "aeroplane", "plane", "planes"),
}


# ---------------------------------------------------------------- pairs and splits


@dataclass(frozen=True)
class Pairs:
    """Image-caption pairs: images N x 48 x 48 x 3 (uint8, on white) and one caption each."""

    images: np.ndarray
    captions: list[str]
    sources: list[str]

    def __len__(self) -> int:
        return len(self.captions)

    def subset(self, idx: Sequence[int] | np.ndarray) -> Pairs:
        idx = np.asarray(idx, dtype=int)
        return Pairs(self.images[idx], [self.captions[i] for i in idx], [self.sources[i] for i in idx])


@lru_cache(maxsize=1)
def load_pairs() -> Pairs:
    """All committed pairs (emoji + openclipart), verified against the data manifest."""
    folder = assets.path(PAIRS_ASSET).parent
    images = np.load(folder / "pairs.npz")["images"]
    meta = json.loads((folder / "pairs.json").read_text())
    images.setflags(write=False)
    return Pairs(images, meta["caption"], meta["source"])


def caption_words(caption: str) -> set[str]:
    """The lower-case alphabetic words of a caption ("bus1 bw" -> {"bus", "bw"})."""
    return set(re.findall(r"[a-z]+", caption.lower()))


def concepts_in(caption: str, concepts: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    """Which held-out concepts a caption mentions (by any of their words)."""
    concepts = HELDOUT_CONCEPTS if concepts is None else concepts
    words = caption_words(caption)
    return [c for c, forms in concepts.items() if words & set(forms)]


@dataclass(frozen=True)
class PairSplit:
    """Indices into :func:`load_pairs`: training pairs, held-out-concept images, retrieval test pairs."""

    train: np.ndarray
    concept_test: np.ndarray
    concept_labels: np.ndarray  # index into concept_names
    concept_names: list[str]
    retrieval_test: np.ndarray


def make_split(captions: Sequence[str], concepts: dict[str, tuple[str, ...]] | None = None,
               n_retrieval: int = N_RETRIEVAL_TEST, seed: int = SPLIT_SEED) -> PairSplit:
    """Hold out whole concepts, then a random set of caption-unique pairs for retrieval.

    Any pair whose caption mentions a held-out concept is removed from training; those that
    mention exactly one concept become its test images. Retrieval pairs have a caption used
    once in the whole set, so their caption never appears in training.
    """
    concepts = HELDOUT_CONCEPTS if concepts is None else concepts
    names = list(concepts)
    mentions = [concepts_in(c, concepts) for c in captions]
    test_idx = [i for i, m in enumerate(mentions) if len(m) == 1]
    labels = [names.index(mentions[i][0]) for i in test_idx]
    free = [i for i, m in enumerate(mentions) if not m]
    counts: dict[str, int] = {}
    for c in captions:
        counts[c] = counts.get(c, 0) + 1
    unique = [i for i in free if counts[captions[i]] == 1]
    rng = np.random.default_rng(seed)
    retrieval = np.sort(rng.choice(unique, size=min(n_retrieval, len(unique)), replace=False))
    train = np.setdiff1d(np.asarray(free), retrieval)
    return PairSplit(train, np.asarray(test_idx), np.asarray(labels), names, retrieval)
