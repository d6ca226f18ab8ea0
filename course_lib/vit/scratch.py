"""Lesson 07's small ViT for 28 x 28 grey images, trained from scratch."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from course_lib.training import evaluate, fit
from course_lib.vit.inputs import patchify


class SmallViT(nn.Module):
    """A ViT for 28 x 28 grey images: 4 x 4 patches (49 tokens), CLS token, learned positions,
    pre-norm transformer blocks, a linear head on the final CLS token."""

    def __init__(self, num_classes: int = 10, dim: int = 64, depth: int = 4, heads: int = 4, patch: int = 4, size: int = 28):
        super().__init__()
        self.patch = patch
        self.embed = nn.Linear(patch * patch, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, 1 + (size // patch) ** 2, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=2 * dim, dropout=0.1, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(patchify(x, self.patch))
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1) + self.pos
        return self.head(self.norm(self.blocks(tokens))[:, 0])


class _Shifted(torch.utils.data.Dataset):
    """Grey images in [0, 1] with random flips and shifts of up to 2 pixels (training only).

    Written by hand, not with ``torchvision.transforms``: the shift is circular (``torch.roll``,
    where ``RandomAffine`` pads with zeros), and this order of draws from the global RNG is what
    made the lesson's committed results (``data/lesson07``).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, augment: bool):
        self.x, self.y, self.augment = x, y, augment

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        x = self.x[i]
        if self.augment:
            if torch.rand(()) < 0.5:
                x = x.flip(-1)
            dx, dy = torch.randint(-2, 3, (2,)).tolist()
            x = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
        return x, self.y[i]


def train_small_vit(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    epochs: int = 30,
    seed: int = 0,
    lr: float = 2e-3,
    progress: bool = True,
):
    """Train :class:`SmallViT` from random init; return (model, history, test accuracy)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    xtr = torch.as_tensor(np.asarray(train_images), dtype=torch.float32).unsqueeze(1) / 255.0
    xte = torch.as_tensor(np.asarray(test_images), dtype=torch.float32).unsqueeze(1) / 255.0
    ytr, yte = torch.as_tensor(np.asarray(train_labels)), torch.as_tensor(np.asarray(test_labels))
    train = torch.utils.data.DataLoader(_Shifted(xtr, ytr, True), batch_size=64, shuffle=True, generator=g)
    test = torch.utils.data.DataLoader(_Shifted(xte, yte, False), batch_size=500)
    model = SmallViT()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * len(train))
    history = fit(model, train, epochs=epochs, optimizer=opt, scheduler=sched, progress=progress, desc="ViT from scratch")
    _, acc = evaluate(model, test)
    return model, history, acc


