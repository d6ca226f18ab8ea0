"""Lesson 01 (scratch vs transfer): freezing by stage, parameter groups, feature caching,
fine-tuning runs, a small CNN from scratch, and the lesson's widgets.

Everything a notebook cell of lesson 01 does that is more than a few lines lives here, as
plain functions (tested in ``tests/test_vision.py``); the widgets only wire them together.

The network is EfficientNet-Lite0 (:func:`course_lib.models.load_efficientnet_lite0`). Its
parameters fall into ten *blocks*: ``stem``, ``stage1`` .. ``stage7``, ``head`` (the last
1x1 convolution and its batch norm) and ``classifier`` (the linear layer on top).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import data as cdata
from course_lib import models
from course_lib.device import model_device
from course_lib.errors import CourseError, InputError
from course_lib.training import (
    History,
    count_parameters,
    evaluate,
    fit,
)

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
    blocks = list(blocks)
    unknown = [b for b in blocks if b not in BLOCKS]
    if unknown:
        raise InputError(f"unknown block(s) {unknown}; the blocks are {BLOCKS}")
    return blocks


def set_trainable(model: nn.Module, trainable: Iterable[str]) -> int:
    """Unfreeze exactly the named blocks and freeze every other one; return the trainable count."""
    keep = set(_check_blocks(trainable))
    for name, p in model.named_parameters():
        p.requires_grad_(block_of(name) in keep)
    return count_parameters(model)


def freeze_all_but_classifier(model: nn.Module) -> int:
    """Feature extraction: only the final linear layer trains. Returns the trainable count."""
    return set_trainable(model, ["classifier"])


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
    decay: float = 1.0,
    weight_decay: float = 0.0,
) -> list[dict]:
    """Discriminative learning rates: one optimizer group per block that has trainable parameters.

    The classifier gets ``head_lr``; the backbone block just below it gets ``backbone_lr``,
    and each block further down ``decay`` times the rate of the block above (``decay=1``: all
    backbone blocks share ``backbone_lr``; ULMFiT used 1/2.6). Frozen blocks are left out.
    """
    if head_lr <= 0 or backbone_lr <= 0:
        raise InputError("learning rates must be positive")
    if not 0 < decay <= 1:
        raise InputError(f"decay must be in (0, 1], got {decay}")
    by_block: dict[str, list[nn.Parameter]] = {b: [] for b in BLOCKS}
    for name, p in model.named_parameters():
        if p.requires_grad:
            by_block[block_of(name)].append(p)
    groups = []
    for depth, block in enumerate(reversed(BLOCKS)):
        params = by_block[block]
        if not params:
            continue
        lr = head_lr if block == "classifier" else backbone_lr * decay ** (depth - 1)
        groups.append({"params": params, "lr": lr, "name": block, "weight_decay": weight_decay})
    if not groups:
        raise InputError(
            "Every block is frozen: there is nothing to train. Unfreeze at least one block."
        )
    return groups


# --------------------------------------------------------------------- inputs and features


def efficientnet_inputs(images: np.ndarray, size: int = DEFAULT_SIZE) -> torch.Tensor:
    """Animal-MNIST uint8 images (N x 28 x 28) -> EfficientNet-Lite input N x 3 x size x size in [-1, 1]."""
    return cdata.to_tensor_images(images, size=size) * 2 - 1


_FEATURE_CACHE: dict[tuple, torch.Tensor] = {}


def _digest(images: np.ndarray) -> str:
    arr = np.ascontiguousarray(images)
    return hashlib.sha1(arr.tobytes() + str(arr.shape).encode()).hexdigest()


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
    key = (tag, size, _digest(images))
    if key in _FEATURE_CACHE:
        return _FEATURE_CACHE[key]
    device = model_device(model)
    was_training = model.training
    model.eval()
    out = []
    starts = range(0, len(images), batch_size)
    for i in tqdm(starts, desc=f"features {size}px", disable=not progress, leave=False):
        x = efficientnet_inputs(images[i : i + batch_size], size).to(device)
        out.append(model.extract_features(x).mean((2, 3)).cpu())
    model.train(was_training)
    feats = torch.cat(out)
    _FEATURE_CACHE[key] = feats
    return feats


def clear_feature_cache() -> None:
    """Forget every cached feature matrix."""
    _FEATURE_CACHE.clear()


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
    pred = probe_logits(probe, test_features).argmax(-1)
    return float((pred == torch.as_tensor(np.asarray(test_labels))).double().mean())


# --------------------------------------------------------------------- data loaders


class AugmentedLoader:
    """Mini-batches of (image tensor, label) with random flips and small shifts, seeded.

    ``shift`` is the largest translation in pixels (at the tensor's resolution).
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


def tensor_batches(x: torch.Tensor, y, batch_size: int = 250) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """An evaluation 'loader': a list of (x, y) chunks, in order."""
    y = torch.as_tensor(y)
    return [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)]


# --------------------------------------------------------------------- fine-tuning


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


def _epochs_for(steps: int, loader_len: int) -> int:
    return max(1, math.ceil(steps / loader_len))


def optimizer_steps(n_train: int, batch_size: int, epochs: int, min_steps: int) -> int:
    """The optimizer steps a run really takes: :func:`steps_budget` rounded up to whole epochs."""
    per_epoch = math.ceil(n_train / batch_size)
    return _epochs_for(steps_budget(n_train, batch_size, epochs, min_steps), per_epoch) * per_epoch


def finetune_efficientnet(
    train: cdata.Split,
    test_x: torch.Tensor,
    test_y,
    *,
    pretrained: bool = True,
    blocks: Sequence[str] = tuple(BLOCKS),
    head_lr: float = 1e-3,
    backbone_lr: float = 1e-4,
    decay: float = 1.0,
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
    set_trainable(model, blocks)
    groups = parameter_groups(model, head_lr, backbone_lr, decay)
    opt = torch.optim.AdamW(groups, weight_decay=1e-4)
    x = efficientnet_inputs(train.images, size)
    shift = max(1, round(2 * size / 28))
    loader = AugmentedLoader(x, train.labels, batch_size, shift=shift, flip=True, seed=seed)
    steps = steps_budget(len(x), batch_size, epochs, min_steps)
    n_epochs = _epochs_for(steps, len(loader))
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
    _, acc = evaluate(model, tensor_batches(test_x, test_y), model_device(model))
    hist.val_acc.append(acc)
    cfg = dict(
        pretrained=pretrained, blocks=list(blocks), head_lr=head_lr, backbone_lr=backbone_lr, decay=decay,
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
    y = torch.as_tensor(np.asarray(y))
    correct = 0
    for i in range(0, len(x), batch_size):
        pred = model(x[i : i + batch_size].to(device)).argmax(-1).cpu()
        correct += int((pred == y[i : i + batch_size]).sum())
    model.load_state_dict(state)
    model.train(was_training)
    return correct / len(x)


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
    if not lrs:
        raise InputError("choose_lr() needs at least one learning rate")
    vx = efficientnet_inputs(val.images, size)
    scores, trained = {}, {}
    for lr in sorted(lrs):
        trained[lr], res = train_fn(train, vx, val.labels, lr=lr, size=size, **kwargs)
        scores[lr] = res.test_acc
    best = max(scores, key=lambda lr: (scores[lr], -lr))
    return best, scores, trained[best]


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
    decay: float = 0.5,
    keep_bn_eval: bool = True,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[nn.Module, RunResult]:
    """Gradual unfreezing: train the head, then the top blocks, then everything.

    Each phase adds blocks and builds a fresh optimizer with discriminative rates
    (each block ``decay`` times the rate of the block above it).
    """
    model = models.load_efficientnet_lite0(pretrained=True, num_classes=1000, seed=seed)
    replace_classifier(model, NUM_CLASSES, seed=seed)
    total = History()
    t0 = time.perf_counter()
    for i, blocks in enumerate(phases):
        _, res = finetune_efficientnet(
            train, test_x, test_y, blocks=blocks, head_lr=head_lr, backbone_lr=backbone_lr, decay=decay,
            epochs=epochs_per_phase, min_steps=0, keep_bn_eval=keep_bn_eval, size=size, seed=seed + i,
            device=device, name=f"phase {i + 1}", progress=progress, model=model,
        )  # fmt: skip
        total.train_loss += res.history.train_loss
        total.val_acc += res.history.val_acc
    cfg = dict(phases=[list(p) for p in phases], epochs_per_phase=epochs_per_phase, head_lr=head_lr,
               backbone_lr=backbone_lr, decay=decay, size=size, seed=seed)  # fmt: skip
    return model, RunResult("gradual unfreezing", total.val_acc[-1], total, time.perf_counter() - t0,
                            count_parameters(model), cfg)  # fmt: skip


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


def small_cnn_inputs(images: np.ndarray) -> torch.Tensor:
    """uint8 N x 28 x 28 -> float N x 1 x 28 x 28, standardised to about zero mean."""
    return (cdata.to_tensor_images(images, size=28, channels=1) - 0.25) / 0.4


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
    n_epochs = _epochs_for(steps, len(loader))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=n_epochs * len(loader))
    t0 = time.perf_counter()
    hist = fit(model, loader, None, epochs=n_epochs, optimizer=opt, scheduler=sched, device=device,
               progress=progress, desc="small CNN")  # fmt: skip
    _, acc = evaluate(model, tensor_batches(test_x, test_y, 500), model_device(model))
    hist.val_acc.append(acc)
    cfg = dict(epochs=n_epochs, batch_size=batch_size, lr=lr, seed=seed, n_train=len(x))
    return model, RunResult(
        "small CNN", acc, hist, time.perf_counter() - t0, count_parameters(model), cfg
    )


# --------------------------------------------------------------------- widgets


def freeze_panel(model: nn.Module):
    """One toggle per block; the trainable-parameter count and percentage update at once."""
    import ipywidgets as W

    summary = parameter_summary(model)
    label = W.HTML()
    toggles = {}

    def refresh(*_):
        s = parameter_summary(model)
        text = s.line()
        if s.trainable == 0:
            text += " &mdash; everything is frozen: training would change nothing"
        label.value = f"<b>{text}</b>"

    def on_change(change, block):
        for name, p in model.named_parameters():
            if block_of(name) == block:
                p.requires_grad_(bool(change["new"]))
        refresh()

    for b in BLOCKS:
        t_count, total = summary.per_block[b]
        tb = W.ToggleButton(
            value=t_count > 0, description=b, tooltip=f"{total:,} parameters",
            layout=W.Layout(width="92px"),
        )  # fmt: skip
        tb.observe(lambda ch, b=b: on_change(ch, b), names="value")
        toggles[b] = tb
    refresh()
    box = W.VBox([W.HTML("Pressed = trainable (unfrozen)."), W.HBox(list(toggles.values())), label])
    box.toggles = toggles  # for tests and the notebook
    box.label = label
    box.model = model
    return box


def lr_sliders(head_lr: float = 1e-3, backbone_lr: float = 1e-4):
    """Two log-scale sliders: the classifier's and the backbone's learning rates."""
    from course_lib.widgets import log_slider

    return (log_slider("head LR", head_lr, 1e-6, 1e-1, step=0.25, width="420px"),
            log_slider("backbone LR", backbone_lr, 1e-6, 1e-1, step=0.25, width="420px"))


def train_panel(
    model_factory: Callable[[], nn.Module],
    train: cdata.Split,
    test_x: torch.Tensor,
    test_y,
    *,
    epochs: int = 3,
    size: int = DEFAULT_SIZE,
    device: torch.device | str = "cpu",
):
    """Freeze toggles, learning-rate sliders and a Train button with a progress bar and live curve.

    ``model_factory`` returns a fresh model each time the button is pressed; the toggles'
    choice of trainable blocks is applied to it. The panel is the course's
    :class:`~course_lib.widgets.ActionButton` with the handles ``freezer``, ``sliders`` and
    ``curve`` (the live loss plot); ``message`` is the last run's result line and ``result``
    its :class:`RunResult`.
    """
    import ipywidgets as W
    import matplotlib.pyplot as plt

    from course_lib.widgets import ActionButton

    freezer = freeze_panel(model_factory())
    head_s, back_s = lr_sliders()
    curve = W.Output()

    def run(progress) -> str:
        curve.clear_output()
        losses: list[float] = []

        def on_epoch(epoch: int, h: History) -> None:
            losses.append(h.train_loss[-1])
            progress(len(losses) / epochs)
            with curve:
                curve.clear_output(wait=True)
                fig, ax = plt.subplots(figsize=(5, 2.8))
                ax.plot(range(1, len(losses) + 1), losses, marker="o")
                ax.set(xlabel="epoch", ylabel="training loss", title="live training curve", xticks=range(1, epochs + 1))
                ax.grid(alpha=0.3)
                plt.show()

        blocks = [b for b, t in freezer.toggles.items() if t.value]
        if not blocks:
            raise InputError("Every block is frozen: there is nothing to train. Press at least one toggle.")
        _, res = finetune_efficientnet(
            train, test_x, test_y, model=model_factory(), blocks=blocks, head_lr=head_s.value,
            backbone_lr=back_s.value, epochs=epochs, min_steps=0, size=size, device=device,
            name="Train", on_epoch_end=on_epoch,
        )  # fmt: skip
        panel.result = res
        return (f"test accuracy {res.test_acc:.1%} after {res.config['epochs']} epochs, "
                f"{res.trainable:,} trainable parameters, {res.seconds:.1f} s")

    panel = ActionButton(run, description="Train", icon="play")
    panel.children = [freezer, head_s, back_s, *panel.children, curve]
    panel.freezer, panel.sliders, panel.curve = freezer, (head_s, back_s), curve
    panel.controls = {"head_lr": head_s, "backbone_lr": back_s, **freezer.toggles}
    return panel


def probe_slider(
    train_features, train_labels, test_features, test_labels, k: int = 10, max_k: int | None = None
):
    """A labels-per-class slider; each change refits the linear probe on cached features."""
    import ipywidgets as W

    have = int(np.bincount(np.asarray(train_labels)).min())
    slider = W.IntSlider(
        value=min(k, have), min=1, max=max_k or have, description="labels/class", continuous_update=False,
        style={"description_width": "90px"},
    )  # fmt: skip
    out = W.Output()

    def show(change=None):
        with out:
            out.clear_output(wait=True)
            t0 = time.perf_counter()
            try:
                acc = probe_accuracy(
                    train_features, train_labels, test_features, test_labels, slider.value
                )
                box.accuracy = acc
                box.text = f"k = {slider.value:3d}: probe test accuracy {acc:.1%} (refit in {time.perf_counter() - t0:.2f} s)"
            except CourseError as e:
                box.accuracy = None
                box.text = f"{type(e).__name__}: {e}"
            print(box.text)

    box = W.VBox([slider, out])
    box.slider, box.output = slider, out
    slider.observe(show, names="value")
    show()
    return box


def widget_demo():
    """The freeze panel on the real EfficientNet-Lite0: toggles update the trainable count at once."""
    model = models.load_efficientnet_lite0(pretrained=True, num_classes=1000)
    replace_classifier(model, NUM_CLASSES)
    freeze_all_but_classifier(model)
    return freeze_panel(model)
