"""Adapting the one frozen base to a task (lesson 09): linear probes on cached features
(:func:`choose_weight_decay`, :func:`label_curve`) and a small LoRA per task on a copy of the
base, its head started from the task's probe (:func:`lora_model`, :func:`train_lora`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from course_lib.models import MeanPoolClassifier
from course_lib.peft import inject_lora, probe_into_head
from course_lib.seed import seed_everything
from course_lib.textdata import batches, reshuffled
from course_lib.training import accuracy, fit, fit_linear_probe, predict, train_only

WEIGHT_DECAYS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


def choose_weight_decay(features: torch.Tensor, labels, grid: Sequence[float] = WEIGHT_DECAYS, folds: int = 4,
                        seed: int = 0) -> tuple[float, dict[float, float]]:
    """The probe's weight decay with the best mean accuracy in ``folds``-fold cross-validation on
    the training features alone (never the test set); returns (best, {decay: accuracy})."""
    labels = torch.as_tensor(np.asarray(labels))
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    parts = order.chunk(folds)
    scores = {}
    for wd in grid:
        accs = []
        for k in range(folds):
            held = parts[k]
            kept = torch.cat([p for j, p in enumerate(parts) if j != k])
            probe = fit_linear_probe(features[kept], labels[kept], num_classes=int(labels.max()) + 1, weight_decay=wd)
            with torch.no_grad():
                accs.append(accuracy(probe(features[held]), labels[held]))
        scores[wd] = float(np.mean(accs))
    best = max(grid, key=lambda wd: (scores[wd], wd))  # ties: the stronger regularisation
    return best, scores


def label_curve(train_feats: torch.Tensor, train_labels, test_feats: torch.Tensor, test_labels,
                ks: Sequence[int], weight_decay: float, draws: int = 3, seed: int = 0) -> dict[int, float]:
    """Test accuracy of probes fit on ``k`` labelled examples per class (k in ``ks``), averaged
    over ``draws`` random draws of the examples (one draw when k is all of them)."""
    train_labels = np.asarray(train_labels)
    test_labels = torch.as_tensor(np.asarray(test_labels))
    classes = np.unique(train_labels)
    rng = np.random.default_rng(seed)
    out = {}
    for k in ks:
        full = all(k >= (train_labels == c).sum() for c in classes)
        accs = []
        for _ in range(1 if full else draws):
            idx = np.concatenate([rng.permutation(np.flatnonzero(train_labels == c))[:k] for c in classes])
            probe = fit_linear_probe(train_feats[idx], torch.as_tensor(train_labels[idx]), num_classes=len(classes),
                                     weight_decay=weight_decay)
            with torch.no_grad():
                accs.append(accuracy(probe(test_feats), test_labels))
        out[int(k)] = float(np.mean(accs))
    return out


# ---------------------------------------------------------------- LoRA per task


def lora_model(encoder: nn.Module, num_labels: int, probe: nn.Module | None = None, r: int = 4, alpha: float = 8.0,
               seed: int = 0) -> MeanPoolClassifier:
    """A deep copy of ``encoder`` with LoRA (rank ``r``) on query and value, mean pooling and a
    linear head; only A, B and the head train. With ``probe`` (from ``fit_linear_probe``) the
    head starts as that probe (linear probing, then fine-tuning), so the model starts where the
    probe ends. ``encoder`` itself is never changed."""
    model = MeanPoolClassifier(copy.deepcopy(encoder), num_labels=num_labels, seed=seed)
    inject_lora(model.encoder, r=r, alpha=alpha, seed=seed)
    train_only(model, [".A", ".B", "head."])
    if probe is not None:
        probe_into_head(probe, model.head)
    return model


def train_lora(model: nn.Module, enc: dict[str, torch.Tensor], labels, epochs: int = 3, lr: float = 5e-4,
               batch_size: int = 16, seed: int = 0, desc: str = "LoRA", progress: bool = True):
    """Train ``model`` (from :func:`lora_model`) with the course's fit loop (AdamW, constant
    ``lr``), re-shuffling each epoch; returns the :class:`course_lib.training.History`."""
    seed_everything(seed)
    loader = reshuffled(enc, labels, batch_size, seed=seed)
    return fit(model, loader, epochs=epochs, lr=lr, progress=progress, desc=desc)


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The task-specific part of a trained model: a copy of every trainable tensor (LoRA's A and
    B, the head), by parameter name. This is all a task adds to the shared base."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@torch.no_grad()
def logits_of(model: nn.Module, enc: dict[str, torch.Tensor], batch_size: int = 64) -> torch.Tensor:
    """Logits of a :class:`course_lib.models.MeanPoolClassifier` over an encoded set (eval mode)."""
    return predict(model, batches(enc, torch.zeros(len(enc["input_ids"]), dtype=torch.long), batch_size))

