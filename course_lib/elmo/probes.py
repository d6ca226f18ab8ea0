"""Probes of the layers: a linear probe per layer, a paired bootstrap over the test items, a
learned scalar mix with its head, and how well a layer's vectors separate word senses."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from course_lib.elmo.bilm import BiLM
from course_lib.elmo.features import ScalarMix, bilm_token_features, scalar_mix
from course_lib.training import accuracy, fit_linear_probe

# ---------------------------------------------------------------------------- probes


def _standardize(train: torch.Tensor, *others: torch.Tensor):
    """Z-score each layer's dimensions with the training set's statistics (L, N, D)."""
    mean = train.mean(1, keepdim=True)
    std = train.std(1, keepdim=True).clamp_min(1e-6)
    return [(x - mean) / std for x in (train, *others)]


def probe_layer_correct(train_layers: torch.Tensor, y_train: torch.Tensor, test_layers: torch.Tensor,
                        y_test: torch.Tensor, weight_decay: float = 1e-3, max_iter: int = 100) -> np.ndarray:
    """Fit a logistic-regression probe on each layer separately; return which test items each
    layer's probe gets right, a boolean array (L, N_test). Its row means are the accuracies."""
    rows = []
    k = int(max(y_train.max(), y_test.max())) + 1
    for layer in range(train_layers.shape[0]):
        head = fit_linear_probe(train_layers[layer], y_train, num_classes=k,
                                weight_decay=weight_decay, max_iter=max_iter)
        with torch.no_grad():
            rows.append((head(test_layers[layer]).argmax(-1) == y_test).numpy())
    return np.stack(rows)


def probe_layers(train_layers: torch.Tensor, y_train: torch.Tensor, test_layers: torch.Tensor,
                 y_test: torch.Tensor, weight_decay: float = 1e-3, max_iter: int = 100) -> list[float]:
    """Test accuracy of a logistic-regression probe fitted on each layer separately.

    The lesson's own mechanism: the row means (float64) of :func:`probe_layer_correct`'s
    per-item matrix, which the paired bootstrap reads too, not :func:`course_lib.training.accuracy`.
    """
    correct = probe_layer_correct(train_layers, y_train, test_layers, y_test, weight_decay, max_iter)
    return [float(c) for c in correct.mean(1)]


def bootstrap_layer_accuracy(correct: np.ndarray, groups: Sequence[int] | np.ndarray | None = None,
                             n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """Per-layer accuracies on ``n_boot`` bootstrap resamples of the test set: (n_boot, L).

    ``correct`` is (L, N) from :func:`probe_layer_correct`. Every layer is scored on the same
    resample (a paired bootstrap), so differences between layers keep their correlation.
    ``groups`` (one id per test item, e.g. the sentence a token belongs to) resamples whole
    groups, because the items of one sentence are not independent.
    """
    correct = np.asarray(correct, dtype=np.float64)
    n_layers, n = correct.shape
    if groups is None:
        groups = np.arange(n)
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(g.max()) + 1
    hits = np.zeros((n_layers, n_groups))
    np.add.at(hits.T, g, correct.T)  # correct answers per group and layer
    sizes = np.bincount(g, minlength=n_groups).astype(np.float64)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot).astype(np.float64)
    return (weights @ hits.T) / (weights @ sizes)[:, None]


@dataclass
class MixProbe:
    """A learned scalar mix with its linear head, and its test accuracy."""

    mix: ScalarMix
    head: nn.Linear
    accuracy: float
    seconds: float

    @property
    def weights(self) -> np.ndarray:
        return self.mix.weights().detach().numpy()


def fit_scalar_mix_probe(train_layers: torch.Tensor, y_train: torch.Tensor, test_layers: torch.Tensor,
                         y_test: torch.Tensor, steps: int = 200, lr: float = 0.05,
                         weight_decay: float = 0.05, seed: int = 0) -> MixProbe:
    """Learn s, gamma and a linear head jointly (Adam, full batch) on standardised layers.

    Each layer is z-scored first (like ELMo's optional layer normalisation), so the learned
    weights compare layers, not their scales. The L2 penalty acts on the effective weights
    gamma * W: otherwise gamma could grow and switch the regularisation off. The lesson's own
    loop, not :func:`course_lib.training.fit`: full-batch steps on a loss whose penalty reads
    the mix's gamma, ELMo's own objective for the task weights.
    """
    torch.manual_seed(seed)
    tr, te = _standardize(train_layers.float(), test_layers.float())
    k = int(max(y_train.max(), y_test.max())) + 1
    mix = ScalarMix(tr.shape[0])
    head = nn.Linear(tr.shape[2], k)
    opt = torch.optim.Adam([*mix.parameters(), *head.parameters()], lr=lr)
    start = time.perf_counter()
    with torch.enable_grad():
        for _ in range(steps):
            penalty = weight_decay * (mix.gamma * head.weight).pow(2).sum()  # on the effective weights
            loss = nn.functional.cross_entropy(head(mix(tr)), y_train) + penalty
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = accuracy(head(mix(te)), y_test)
    return MixProbe(mix, head, acc, time.perf_counter() - start)


def mix_probe_accuracy(train_layers: torch.Tensor, y_train: torch.Tensor, test_layers: torch.Tensor,
                       y_test: torch.Tensor, s: Sequence[float], gamma: float = 1.0,
                       weight_decay: float = 1e-3, max_iter: int = 60) -> float:
    """Fix the mix (s, gamma), refit only a linear head (LBFGS), return test accuracy.

    Layers are z-scored, the mixed vector is not: gamma scales the head's input, which with a
    weight-decayed head acts like the inverse of the regularisation strength.
    """
    tr, te = _standardize(train_layers.float(), test_layers.float())
    s_t = torch.as_tensor(list(s), dtype=torch.float32)
    xtr, xte = scalar_mix(tr, s_t, gamma), scalar_mix(te, s_t, gamma)
    k = int(max(y_train.max(), y_test.max())) + 1
    head = fit_linear_probe(xtr, y_train, num_classes=k, weight_decay=weight_decay,
                            max_iter=max_iter, standardize=False)
    with torch.no_grad():
        return accuracy(head(xte), y_test)


# ---------------------------------------------------------------------------- similarity


def cosine_matrix(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Pairwise cosine similarities of the rows of x."""
    x = np.asarray(x, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x @ x.T


def sense_separation(vectors, senses: Sequence) -> float:
    """Mean cosine within a sense minus mean cosine across senses (self-pairs excluded)."""
    sim = cosine_matrix(vectors)
    senses = np.asarray(senses)
    same = senses[:, None] == senses[None, :]
    off = ~np.eye(len(senses), dtype=bool)
    return round(float(sim[same & off].mean() - sim[~same].mean()), 9) + 0.0


def nearest_sense_accuracy(vectors, senses: Sequence) -> float:
    """Leave-one-out 1-nearest-neighbour (cosine) accuracy of predicting each vector's sense.

    The senses are any labels (words like ``"river"``), compared in numpy (float64 mean), not
    through :func:`course_lib.training.accuracy`, which takes class ids.
    """
    sim = cosine_matrix(vectors)
    np.fill_diagonal(sim, -np.inf)
    senses = np.asarray(senses)
    return float((senses[sim.argmax(1)] == senses).mean())


def find_word_vectors(lm: BiLM, sentences: Sequence[str], word: str) -> tuple[torch.Tensor, list[int]]:
    """Layer vectors (L + 1, n, 2P) of the first occurrence of ``word`` in each sentence text."""
    toks = [lm.tokenize(s) for s in sentences]
    feats = bilm_token_features(lm, toks, progress=False)
    rows, pos, offset = [], [], 0
    for t in toks:
        low = [w.lower() for w in t]
        if word not in low:
            raise ValueError(f"{word!r} not in sentence {' '.join(t)!r}")
        i = low.index(word)
        rows.append(offset + i)
        pos.append(i)
        offset += len(t)
    return feats[:, rows], pos
