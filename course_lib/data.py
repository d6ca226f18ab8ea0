"""Data sets for the vision lessons, with fixed, seeded, stratified splits.

Animal-MNIST: 10,000 silhouettes (28 x 28, uint8), 1,000 per class, of which 284
images appear twice (same label). The course drops the second copies (9,716 remain), so
that no test image is also a training image. It fixes one test set of ``TEST_PER_CLASS`` images per class for every lesson; the
rest is the training pool, from which ``k_per_class`` draws nested subsets
(the 5 images of k=5 are among the 10 of k=10), so curves over k are smooth.
"""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from course_lib import assets
from course_lib.errors import InputError

ANIMAL_CLASSES = ["bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra"]
TEST_PER_CLASS = 200
SPLIT_SEED = 1234


@dataclass(frozen=True)
class Split:
    """Images (N x 28 x 28 uint8) and integer labels."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(ANIMAL_CLASSES))


@lru_cache(maxsize=1)
def load_animal_mnist(deduplicate: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Animal-MNIST images and labels from the verified package files.

    With ``deduplicate`` (the default, used by every split) exact duplicate images are
    dropped, keeping the first copy: 9,716 images remain.
    """
    data_path = assets.path("animal-mnist-images")
    label_path = assets.path("animal-mnist-labels")
    with gzip.open(data_path, "rb") as f:
        images = np.asarray(pickle.load(f), dtype=np.uint8)  # checksum verified above
    with gzip.open(label_path, "rb") as f:
        labels = np.asarray(pickle.load(f)).astype(np.int64)
    if deduplicate:
        _, first = np.unique(images.reshape(len(images), -1), axis=0, return_index=True)
        keep = np.sort(first)
        images, labels = images[keep], labels[keep]
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _stratified_order(labels: np.ndarray, seed: int) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {c: rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)}


@lru_cache(maxsize=1)
def _split_indices() -> tuple[np.ndarray, dict[int, np.ndarray]]:
    _, labels = load_animal_mnist()
    order = _stratified_order(labels, SPLIT_SEED)
    test = np.sort(np.concatenate([idx[:TEST_PER_CLASS] for idx in order.values()]))
    pool = {c: idx[TEST_PER_CLASS:] for c, idx in order.items()}
    return test, pool


def animal_test_set(per_class: int | None = None) -> Split:
    """The fixed test set (200 per class), or its first ``per_class`` images of each class."""
    images, labels = load_animal_mnist()
    test, _ = _split_indices()
    if per_class is not None:
        if not 1 <= per_class <= TEST_PER_CLASS:
            raise InputError(f"per_class must be between 1 and {TEST_PER_CLASS}, got {per_class}")
        keep = np.concatenate([test[labels[test] == c][:per_class] for c in range(len(ANIMAL_CLASSES))])
        test = np.sort(keep)
    return Split(images[test], labels[test])


def max_train_per_class() -> int:
    """How many training images every class has in the pool (the smallest class's count)."""
    _, pool = _split_indices()
    return min(len(v) for v in pool.values())


def animal_train_subset(k: int, seed: int = 0) -> Split:
    """k labelled training images per class, drawn from the pool (never from the test set).

    Subsets are nested for a fixed seed: k=5 is contained in k=10.
    """
    limit = max_train_per_class()
    if not isinstance(k, int | np.integer) or k < 1:
        raise InputError(f"k (labels per class) must be a positive integer, got {k!r}")
    if k > limit:
        raise InputError(f"Animal-MNIST has only {limit} training images per class; asked for k={k}.")
    images, labels = load_animal_mnist()
    _, pool = _split_indices()
    rng = np.random.default_rng(seed)
    idx = np.sort(np.concatenate([rng.permutation(pool[c])[:k] if seed else pool[c][:k] for c in sorted(pool)]))
    return Split(images[idx], labels[idx])


def to_tensor_images(images: np.ndarray, size: int = 64, channels: int = 3, invert: bool = False) -> torch.Tensor:
    """uint8 N x H x W -> float N x C x size x size in [0, 1] (bilinear resize)."""
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32) / 255.0
    if invert:
        x = 1.0 - x
    x = x.unsqueeze(1)
    if x.shape[-1] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.expand(-1, channels, -1, -1).contiguous()


SKIMAGE_PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "camera", "coins", "horse"]


# name -> (file in the "skimage-photos" asset, read as grey, then as a boolean mask), as skimage.data reads it
SKIMAGE_FILES = {
    "astronaut": ("astronaut.png", False, False), "brick": ("brick.png", True, False),
    "camera": ("camera.png", False, False), "checkerboard": ("chessboard_GRAY.png", False, False),
    "chelsea": ("chelsea.png", False, False), "clock": ("clock_motion.png", False, False),
    "coffee": ("coffee.png", False, False), "coins": ("coins.png", False, False),
    "grass": ("grass.png", True, False), "horse": ("horse.png", True, True),
    "moon": ("moon.png", False, False), "rocket": ("rocket.jpg", False, False),
}  # fmt: skip


def skimage_photos(names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Sample photos shipped inside scikit-image (RGB uint8 arrays), by name.

    The files are checked by the asset registry (``"skimage-photos"``) and read from
    scikit-image's package folder as ``skimage.data`` would read them (the same arrays),
    without its fallback of downloading a missing file.
    """
    try:
        from skimage import img_as_bool
        from skimage.io import imread
    except ImportError as e:  # pragma: no cover - skimage is a dependency
        raise assets.missing_package("scikit-image") from e
    names = list(names or SKIMAGE_PHOTOS)
    unknown = [n for n in names if n not in SKIMAGE_FILES]
    if unknown:
        raise InputError(f"scikit-image has no sample photo called {unknown[0]!r} in the course (known: {', '.join(sorted(SKIMAGE_FILES))})")
    folder = assets.path("skimage-photos")
    out = {}
    for name in names:
        file, as_gray, as_bool = SKIMAGE_FILES[name]
        img = imread(str(folder / file), as_gray=as_gray)
        img = np.asarray(img_as_bool(img) if as_bool else img)
        if img.dtype == bool:
            img = (~img).astype(np.uint8) * 255
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        out[name] = img[..., :3].astype(np.uint8)
    return out
