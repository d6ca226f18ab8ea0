"""Lesson 01's fine-tuning runs of EfficientNet-Lite0: the step budget, one fine-tuning run with
discriminative rates, batch-norm statistics (re-estimated, or taken from each test batch), and
gradual unfreezing."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib import data as cdata
from course_lib import models
from course_lib.device import model_device
from course_lib.errors import InputError
from course_lib.training import History, accuracy, count_parameters, evaluate, fit
from course_lib.vision.blocks import (
    BLOCKS,
    DEFAULT_SIZE,
    NUM_CLASSES,
    parameter_groups,
    replace_classifier,
    train_blocks,
)
from course_lib.vision.features import AugmentedLoader, efficientnet_inputs


@dataclass
class RunResult:
    """One training run: its test accuracy, history and settings."""

    name: str
    test_acc: float
    history: History
    seconds: float
    trainable: int
    config: dict = field(default_factory=dict)


def steps_budget(n_train: int, batch_size: int, epochs: int, min_steps: int) -> int:
    """Optimizer steps for a run: ``epochs`` passes over the data, at least ``min_steps``."""
    return max(min_steps, epochs * math.ceil(n_train / batch_size))


def epochs_for(steps: int, loader_len: int) -> int:
    """Whole epochs of ``loader_len`` batches that cover ``steps`` optimizer steps (at least one)."""
    return max(1, math.ceil(steps / loader_len))


def optimizer_steps(n_train: int, batch_size: int, epochs: int, min_steps: int) -> int:
    """The optimizer steps a run really takes: :func:`steps_budget` rounded up to whole epochs."""
    per_epoch = math.ceil(n_train / batch_size)
    return epochs_for(steps_budget(n_train, batch_size, epochs, min_steps), per_epoch) * per_epoch


def finetune_efficientnet(
    train: cdata.Split,
    test_x: torch.Tensor,
    test_y,
    *,
    pretrained: bool = True,
    blocks: Sequence[str] = tuple(BLOCKS),
    head_lr: float = 1e-3,
    backbone_lr: float = 1e-4,
    factor: float = 1.0,
    epochs: int = 6,
    min_steps: int = 30,
    batch_size: int = 32,
    keep_bn_eval: bool = True,
    reestimate_bn: bool = False,
    schedule: str = "constant",
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    device: torch.device | str = "cpu",
    name: str = "",
    progress: bool = True,
    model: nn.Module | None = None,
    on_epoch_end: Callable[[int, History], None] | None = None,
) -> tuple[nn.Module, RunResult]:
    """Fine-tune EfficientNet-Lite0 (ImageNet or random init) on a labelled split.

    ``blocks`` are unfrozen (the rest stay frozen); the optimizer is AdamW with the
    discriminative groups of :func:`parameter_groups`; ``keep_bn_eval`` keeps batch norm
    in eval mode (the fix for the batch-norm trap). ``reestimate_bn`` recomputes every batch
    norm's running statistics on the (unaugmented) training images after training
    (:func:`reestimate_batchnorm`; for a network trained with batch norm in train mode).
    ``schedule`` is ``"constant"`` or ``"onecycle"`` (warm-up then cosine decay to the end of
    the run). Test accuracy is measured on ``test_x``/``test_y`` (prepared with
    :func:`efficientnet_inputs`). The run uses exactly ``steps_budget(...)`` optimizer steps
    (whole epochs, so rounded up to a multiple of the batches per epoch); ``res.config["steps"]``.
    """
    if schedule not in ("constant", "onecycle"):
        raise InputError(f"schedule must be 'constant' or 'onecycle', got {schedule!r}")
    torch.manual_seed(seed)
    if model is None:
        model = models.load_efficientnet_lite0(pretrained=pretrained, num_classes=1000, seed=seed)
        replace_classifier(model, NUM_CLASSES, seed=seed)
    device = torch.device(device)
    model.to(device)
    train_blocks(model, blocks)
    groups = parameter_groups(model, head_lr, backbone_lr, factor)
    opt = torch.optim.AdamW(groups, weight_decay=1e-4)
    x = efficientnet_inputs(train.images, size)
    shift = max(1, round(2 * size / 28))
    loader = AugmentedLoader(x, train.labels, batch_size, shift=shift, flip=True, seed=seed)
    steps = steps_budget(len(x), batch_size, epochs, min_steps)
    n_epochs = epochs_for(steps, len(loader))
    sched = None
    if schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=[g["lr"] for g in groups], total_steps=n_epochs * len(loader)
        )
    t0 = time.perf_counter()
    hist = fit(
        model, loader, None, epochs=n_epochs, optimizer=opt, scheduler=sched, device=device,
        keep_bn_eval=keep_bn_eval, progress=progress, desc=name or "fine-tune", on_epoch_end=on_epoch_end,
    )  # fmt: skip
    if reestimate_bn:
        reestimate_batchnorm(model, x)
    _, acc = evaluate(model, DataLoader(TensorDataset(test_x, torch.as_tensor(test_y)), batch_size=250), model_device(model))
    hist.val_acc.append(acc)
    cfg = dict(
        pretrained=pretrained, blocks=list(blocks), head_lr=head_lr, backbone_lr=backbone_lr, factor=factor,
        epochs=n_epochs, steps=n_epochs * len(loader), batch_size=batch_size, keep_bn_eval=keep_bn_eval,
        reestimate_bn=reestimate_bn, schedule=schedule, size=size, seed=seed, n_train=len(x),
    )  # fmt: skip
    res = RunResult(name, acc, hist, time.perf_counter() - t0, count_parameters(model), cfg)
    return model, res


# --------------------------------------------------------------------- batch norm


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, x: torch.Tensor, batch_size: int = 100) -> int:
    """Recompute every batch norm's running mean and variance on the images ``x``; return how many.

    A network trained with batch norm in train mode learned weights for *batch* statistics;
    with a small momentum (EfficientNet's is 0.01) and few steps its *running* statistics
    lag far behind, and test time uses those. This resets them and sets them to the exact
    average over ``x`` (cumulative averaging, the same as ``torch.optim.swa_utils.update_bn``),
    then restores each layer's momentum and the model's mode. Only batch norm is in train mode
    during the pass (dropout stays off). ``x`` goes to the model's device.
    """
    bns = _batchnorms(model)
    if not bns or len(x) == 0:
        return 0
    device = model_device(model)
    was_training = model.training
    momenta = [m.momentum for m in bns]
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
        m.train()
    for i in range(0, len(x), batch_size):
        model(x[i : i + batch_size].to(device))
    for m, mom in zip(bns, momenta, strict=True):
        m.momentum = mom
    model.train(was_training)
    return len(bns)


@torch.no_grad()
def accuracy_with_batch_stats(model: nn.Module, x: torch.Tensor, y, batch_size: int = 250) -> float:
    """Accuracy when batch norm normalises with each test batch's own statistics (a diagnostic).

    If a network trained with batch norm in train mode does better this way than with its
    stored running statistics, its weights are fine and only the stored statistics are wrong.
    The model's state (running statistics included) is left exactly as it was; ``x`` goes to
    the model's device.
    """
    device = model_device(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}  # train-mode BN updates them
    was_training = model.training
    model.eval()
    for m in _batchnorms(model):
        m.train()  # batch norm only: dropout stays off
    pred = torch.cat([model(x[i : i + batch_size].to(device)).argmax(-1).cpu() for i in range(0, len(x), batch_size)])
    model.load_state_dict(state)
    model.train(was_training)
    return accuracy(pred, y)



DEFAULT_UNFREEZE_PHASES: list[list[str]] = [
    ["classifier"],
    ["classifier", "head", "stage7", "stage6"],
    list(BLOCKS),
]


def gradual_unfreeze(
    train: cdata.Split,
    test_x: torch.Tensor,
    test_y,
    *,
    phases: Sequence[Sequence[str]] = tuple(DEFAULT_UNFREEZE_PHASES),
    epochs_per_phase: int = 2,
    head_lr: float = 1e-3,
    backbone_lr: float = 1e-4,
    factor: float = 2.0,
    keep_bn_eval: bool = True,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[nn.Module, RunResult]:
    """Gradual unfreezing: train the head, then the top blocks, then everything.

    Each phase adds blocks and builds a fresh optimizer with discriminative rates
    (each block the rate of the block above it divided by ``factor``).
    """
    model = models.load_efficientnet_lite0(pretrained=True, num_classes=1000, seed=seed)
    replace_classifier(model, NUM_CLASSES, seed=seed)
    total = History()
    t0 = time.perf_counter()
    for i, blocks in enumerate(phases):
        _, res = finetune_efficientnet(
            train, test_x, test_y, blocks=blocks, head_lr=head_lr, backbone_lr=backbone_lr, factor=factor,
            epochs=epochs_per_phase, min_steps=0, keep_bn_eval=keep_bn_eval, size=size, seed=seed + i,
            device=device, name=f"phase {i + 1}", progress=progress, model=model,
        )  # fmt: skip
        total.train_loss += res.history.train_loss
        total.val_acc += res.history.val_acc
    cfg = dict(phases=[list(p) for p in phases], epochs_per_phase=epochs_per_phase, head_lr=head_lr,
               backbone_lr=backbone_lr, factor=factor, size=size, seed=seed)  # fmt: skip
    return model, RunResult("gradual unfreezing", total.val_acc[-1], total, time.perf_counter() - t0,
                            count_parameters(model), cfg)  # fmt: skip


