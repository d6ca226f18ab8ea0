"""Lesson 05's encoder (MiniLM, BERT-style): poolings, frozen features, freezing the lower
blocks, and fine-tuning :class:`course_lib.models.MeanPoolClassifier` with
:func:`course_lib.training.fit`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import models, textdata, training
from course_lib.errors import InputError
from course_lib.models import mean_pool
from course_lib.schedules import warmup_linear_decay
from course_lib.seed import seed_everything
from course_lib.textdata import TextSplit
from course_lib.transformers_ft.data import (
    length_order,
    minilm_tokenizer,
    shuffled_loader,
    text_loader,
)

# linear-probe settings (course_lib.training.fit_linear_probe) chosen at n=100 on lesson 05's data
PROBE_MINILM = {"weight_decay": 0.1, "standardize": False}

# ---------------------------------------------------------------- pooling


def cls_pool(hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The first position's hidden state ([CLS] in BERT): [B, T, H] -> [B, H]."""
    return hidden[:, 0]


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token of each row, for left or right padding (or none)."""
    t = mask.shape[1]
    positions = torch.arange(t, device=mask.device).expand_as(mask)
    return torch.where(mask.bool(), positions, torch.full_like(positions, -1)).max(1).values.clamp_min(0)


def last_token_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Hidden state of the last real token (what a causal LM has read the whole text at)."""
    idx = last_token_index(mask)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), idx]


POOLINGS = {"mean": mean_pool, "cls": cls_pool, "last": last_token_pool}


# ---------------------------------------------------------------- frozen features


@torch.no_grad()
def minilm_features(
    texts: list[str],
    pooling: str | tuple[str, ...] = "mean",
    max_length: int = 64,
    batch_size: int = 64,
    progress: bool = True,
    model=None,
):
    """Frozen pretrained MiniLM sentence features, [N, 384], with ``mean`` or ``cls`` pooling.

    A tuple of poolings returns a dict of features from one pass over the texts (in batches of
    similar length).
    """
    names = (pooling,) if isinstance(pooling, str) else tuple(pooling)
    if not names or any(p not in ("mean", "cls") for p in names):
        raise InputError(f"pooling must be 'mean' or 'cls' (or a tuple of them), got {pooling!r}")
    model = model or models.load_minilm().eval()
    enc = textdata.encode(texts, minilm_tokenizer(), max_length)
    order = length_order(enc["attention_mask"].sum(1))
    out = {p: torch.zeros(len(texts), model.config.hidden_size) for p in names}
    batches = textdata.batches(enc, batch_size=batch_size, order=order)
    for start, b in enumerate(tqdm(batches, desc="MiniLM features", disable=not progress, leave=False)):
        hidden = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state
        idx = torch.as_tensor(order[start * batch_size : (start + 1) * batch_size])
        for p in names:
            out[p][idx] = POOLINGS[p](hidden, b["attention_mask"])
    return out[pooling] if isinstance(pooling, str) else out


# ---------------------------------------------------------------- freezing


def minilm_encoder(model: nn.Module) -> nn.Module:
    """The BERT encoder of ``model``: a :class:`~course_lib.models.MeanPoolClassifier`'s
    ``.encoder``, a Hugging Face classifier's ``.bert``, or the bare encoder itself."""
    if isinstance(model, models.MeanPoolClassifier):
        return model.encoder
    return getattr(model, "bert", model)


def minilm_layers(model: nn.Module) -> nn.ModuleList:
    """The encoder blocks of MiniLM, bare or with a classification head."""
    return minilm_encoder(model).encoder.layer


def freeze_minilm(model: nn.Module, n_frozen: int) -> int:
    """The lesson's recipe: freeze the embeddings and the first ``n_frozen`` encoder blocks
    (0 = train everything); everything else trains.

    ``n_frozen`` equal to the number of blocks leaves only what sits on top (the head) trainable.
    Returns the number of trainable parameters.
    """
    layers = minilm_layers(model)
    if not 0 <= n_frozen <= len(layers):
        raise InputError(f"n_frozen must be between 0 and {len(layers)}, got {n_frozen}")
    training.set_requires_grad(model, True)
    if n_frozen > 0:
        training.set_requires_grad([minilm_encoder(model).embeddings, *layers[:n_frozen]], False)
    return training.count_parameters(model)


@lru_cache(maxsize=1)
def minilm_parameter_table() -> tuple[int, int, tuple[int, ...], int]:
    """(embeddings, head, per-block, total) parameter counts of MiniLM with mean pooling and a 2-way head."""
    m = models.minilm_classifier()
    emb = training.count_parameters(m.encoder.embeddings, trainable_only=False)
    blocks = tuple(training.count_parameters(layer, trainable_only=False) for layer in m.encoder.encoder.layer)
    total = training.count_parameters(m, trainable_only=False)
    return emb, total - emb - sum(blocks), blocks, total


def trainable_minilm(n_frozen: int) -> tuple[int, int]:
    """(trainable, total) parameters of :func:`course_lib.models.minilm_classifier` with ``n_frozen`` frozen blocks."""
    emb, rest, blocks, total = minilm_parameter_table()
    if not 0 <= n_frozen <= len(blocks):
        raise InputError(f"n_frozen must be between 0 and {len(blocks)}, got {n_frozen}")
    trainable = rest + sum(blocks[n_frozen:]) + (emb if n_frozen == 0 else 0)
    return trainable, total


def describe_freezing(n_frozen: int, lr: float) -> str:
    """One line for the widget: what trains, how many parameters, at which rate."""
    trainable, total = trainable_minilm(n_frozen)
    what = "everything" if n_frozen == 0 else f"blocks {n_frozen + 1}-6 + head" if n_frozen < 6 else "the head only"
    return f"frozen blocks: {n_frozen} | trains {what} | {trainable:,} of {total:,} parameters ({trainable / total:.1%}) | lr {lr:.0e}"


# ---------------------------------------------------------------- fine-tuning


@dataclass
class FinetuneResult:
    """Outcome of one MiniLM fine-tuning run."""

    accuracy: float
    train_loss: list[float] = field(default_factory=list)
    trainable: int = 0
    seconds: float = 0.0
    config: dict = field(default_factory=dict)
    val_acc: list[float] = field(default_factory=list)  # after each epoch, if a validation split was given
    train_acc: float | None = None  # on the training sentences after the last epoch, if asked
    steps: int = 0


def finetune_minilm(
    train: TextSplit,
    test: TextSplit,
    *,
    pretrained: bool = True,
    lr: float = 5e-5,
    head_lr: float = 1e-3,
    epochs: int = 4,
    n_frozen: int = 0,
    batch_size: int = 16,
    max_length: int = 64,
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
    val: TextSplit | None = None,
    train_accuracy: bool = False,
) -> FinetuneResult:
    """Fine-tune MiniLM with mean pooling and a fresh 2-way head (or the same network from
    random init); returns the test accuracy. AdamW, the encoder at ``lr`` and the new head at
    ``head_lr``, with linear warm-up (10 %) and decay.

    ``val`` (a split disjoint from train and test) is evaluated after every epoch, for choosing
    a recipe without the test set; ``train_accuracy`` also measures the fit on ``train``.
    """
    seed_everything(seed)
    model = models.minilm_classifier(pretrained, seed=seed)
    trainable = freeze_minilm(model, n_frozen)
    tok = minilm_tokenizer()
    loader = shuffled_loader(train, tok, batch_size, max_length, seed)
    encoder_params = [p for p in model.encoder.parameters() if p.requires_grad]
    groups = [{"params": list(model.head.parameters()), "lr": head_lr}]
    if encoder_params:
        groups.append({"params": encoder_params, "lr": lr})
    opt = torch.optim.AdamW(groups, weight_decay=0.01)
    total = epochs * len(loader)
    sched = warmup_linear_decay(opt, total)
    t0 = time.perf_counter()
    val_loader = text_loader(val, tok, batch_size=64, max_length=max_length) if val is not None else None
    hist = training.fit(model, loader, val_loader, epochs=epochs, optimizer=opt, scheduler=sched, progress=progress,
                        desc=desc or ("fine-tune" if pretrained else "random init"))
    _, acc = training.evaluate(model, text_loader(test, tok, batch_size=64, max_length=max_length))
    train_acc = training.evaluate(model, text_loader(train, tok, batch_size=64, max_length=max_length))[1] if train_accuracy else None
    config = dict(n=len(train), n_test=len(test), pretrained=pretrained, lr=lr, head_lr=head_lr, epochs=epochs, n_frozen=n_frozen,
                  batch_size=batch_size, max_length=max_length, seed=seed)
    return FinetuneResult(acc, hist.train_loss, trainable, time.perf_counter() - t0, config, list(hist.val_acc), train_acc, total)
