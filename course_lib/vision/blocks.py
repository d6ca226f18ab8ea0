"""Lesson 01's blocks of EfficientNet-Lite0: which block a parameter is in, freezing by block,
per-block parameter counts, a fresh classifier, and per-block learning rates.

The network is EfficientNet-Lite0 (:func:`course_lib.models.load_efficientnet_lite0`). Its
parameters fall into ten *blocks*: ``stem``, ``stage1`` .. ``stage7``, ``head`` (the last
1x1 convolution and its batch norm) and ``classifier`` (the linear layer on top).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from course_lib import data as cdata
from course_lib import models
from course_lib.errors import InputError
from course_lib.schedules import layer_rates
from course_lib.training import train_only

BLOCKS: list[str] = list(models.EFFICIENTNET_STAGES) + ["classifier"]
"""The ten blocks of EfficientNet-Lite0, input to output."""

BACKBONE_BLOCKS: list[str] = BLOCKS[:-1]
NUM_CLASSES = len(cdata.ANIMAL_CLASSES)
DEFAULT_SIZE = 96  # pixels: Animal-MNIST's 28 x 28 silhouettes are resized to this


# --------------------------------------------------------------------- blocks and freezing


def block_of(param_name: str) -> str:
    """The block (one of :data:`BLOCKS`) a parameter of EfficientNet-Lite0 belongs to."""
    block = models.efficientnet_stage_of(param_name)
    if block not in BLOCKS:
        raise InputError(f"parameter {param_name!r} is in no known block of EfficientNet-Lite0")
    return block


def _check_blocks(blocks: Iterable[str]) -> list[str]:
    """``blocks`` as a list, after checking that each is one of :data:`BLOCKS`."""
    blocks = list(blocks)
    unknown = [b for b in blocks if b not in BLOCKS]
    if unknown:
        raise InputError(f"unknown block(s) {unknown}; the blocks are {BLOCKS}")
    return blocks


def train_blocks(model: nn.Module, blocks: Iterable[str]) -> int:
    """Exactly the named blocks train, every other one is frozen (``training.train_only`` by
    block); return the trainable count."""
    keep = set(_check_blocks(blocks))
    return train_only(model, lambda name: block_of(name) in keep)


def freeze_all_but_classifier(model: nn.Module) -> int:
    """Feature extraction: only the final linear layer trains. Returns the trainable count."""
    return train_blocks(model, ["classifier"])


def top_blocks(n: int) -> list[str]:
    """The classifier plus the ``n - 1`` blocks just below it (``top_blocks(1) == ['classifier']``)."""
    if not 1 <= n <= len(BLOCKS):
        raise InputError(f"n must be between 1 and {len(BLOCKS)}, got {n}")
    return BLOCKS[len(BLOCKS) - n :]


@dataclass
class ParamSummary:
    """Trainable and total parameters, overall and per block."""

    trainable: int
    total: int
    per_block: dict[str, tuple[int, int]]  # block -> (trainable, total)

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / self.total if self.total else 0.0

    def line(self) -> str:
        return f"trainable: {self.trainable:,} of {self.total:,} parameters ({self.percent:.2f} %)"


def parameter_summary(model: nn.Module) -> ParamSummary:
    """Count trainable and total parameters per block."""
    per = {b: [0, 0] for b in BLOCKS}
    for name, p in model.named_parameters():
        b = block_of(name)
        per[b][1] += p.numel()
        if p.requires_grad:
            per[b][0] += p.numel()
    trainable = sum(v[0] for v in per.values())
    total = sum(v[1] for v in per.values())
    return ParamSummary(trainable, total, {b: (v[0], v[1]) for b, v in per.items()})


def replace_classifier(model: nn.Module, num_classes: int, seed: int = 0) -> nn.Linear:
    """Swap EfficientNet's ImageNet classifier (1280 -> 1000) for a fresh ``1280 -> num_classes``."""
    if num_classes < 2:
        raise InputError(f"a classifier needs at least 2 classes, got {num_classes}")
    gen = torch.Generator().manual_seed(seed)
    old = model._fc
    new = nn.Linear(old.in_features, num_classes)
    with torch.no_grad():
        bound = 1 / math.sqrt(old.in_features)
        new.weight.uniform_(-bound, bound, generator=gen)
        new.bias.zero_()
    model._fc = new
    return new


def parameter_groups(
    model: nn.Module,
    head_lr: float,
    backbone_lr: float,
    factor: float = 1.0,
    weight_decay: float = 0.0,
) -> list[dict]:
    """Discriminative learning rates: one optimizer group per block that has trainable parameters.

    The classifier gets ``head_lr``; the backbone block just below it gets ``backbone_lr``,
    and each block further down the rate of the block above divided by ``factor``
    (``schedules.layer_rates``; ``factor=1``: all backbone blocks share ``backbone_lr``; ULMFiT
    used 2.6). Frozen blocks are left out.
    """
    if head_lr <= 0 or backbone_lr <= 0:
        raise InputError("learning rates must be positive")
    if not factor >= 1:
        raise InputError(f"factor must be at least 1, got {factor}")
    rates = dict(zip(BACKBONE_BLOCKS, layer_rates(backbone_lr, len(BACKBONE_BLOCKS), factor), strict=True))
    rates["classifier"] = head_lr
    by_block: dict[str, list[nn.Parameter]] = {b: [] for b in BLOCKS}
    for name, p in model.named_parameters():
        if p.requires_grad:
            by_block[block_of(name)].append(p)
    groups = [
        {"params": by_block[block], "lr": rates[block], "name": block, "weight_decay": weight_decay}
        for block in reversed(BLOCKS)
        if by_block[block]
    ]
    if not groups:
        raise InputError(
            "Every block is frozen: there is nothing to train. Unfreeze at least one block."
        )
    return groups
