"""Lesson 04's experiments: ULMFiT's schedules on MiniLM, and the three ULMFiT stages.

The MiniLM part fine-tunes a strong pretrained encoder (mean pooling + linear head) on
Pang & Lee sentence polarity with a *recipe*: any combination of discriminative rates,
slanted triangular rates and gradual unfreezing, or none of them (one constant rate on every
layer). ``scripts/ulmfit_sweep.py`` runs the grid of recipes x peak rates; the notebook
re-runs a few points live.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import models, schedules, textdata
from course_lib.errors import InputError
from course_lib.seed import seed_everything


@dataclass(frozen=True)
class Recipe:
    """Which of ULMFiT's three techniques a fine-tuning run uses."""

    discriminative: bool = True
    stlr: bool = True
    unfreeze: bool = True

    @property
    def name(self) -> str:
        if all((self.discriminative, self.stlr, self.unfreeze)):
            return "ULMFiT (all three)"
        if not any((self.discriminative, self.stlr, self.unfreeze)):
            return "constant rate, all layers"
        missing = [n for n, on in (("discr.", self.discriminative), ("STLR", self.stlr), ("unfreezing", self.unfreeze)) if not on]
        return "without " + " & ".join(missing)


RECIPES = {
    "constant": Recipe(False, False, False),
    "ulmfit": Recipe(True, True, True),
    "no_discriminative": Recipe(False, True, True),
    "no_stlr": Recipe(True, False, True),
    "no_unfreezing": Recipe(True, True, False),
}


class MiniLMClassifier(nn.Module):
    """MiniLM encoder, mean pooling over real tokens, a linear head."""

    def __init__(self, num_labels: int = 2, pretrained: bool = True, seed: int = 0):
        super().__init__()
        self.encoder = models.load_minilm(None, pretrained=pretrained, seed=seed)
        torch.manual_seed(seed)
        self.head = nn.Linear(self.encoder.config.hidden_size, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        return self.head((h * m).sum(1) / m.sum(1).clamp_min(1))

    def layer_groups(self) -> list[nn.Module]:
        """Bottom -> top: embeddings, the 6 transformer layers, the head (8 groups)."""
        return [self.encoder.embeddings, *self.encoder.encoder.layer, self.head]


def encode(texts: list[str], max_len: int = 48) -> dict[str, torch.Tensor]:
    """Tokenise with MiniLM's WordPiece, padded to the longest text (at most ``max_len``)."""
    tok = _tokenizer()
    enc = tok(texts, truncation=True, max_length=max_len, padding=True, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


_TOK = None


def _tokenizer():
    global _TOK
    if _TOK is None:
        _TOK = models.load_minilm_tokenizer()
    return _TOK


def _batches(enc: dict[str, torch.Tensor], labels: torch.Tensor, batch_size: int, gen: torch.Generator | None):
    n = len(labels)
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        mask = enc["attention_mask"][idx]
        width = int(mask.sum(1).max())
        yield enc["input_ids"][idx, :width], mask[:, :width], labels[idx]


@torch.no_grad()
def accuracy(model: MiniLMClassifier, enc: dict[str, torch.Tensor], labels: torch.Tensor, batch_size: int = 100) -> float:
    model.eval()
    correct = 0
    for ids, mask, y in _batches(enc, labels, batch_size, None):
        correct += int((model(ids, mask).argmax(-1) == y).sum())
    return correct / len(labels)


def _flat(modules: list[nn.Module]) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for m in modules for p in m.parameters()])


@dataclass
class RunResult:
    recipe: str
    lr: float
    accuracy: float
    drift_lower: float  # relative change of the embeddings + layers 1-3: ||w - w0|| / ||w0||
    seconds: float
    steps: int

    def as_dict(self) -> dict:
        return asdict(self)


def finetune_minilm(
    recipe: Recipe | str,
    lr: float,
    n_train: int = 500,
    epochs: int = 2,
    batch_size: int = 16,
    max_len: int = 48,
    n_test: int = 1000,
    factor: float = schedules.PAPER_FACTOR,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> RunResult:
    """Fine-tune MiniLM on ``n_train`` polarity sentences with ``recipe`` at peak rate ``lr``.

    Constant recipe: AdamW at ``lr`` on every layer for every step. Discriminative: the head
    gets ``lr``, each group below ``lr / factor`` of the one above. STLR: every group follows
    the slanted triangle to its own peak (cut_frac 0.1, ratio 32). Unfreezing: the head
    alone first, then one more group from the top, evenly spread over the first half of
    training (ULMFiT unfreezes one group per epoch; our runs are a few epochs long).
    Returns test accuracy and how far the lower layers moved from their pretrained weights.
    """
    if isinstance(recipe, str):
        if recipe not in RECIPES:
            raise InputError(f"recipe must be one of {sorted(RECIPES)}, got {recipe!r}")
        recipe = RECIPES[recipe]
    device = torch.device(device)
    seed_everything(seed)
    train = textdata.polarity_train(n_train)
    test = textdata.polarity_test()
    enc_tr, y_tr = encode(train.texts, max_len), torch.as_tensor(train.labels)
    enc_te, y_te = encode(test.texts[:n_test], max_len), torch.as_tensor(test.labels[:n_test])
    model = MiniLMClassifier(2, pretrained=True, seed=seed).to(device)
    groups = model.layer_groups()
    lower0 = _flat(groups[:4]).clone()

    f = factor if recipe.discriminative else 1.0
    opt = torch.optim.AdamW(schedules.discriminative_param_groups(groups, lr, f), lr=lr, weight_decay=0.01)
    steps_per_epoch = -(-n_train // batch_size)
    T = epochs * steps_per_epoch
    sched = schedules.stlr_scheduler(opt, T) if recipe.stlr else None
    unfreezer = schedules.GradualUnfreezer(groups, every=max(1, T // (2 * (len(groups) - 1)))) if recipe.unfreeze else None

    gen = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    bar = tqdm(total=T, desc=f"{recipe.name} @ {lr:.0e}", disable=not progress, leave=False)
    for _ in range(epochs):
        model.train()
        for ids, mask, y in _batches(enc_tr, y_tr, batch_size, gen):
            if unfreezer is not None:
                unfreezer.step()
            loss = loss_fn(model(ids.to(device), mask.to(device)), y.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss):.3f}")
    bar.close()
    model.cpu()
    acc = accuracy(model, enc_te, y_te)
    drift = float((_flat(groups[:4]) - lower0).norm() / lower0.norm())
    return RunResult(recipe.name, lr, acc, drift, time.perf_counter() - start, T)


def summarize(rows: list[dict], key: str = "accuracy") -> dict[str, dict[float, float]]:
    """{recipe name: {lr: mean of ``key`` over seeds}} from sweep rows."""
    out: dict[str, dict[float, list[float]]] = {}
    for r in rows:
        out.setdefault(r["recipe"], {}).setdefault(r["lr"], []).append(r[key])
    return {name: {lr: float(np.mean(v)) for lr, v in sorted(d.items())} for name, d in out.items()}
