"""A small, readable training loop with a progress bar and a history; evaluation helpers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.device import model_device
from course_lib.errors import InputError


@dataclass
class History:
    """Per-epoch metrics of one training run."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, list[float]]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, list)}

    @property
    def best_val_acc(self) -> float:
        return max(self.val_acc) if self.val_acc else float("nan")


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def trainable_fraction(model: nn.Module) -> float:
    """Trainable parameters as a fraction of all parameters (0..1)."""
    total = count_parameters(model, trainable_only=False)
    return count_parameters(model) / total if total else 0.0


def choose_lr(lrs: Iterable[float], score: Callable[[float], float]) -> tuple[float, dict[float, float]]:
    """The course's one rule for choosing a learning rate: ``score(lr)`` (a validation accuracy,
    never a test one) for every rate in ascending order; the best wins, ties go to the smaller
    rate. Returns ``(best, {lr: score})``."""
    rates = sorted(lrs)
    if not rates:
        raise InputError("choose_lr needs at least one learning rate")
    scores = {lr: float(score(lr)) for lr in rates}
    return max(scores, key=lambda lr: (scores[lr], -lr)), scores


# ---------------------------------------------------------------- freezing


def set_requires_grad(modules: nn.Module | Iterable[nn.Module], trainable: bool) -> None:
    """Unfreeze (``True``) or freeze (``False``) every parameter of a module or of several."""
    for module in [modules] if isinstance(modules, nn.Module) else modules:
        for p in module.parameters():
            p.requires_grad_(trainable)


def is_trainable(module: nn.Module) -> bool:
    """True when every parameter of ``module`` is trainable."""
    return all(p.requires_grad for p in module.parameters())


def train_only(model: nn.Module, keep: Callable[[str], bool] | Iterable[str]) -> int:
    """The course's one freezing rule: exactly the parameters that ``keep`` selects train, every
    other one is frozen. ``keep`` is a test on the parameter's name, or substrings of which a
    name must contain one. Returns the number of trainable parameters."""
    if not callable(keep):
        parts = list(keep)
        if isinstance(keep, str):
            raise InputError(f"keep must be a list of name parts, got the string {keep!r}")

        def keep(name: str) -> bool:
            return any(k in name for k in parts)

    for name, p in model.named_parameters():
        p.requires_grad_(bool(keep(name)))
    return count_parameters(model)


def _move(batch, device: torch.device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _move(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(_move(b, device) for b in batch)
    return batch


def _split(batch) -> tuple[object, torch.Tensor]:
    """A batch is (inputs, labels) or a dict with a 'labels' key."""
    if isinstance(batch, dict):
        batch = dict(batch)
        labels = batch.pop("labels")
        return batch, labels
    x, y = batch
    return x, y


def _forward(model: nn.Module, x) -> torch.Tensor:
    out = model(**x) if isinstance(x, dict) else model(x)
    return out.logits if hasattr(out, "logits") else out


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: torch.device | str | None = None,
    loss_fn: Callable | None = None,
) -> tuple[float, float]:
    """Return (mean loss, accuracy) of a classifier over ``loader``.

    Batches are moved to ``device`` (by default the model's own device); the model stays where it is.
    """
    device = torch.device(device) if device is not None else model_device(model)
    loss_fn = loss_fn or nn.CrossEntropyLoss(reduction="sum")
    was_training = model.training
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    for batch in loader:
        x, y = _split(_move(batch, device))
        logits = _forward(model, x)
        loss_sum += float(loss_fn(logits, y))
        correct += int((logits.argmax(-1) == y).sum())
        total += len(y)
    model.train(was_training)
    if total == 0:
        raise InputError("evaluate() got an empty data loader")
    return loss_sum / total, correct / total


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable, device: torch.device | str | None = None) -> torch.Tensor:
    """Concatenated logits of ``model`` over ``loader`` (labels ignored), on the CPU."""
    device = torch.device(device) if device is not None else model_device(model)
    model.eval()
    outs = []
    for batch in loader:
        x, _ = _split(_move(batch, device))
        outs.append(_forward(model, x).cpu())
    return torch.cat(outs)


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None = None,
    *,
    epochs: int = 1,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    step_scheduler_per_batch: bool = True,
    device: torch.device | str | None = None,
    loss_fn: Callable | None = None,
    on_epoch_end: Callable[[int, History], None] | None = None,
    on_batch_end: Callable[[int, float], None] | None = None,
    before_step: Callable[[int], None] | None = None,
    clip_grad_norm: float | None = None,
    keep_bn_eval: bool = False,
    progress: bool = True,
    desc: str = "train",
) -> History:
    """Train a classifier for ``epochs`` epochs and return its :class:`History`.

    ``keep_bn_eval`` keeps batch-norm layers in eval mode while training (the
    fix for the small-data batch-norm trap, lesson 01). ``device``: the model is moved
    there and every batch follows it; by default the model stays on its own device.

    Hooks: ``before_step(step)`` runs before each batch's forward pass (``step`` counts from 0;
    e.g. gradual unfreezing), ``clip_grad_norm`` clips the gradients' total norm before each
    optimizer step, ``loss_fn(logits, labels)`` replaces cross-entropy, ``on_batch_end(step,
    loss)`` and ``on_epoch_end(epoch, history)`` report.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise InputError("Every parameter is frozen: there is nothing to train. Unfreeze something first.")
    if epochs < 1:
        raise InputError(f"epochs must be at least 1, got {epochs}")
    device = torch.device(device) if device is not None else model_device(model)
    model.to(device)
    optimizer = optimizer or torch.optim.AdamW(params, lr=lr)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    history = History()
    start = time.perf_counter()
    n_batches = len(train_loader) if hasattr(train_loader, "__len__") else None
    total = epochs * n_batches if n_batches else None
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=False, mininterval=1.0)
    step = 0
    for epoch in range(epochs):
        model.train()
        if keep_bn_eval:
            set_batchnorm_eval(model)
        running, seen = 0.0, 0
        for batch in train_loader:
            if before_step is not None:
                before_step(step)
            x, y = _split(_move(batch, device))
            logits = _forward(model, x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            optimizer.step()
            if scheduler is not None and step_scheduler_per_batch:
                scheduler.step()
            running += float(loss.detach()) * len(y)
            seen += len(y)
            step += 1
            if on_batch_end is not None:
                on_batch_end(step, float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}", refresh=False)
        if scheduler is not None and not step_scheduler_per_batch:
            scheduler.step()
        history.train_loss.append(running / max(seen, 1))
        history.lr.append(optimizer.param_groups[0]["lr"])
        if val_loader is not None:
            vl, va = evaluate(model, val_loader, device)
            history.val_loss.append(vl)
            history.val_acc.append(va)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
    bar.close()
    history.seconds = time.perf_counter() - start
    return history


def set_batchnorm_eval(model: nn.Module) -> int:
    """Put every batch-norm layer in eval mode (running statistics frozen); return how many."""
    n = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
            n += 1
    return n


def fit_linear_probe(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int | None = None,
    weight_decay: float = 1e-3,
    max_iter: int = 100,
    standardize: bool = True,
) -> nn.Module:
    """Fit a logistic-regression head on fixed features, full batch with LBFGS (fast).

    Returns a module mapping raw features to logits (the standardisation is built in). The
    fit runs in float64 on the features' device, so that it lands on the same optimum on
    every machine (a float32 LBFGS on a few images drifts in the last digits between BLAS
    builds); the returned head accepts float32 features and returns float32 logits.
    """
    if len(features) == 0:
        raise InputError("fit_linear_probe() needs at least one example")
    device = features.device
    x = features.detach().to(torch.float64)
    labels = torch.as_tensor(labels).to(device)
    num_classes = num_classes or int(labels.max()) + 1
    dim = x.shape[1]
    mean = x.mean(0) if standardize else torch.zeros(dim, dtype=torch.float64, device=device)
    if standardize and len(x) > 1:
        std = x.std(0).clamp_min(1e-6)
    else:
        std = torch.ones(dim, dtype=torch.float64, device=device)
    z = (x - mean) / std
    linear = nn.Linear(dim, num_classes, dtype=torch.float64, device=device)
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    opt = torch.optim.LBFGS(linear.parameters(), lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(linear(z), labels) + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return _StandardizedLinear(linear, mean, std)


class _StandardizedLinear(nn.Module):
    """A float64 linear head behind a fixed standardisation; float32 logits out."""

    def __init__(self, linear: nn.Linear, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.linear = linear
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x.to(self.mean.device, torch.float64) - self.mean) / self.std
        return self.linear(z).float()


@torch.no_grad()
def softmax_with_temperature(logits: torch.Tensor | np.ndarray, temperature: float = 1.0) -> torch.Tensor:
    """softmax(logits / temperature) over the last axis (a higher temperature flattens it).

    A tensor keeps its dtype; a NumPy array becomes a float64 tensor."""
    if temperature <= 0:
        raise InputError(f"temperature must be positive, got {temperature}")
    z = logits if isinstance(logits, torch.Tensor) else torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    return torch.softmax(z / temperature, dim=-1)


def accuracy(scores: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray) -> float:
    """The course's one accuracy: the fraction of examples whose predicted class equals the label.

    ``scores`` are either one score per class (``[N, C]`` logits or probabilities: the arg-max
    is the prediction) or the predicted classes themselves (``[N]``). Tensors and arrays alike.
    The mean is taken in float64, so the result is exactly ``correct / total`` (a float32 mean
    can round differently and flip a printed decimal).
    """
    pred = torch.as_tensor(np.asarray(scores) if not isinstance(scores, torch.Tensor) else scores)
    labels = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    if pred.dim() == labels.dim() + 1:
        pred = pred.argmax(-1)
    if pred.shape != labels.shape:
        raise InputError(f"predictions {tuple(pred.shape)} and labels {tuple(labels.shape)} do not match")
    if labels.numel() == 0:
        raise InputError("accuracy of an empty set is undefined")
    return float((pred.to(labels.device) == labels).double().mean())  # exactly correct / total
