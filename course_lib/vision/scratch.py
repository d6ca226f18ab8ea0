"""Lesson 01's baselines from scratch, trained fairly: a validation split for choosing a learning
rate, EfficientNet-Lite0 from random init with its own recipe, and a small CNN."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib import data as cdata
from course_lib import training
from course_lib.device import model_device
from course_lib.errors import InputError
from course_lib.training import count_parameters, evaluate, fit
from course_lib.vision.blocks import DEFAULT_SIZE, NUM_CLASSES
from course_lib.vision.features import AugmentedLoader, efficientnet_inputs, small_cnn_inputs
from course_lib.vision.finetune import RunResult, epochs_for, finetune_efficientnet, steps_budget

# --------------------------------------------------------------------- from scratch, fairly


def validation_split(train: cdata.Split, per_class: int = 20, seed: int = 0) -> cdata.Split:
    """``per_class`` images per class from the training pool that are *not* in ``train``.

    For choosing hyperparameters (a learning rate) without touching the test set: the pool is
    everything outside the fixed test set; the images of ``train`` (a k-subset) are removed,
    and a seeded draw of the rest is returned.
    """
    pool = cdata.animal_train_subset(cdata.max_train_per_class(), seed=0)  # the whole pool
    taken = {bytes(np.ascontiguousarray(im)) for im in train.images}
    free = np.array([bytes(np.ascontiguousarray(im)) not in taken for im in pool.images])
    rng = np.random.default_rng(10_000 + seed)
    idx = []
    for c in range(NUM_CLASSES):
        cand = np.flatnonzero(free & (pool.labels == c))
        if len(cand) < per_class:
            raise InputError(f"only {len(cand)} pool images of class {c} are left for validation")
        idx.append(rng.permutation(cand)[:per_class])
    idx = np.sort(np.concatenate(idx))
    return cdata.Split(pool.images[idx], pool.labels[idx])


SCRATCH_RECIPE: dict = {
    "schedule": "onecycle",
    "keep_bn_eval": False,
    "reestimate_bn": True,
}
"""How :func:`train_from_scratch` differs from fine-tuning, besides one learning rate everywhere."""


def train_from_scratch(
    train: cdata.Split,
    test_x: torch.Tensor,
    test_y,
    *,
    lr: float = 3e-3,
    epochs: int = 6,
    min_steps: int = 30,
    batch_size: int = 32,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    device: torch.device | str = "cpu",
    name: str = "random init",
    progress: bool = True,
) -> tuple[nn.Module, RunResult]:
    """EfficientNet-Lite0 from random init with a recipe that suits training from scratch.

    Every block trains at one learning rate ``lr`` (a random backbone has nothing to
    protect), with a one-cycle schedule (warm-up, then decay); batch norm stays in train
    mode (there are no useful running statistics to keep), and its running statistics are
    re-estimated on the training images before evaluation (:func:`reestimate_batchnorm`).
    The step budget is the fine-tuning one (:func:`steps_budget` with the same defaults),
    so the two compare at equal steps. Choose ``lr`` with :func:`choose_lr`.
    """
    return finetune_efficientnet(
        train, test_x, test_y, pretrained=False, head_lr=lr, backbone_lr=lr, epochs=epochs,
        min_steps=min_steps, batch_size=batch_size, size=size, seed=seed, device=device, name=name,
        progress=progress, **SCRATCH_RECIPE,
    )  # fmt: skip


def choose_lr(
    train: cdata.Split,
    val: cdata.Split,
    lrs: Sequence[float],
    train_fn: Callable[..., tuple[nn.Module, RunResult]] = train_from_scratch,
    size: int = DEFAULT_SIZE,
    **kwargs,
) -> tuple[float, dict[float, float], nn.Module]:
    """Train once per learning rate and score each on the validation split ``val``.

    Returns ``(best lr, {lr: validation accuracy}, the model trained at the best lr)``; ties
    go to the smaller rate. The test set is never used.
    """
    vx = efficientnet_inputs(val.images, size)
    trained = {}

    def score(lr: float) -> float:
        trained[lr], res = train_fn(train, vx, val.labels, lr=lr, size=size, **kwargs)
        return res.test_acc

    best, scores = training.choose_lr(lrs, score)
    return best, scores, trained[best]


# --------------------------------------------------------------------- small CNN from scratch


class SmallCNN(nn.Module):
    """Three conv blocks (conv-BN-ReLU x2, max-pool) and a linear layer: about 73k parameters.

    Built for 28 x 28 one-channel silhouettes: a strong, cheap baseline from scratch.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 32):
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.MaxPool2d(2),
            )  # fmt: skip

        w = width
        self.features = nn.Sequential(block(1, w // 2), block(w // 2, w), block(w, 2 * w))
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(2 * w, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))



def train_small_cnn(
    train: cdata.Split,
    test_x: torch.Tensor,
    test_y,
    *,
    epochs: int = 30,
    min_steps: int = 150,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[nn.Module, RunResult]:
    """Train :class:`SmallCNN` (73k parameters) from random init (AdamW + OneCycle, flips and 2-px shifts)."""
    torch.manual_seed(seed)
    model = SmallCNN()
    x = small_cnn_inputs(train.images)
    loader = AugmentedLoader(x, train.labels, batch_size, shift=2, flip=True, seed=seed)
    steps = steps_budget(len(x), batch_size, epochs, min_steps)
    n_epochs = epochs_for(steps, len(loader))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=n_epochs * len(loader))
    t0 = time.perf_counter()
    hist = fit(model, loader, None, epochs=n_epochs, optimizer=opt, scheduler=sched, device=device,
               progress=progress, desc="small CNN")  # fmt: skip
    _, acc = evaluate(model, DataLoader(TensorDataset(test_x, torch.as_tensor(test_y)), batch_size=500), model_device(model))
    hist.val_acc.append(acc)
    cfg = dict(epochs=n_epochs, batch_size=batch_size, lr=lr, seed=seed, n_train=len(x))
    return model, RunResult(
        "small CNN", acc, hist, time.perf_counter() - t0, count_parameters(model), cfg
    )

