"""Lesson 01's inputs and feature extraction: EfficientNet inputs, the seeded augmenting loader,
cached frozen features, and the float64 linear probe on them."""

from __future__ import annotations

import math

import numpy as np
import torch
import torchvision.transforms.functional as TF
from torch import nn
from tqdm.auto import tqdm

from course_lib import cache
from course_lib import data as cdata
from course_lib.device import model_device
from course_lib.errors import InputError
from course_lib.training import accuracy
from course_lib.vision.blocks import DEFAULT_SIZE, NUM_CLASSES

# --------------------------------------------------------------------- inputs and features


def efficientnet_inputs(images: np.ndarray, size: int = DEFAULT_SIZE) -> torch.Tensor:
    """Animal-MNIST uint8 images (N x 28 x 28) -> EfficientNet-Lite input N x 3 x size x size in [-1, 1]."""
    return cdata.to_tensor_images(images, size=size) * 2 - 1


FEATURES = cache.Memo()  # pooled features by (tag, size, digest of the images), for the kernel's life


@torch.no_grad()
def extract_features(
    model: nn.Module,
    images: np.ndarray,
    size: int = DEFAULT_SIZE,
    batch_size: int = 250,
    tag: str = "efficientnet-lite0-imagenet",
    progress: bool = True,
) -> torch.Tensor:
    """Pooled 1,280-d features of a frozen EfficientNet for uint8 images, cached per kernel.

    The cache key is (``tag``, size, a hash of the images): a second call with the same
    images is instant, which is what makes the probe slider fast.
    The images go to the model's device; the features come back on the CPU.
    """
    return FEATURES.get((tag, size, cache.digest(images)), lambda: _features(model, images, size, batch_size, progress))


@torch.no_grad()
def _features(model: nn.Module, images: np.ndarray, size: int, batch_size: int, progress: bool) -> torch.Tensor:
    device = model_device(model)
    was_training = model.training
    model.eval()
    out = []
    starts = range(0, len(images), batch_size)
    for i in tqdm(starts, desc=f"features {size}px", disable=not progress, leave=False):
        x = efficientnet_inputs(images[i : i + batch_size], size).to(device)
        out.append(model.extract_features(x).mean((2, 3)).cpu())
    model.train(was_training)
    return torch.cat(out)


def clear_feature_cache() -> None:
    """Forget every cached feature matrix."""
    FEATURES.clear()


def first_k_per_class(labels: np.ndarray, k: int) -> np.ndarray:
    """Indices of the first ``k`` rows of each class (nested: k=5 lies inside k=10)."""
    labels = np.asarray(labels)
    if not isinstance(k, int | np.integer) or k < 1:
        raise InputError(f"labels per class must be a positive integer, got {k!r}")
    classes = np.unique(labels)
    have = min(int((labels == c).sum()) for c in classes)
    if k > have:
        raise InputError(
            f"only {have} labelled images per class are available here; asked for {k}."
        )
    return np.sort(np.concatenate([np.flatnonzero(labels == c)[:k] for c in classes]))


PROBE_MAX_ITER = 100
"""LBFGS iterations of the lesson's linear probe (a fixed cap; see :func:`fit_probe`)."""


def fit_probe(
    features: torch.Tensor,
    labels,
    num_classes: int = NUM_CLASSES,
    weight_decay: float = 1e-3,
    max_iter: int = PROBE_MAX_ITER,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression on standardised features, in float64 on the CPU, with LBFGS.

    Minimises mean cross-entropy + ``weight_decay`` * ||W||^2 (strictly convex, so one optimum)
    with at most ``max_iter`` LBFGS iterations and tight tolerances. Float64 and a (nearly)
    converged, deterministic solve make the probe's predictions, and so its printed accuracy,
    far less sensitive to the machine and BLAS library than a float32 fit stopped early, which
    matters most when it is fitted on ten images. Returns ``(weight, bias, mean, std)``;
    :func:`probe_logits` applies them.
    """
    z_raw = torch.as_tensor(features).detach().to("cpu", torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long).cpu()
    if len(z_raw) == 0:
        raise InputError("the probe needs at least one training example")
    mean = z_raw.mean(0)
    std = z_raw.std(0).clamp_min(1e-6) if len(z_raw) > 1 else torch.ones_like(mean)
    z = (z_raw - mean) / std
    w = torch.zeros(num_classes, z.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-10, tolerance_change=1e-14,
        history_size=20, line_search_fn="strong_wolfe",
    )  # fmt: skip

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(z @ w.T + b, y) + weight_decay * w.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach(), b.detach(), mean, std


def probe_logits(probe: tuple[torch.Tensor, ...], features: torch.Tensor) -> torch.Tensor:
    """Logits (float64, CPU) of a probe from :func:`fit_probe` for raw features."""
    w, b, mean, std = probe
    z = (torch.as_tensor(features).detach().to("cpu", torch.float64) - mean) / std
    return z @ w.T + b


def probe_accuracy(
    train_features: torch.Tensor,
    train_labels: np.ndarray,
    test_features: torch.Tensor,
    test_labels: np.ndarray,
    k: int,
    weight_decay: float = 1e-3,
) -> float:
    """Fit a linear probe (:func:`fit_probe`) on the first ``k`` cached examples per class; return test accuracy."""
    idx = first_k_per_class(train_labels, k)
    probe = fit_probe(train_features[idx], np.asarray(train_labels)[idx], NUM_CLASSES, weight_decay)
    return accuracy(probe_logits(probe, test_features), test_labels)


# --------------------------------------------------------------------- training inputs


class AugmentedLoader:
    """Mini-batches of (image tensor, label) with random flips and small shifts, seeded.

    ``shift`` is the largest translation in pixels (at the tensor's resolution). Written by hand,
    not with ``torchvision.transforms``, because its flips and shifts are drawn per batch from its
    own seeded generator (torchvision's draw from the global RNG), which is what reproduces the
    lesson's committed curve (``data/lesson01``).
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int = 32,
        shift: int = 0,
        flip: bool = False,
        seed: int = 0,
    ):
        if len(x) == 0:
            raise InputError("no training images")
        self.x, self.y = x, torch.as_tensor(y)
        self.batch_size, self.shift, self.flip = batch_size, shift, flip
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        if self.flip:
            mask = torch.rand(len(x), generator=self.gen) < 0.5
            x = torch.where(mask[:, None, None, None], x.flip(-1), x)
        if self.shift:
            s = self.shift
            fill = float(x.min())
            padded = nn.functional.pad(x, (s, s, s, s), value=fill)
            dx, dy = torch.randint(0, 2 * s + 1, (2, len(x)), generator=self.gen)
            h, w = x.shape[-2:]
            x = torch.stack(
                [padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(len(x))]
            )
        return x

    def __iter__(self):
        order = torch.randperm(len(self.x), generator=self.gen)
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            yield self._augment(self.x[idx]), self.y[idx]


def small_cnn_inputs(images: np.ndarray) -> torch.Tensor:
    """uint8 N x 28 x 28 -> float N x 1 x 28 x 28, standardised to about zero mean."""
    return TF.normalize(cdata.to_tensor_images(images, size=28, channels=1), [0.25], [0.4])

