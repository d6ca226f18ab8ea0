"""The GloVe objective (Pennington et al. 2014) written out: co-occurrence counts, the weighted
least-squares loss, and a full-batch fit on a small vocabulary."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm


def cooccurrence(
    sentences: Iterable[Sequence[str]], stoi: dict[str, int], window: int = 5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric co-occurrence counts X_ij within ``window`` words, each pair weighted 1/distance
    (as GloVe does), not crossing sentence ends; words not in ``stoi`` are dropped first.
    Returns the nonzero entries as arrays (i, j, X_ij)."""
    V = len(stoi)
    stream = []
    for s in sentences:
        stream.extend(stoi[t] for t in s if t in stoi)
        stream.append(-1)
    ids = np.asarray(stream, dtype=np.int64)
    n = len(ids)
    ends = np.concatenate([[0], np.cumsum(ids == -1)])  # ends[k]: sentence ends among ids[:k]
    keys, weights = [], []
    for d in range(1, window + 1):
        # positions p and p + d pair up when no sentence end lies between them (ends included)
        ok = ends[d + 1 :] - ends[: n - d] == 0
        left, right = ids[: n - d][ok], ids[d:][ok]
        w = np.full(len(left), 1.0 / d)
        keys += [left * V + right, right * V + left]
        weights += [w, w]
    keys_all = np.concatenate(keys)
    uniq, inv = np.unique(keys_all, return_inverse=True)
    x = np.bincount(inv, weights=np.concatenate(weights))
    return (uniq // V).astype(np.int64), (uniq % V).astype(np.int64), x.astype(np.float32)


def glove_weight(x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """f(x) = (x / x_max)^alpha below x_max, 1 above: rare pairs count less, frequent ones are capped."""
    return torch.clamp(x / x_max, max=1.0) ** alpha


def glove_loss(
    w: torch.Tensor, w_tilde: torch.Tensor, b: torch.Tensor, b_tilde: torch.Tensor, x: torch.Tensor,
    x_max: float = 100.0, alpha: float = 0.75,
) -> torch.Tensor:  # fmt: skip
    """sum f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2 over a batch of nonzero pairs.

    ``w``, ``w_tilde``: (batch, dim) rows of the two embedding tables; ``b``, ``b_tilde``: (batch,).
    """
    pred = (w * w_tilde).sum(-1) + b + b_tilde
    return (glove_weight(x, x_max, alpha) * (pred - torch.log(x)) ** 2).sum()


class GloVe(nn.Module):
    """Two embedding tables (word and context) with a bias each, as in Pennington et al. (2014)."""

    def __init__(self, vocab_size: int, dim: int = 50, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        scale = 0.5 / dim
        self.w = nn.Parameter((torch.rand(vocab_size, dim, generator=g) - 0.5) * 2 * scale)
        self.w_tilde = nn.Parameter((torch.rand(vocab_size, dim, generator=g) - 0.5) * 2 * scale)
        self.b = nn.Parameter(torch.zeros(vocab_size))
        self.b_tilde = nn.Parameter(torch.zeros(vocab_size))

    def predict(self, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """w_i . w~_j + b_i + b~_j: the model's estimate of log X_ij."""
        return (self.w[i] * self.w_tilde[j]).sum(-1) + self.b[i] + self.b_tilde[j]

    def loss(self, i: torch.Tensor, j: torch.Tensor, x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75):
        return glove_loss(self.w[i], self.w_tilde[j], self.b[i], self.b_tilde[j], x, x_max, alpha)

    def vectors(self) -> np.ndarray:
        """W + W~, the word vectors GloVe publishes."""
        return (self.w + self.w_tilde).detach().numpy()


def train_glove(
    i: np.ndarray, j: np.ndarray, x: np.ndarray, vocab_size: int, dim: int = 50, steps: int = 300,
    lr: float = 0.05, x_max: float = 100.0, alpha: float = 0.75, seed: int = 0, progress: bool = True,
) -> tuple[GloVe, list[float]]:  # fmt: skip
    """Fit :class:`GloVe` to the nonzero co-occurrences (i, j, X_ij) by full-batch Adam.

    For a vocabulary of a few thousand words the whole matrix fits in memory, so every step
    evaluates the exact objective over all nonzero pairs with two matrix products (pairs with
    X_ij = 0 have f = 0 and drop out), far faster on a CPU than looping over mini-batches of
    pairs as the original C code does. Returns the model and the weighted loss per nonzero
    pair at each step. The lesson's own loop, not :func:`course_lib.training.fit`: the GloVe
    objective is a weighted regression on co-occurrence counts, not a classifier.
    """
    torch.manual_seed(seed)
    model = GloVe(vocab_size, dim, seed)
    X = torch.zeros(vocab_size, vocab_size)
    X[torch.as_tensor(i), torch.as_tensor(j)] = torch.as_tensor(x, dtype=torch.float32)
    weight = glove_weight(X, x_max, alpha)
    log_x = torch.log(torch.where(X > 0, X, torch.ones(())))
    n_pairs = int((X > 0).sum())
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    bar = tqdm(range(steps), desc="GloVe steps", disable=not progress, mininterval=1.0)
    for step in bar:
        pred = model.w @ model.w_tilde.T + model.b[:, None] + model.b_tilde[None, :]
        loss = (weight * (pred - log_x) ** 2).sum() / n_pairs
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    return model, losses
