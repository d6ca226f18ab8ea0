"""ULMFiT's three fine-tuning techniques (Howard & Ruder, 2018), as small tested functions.

- :func:`stlr`: the slanted triangular learning rate, exactly the paper's equation (3);
  :func:`stlr_scheduler` wraps it for a torch optimizer.
- :func:`discriminative_param_groups`: one optimizer group per layer, each layer's rate the
  rate of the layer above divided by ``factor`` (2.6 in the paper).
- :class:`GradualUnfreezer`: start with only the top layer group trainable and unfreeze one
  more group, from the top down, at each step of a plan.
- :func:`concat_pool`: the classifier's input ``[h_T, maxpool(H), meanpool(H)]``.

The widgets at the end only wire these functions: an STLR explorer and a per-layer rate
chart; :func:`widget_demo` builds one for the browser test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import ipywidgets as w
import numpy as np
import torch
from torch import nn

from course_lib.errors import InputError
from course_lib.training import is_trainable, set_requires_grad
from course_lib.widgets import live_panel, log_slider

PAPER_CUT_FRAC = 0.1
PAPER_RATIO = 32
PAPER_LR_MAX = 0.01
PAPER_FACTOR = 2.6


# ---------------------------------------------------------------- slanted triangular rates


def stlr(t: int, T: int, cut_frac: float = PAPER_CUT_FRAC, ratio: float = PAPER_RATIO, lr_max: float = PAPER_LR_MAX) -> float:
    """Learning rate eta_t at iteration ``t`` of ``T`` (ULMFiT, equation 3).

    cut = floor(T * cut_frac); p = t / cut before the cut, else
    1 - (t - cut) / (cut * (1 / cut_frac - 1)); eta_t = lr_max * (1 + p * (ratio - 1)) / ratio.
    The rate climbs linearly for ``cut`` iterations from lr_max / ratio to lr_max, then decays
    linearly back towards lr_max / ratio.
    """
    if T < 1 or not 0 < cut_frac < 1 or ratio < 1:
        raise InputError(f"need T >= 1, 0 < cut_frac < 1 and ratio >= 1; got T={T}, cut_frac={cut_frac}, ratio={ratio}")
    cut = math.floor(T * cut_frac)
    if cut == 0:
        raise InputError(f"T * cut_frac = {T * cut_frac:g} < 1: the warm-up would have no iterations; use a larger T or cut_frac")
    if t < cut:
        p = t / cut
    else:
        p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    return lr_max * (1 + p * (ratio - 1)) / ratio


def stlr_curve(T: int, cut_frac: float = PAPER_CUT_FRAC, ratio: float = PAPER_RATIO, lr_max: float = PAPER_LR_MAX) -> np.ndarray:
    """eta_t for t = 0 .. T-1."""
    return np.array([stlr(t, T, cut_frac, ratio, lr_max) for t in range(T)])


def stlr_scheduler(optimizer: torch.optim.Optimizer, T: int, cut_frac: float = PAPER_CUT_FRAC, ratio: float = PAPER_RATIO):
    """A ``LambdaLR`` that multiplies each group's own rate (its peak) by the STLR factor.

    With discriminative groups every layer follows the same slanted triangle, scaled to its
    own peak. Call ``scheduler.step()`` once per batch.
    """
    stlr(0, T, cut_frac, ratio, 1.0)  # validate the arguments now, not at the first step
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: stlr(t, T, cut_frac, ratio, 1.0))


# ---------------------------------------------------------------- discriminative rates


def warmup_linear_decay(optimizer: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` (BERT's schedule): each group's rate rises linearly over the first tenth of
    the ``total`` steps (at least one step), then falls linearly towards 0 at the last step."""
    warm = max(1, total // 10)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )


def warmup_cosine(optimizer: torch.optim.Optimizer, total: int, warmup: float = 0.1) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` (ViT fine-tuning's schedule): a linear rise over the first ``warmup``
    fraction of the ``total`` steps (at least one step), then half a cosine down to 0."""
    warm = max(1, round(warmup * total))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def layer_rates(lr_top: float, n_layers: int, factor: float = PAPER_FACTOR) -> list[float]:
    """Rates bottom -> top: the top layer gets ``lr_top``, each layer below 1 / ``factor`` of the one above."""
    if n_layers < 1 or factor <= 0:
        raise InputError(f"need n_layers >= 1 and factor > 0; got {n_layers}, {factor}")
    return [lr_top / factor ** (n_layers - 1 - i) for i in range(n_layers)]


def discriminative_param_groups(layers: Sequence[nn.Module], lr_top: float, factor: float = PAPER_FACTOR) -> list[dict]:
    """One optimizer parameter group per layer (``layers`` ordered bottom -> top).

    All parameters are included, frozen or not, so that unfreezing later needs no new
    optimizer (a frozen parameter has no gradient and the optimizer skips it).
    ``factor=1`` gives every layer the same rate.
    """
    rates = layer_rates(lr_top, len(layers), factor)
    return [{"params": list(layer.parameters()), "lr": rate} for layer, rate in zip(layers, rates, strict=True)]


# ---------------------------------------------------------------- gradual unfreezing


def unfreeze_next(layers: Sequence[nn.Module]) -> int | None:
    """One gradual-unfreezing step: unfreeze the topmost layer group that is still frozen.

    ``layers`` is ordered bottom -> top. Returns the index unfrozen, or ``None`` when all
    groups were already trainable.
    """
    for i in range(len(layers) - 1, -1, -1):
        if not is_trainable(layers[i]):
            set_requires_grad(layers[i], True)
            return i
    return None


class GradualUnfreezer:
    """Freeze all but the top group, then unfreeze one more group every ``every`` steps.

    ULMFiT unfreezes one group per epoch; on a short budget a step count plays that role.
    Call :meth:`step` once per batch, *before* the forward pass.
    """

    def __init__(self, layers: Sequence[nn.Module], every: int):
        if every < 1:
            raise InputError(f"every must be at least 1, got {every}")
        self.layers = list(layers)
        self.every = every
        self.t = 0
        for layer in self.layers[:-1]:
            set_requires_grad(layer, False)
        set_requires_grad(self.layers[-1], True)

    @property
    def n_trainable(self) -> int:
        return sum(is_trainable(layer) for layer in self.layers)

    def step(self) -> int | None:
        """Advance one batch; unfreeze the next group when a period has passed."""
        self.t += 1
        if self.t > 1 and (self.t - 1) % self.every == 0:
            return unfreeze_next(self.layers)
        return None


# ---------------------------------------------------------------- concat pooling


def concat_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ULMFiT's pooled classifier input: last real state, max and mean over real positions.

    ``hidden`` is (batch, time, dim), ``mask`` (batch, time) with 1 for tokens and 0 for padding
    (right padding). Returns (batch, 3 * dim).
    """
    if hidden.ndim != 3 or mask.shape != hidden.shape[:2]:
        raise InputError(f"hidden must be (B, T, D) and mask (B, T); got {tuple(hidden.shape)} and {tuple(mask.shape)}")
    m = mask.to(hidden.dtype).unsqueeze(-1)
    lengths = mask.long().sum(1).clamp_min(1)
    last = hidden[torch.arange(hidden.shape[0], device=hidden.device), lengths - 1]
    maxed = hidden.masked_fill(m == 0, float("-inf")).amax(1)
    mean = (hidden * m).sum(1) / m.sum(1).clamp_min(1)
    return torch.cat([last, maxed, mean], dim=-1)


# ---------------------------------------------------------------- widgets


def plot_stlr(T: int = 1000, cut_frac: float = PAPER_CUT_FRAC, ratio: float = PAPER_RATIO, lr_max: float = PAPER_LR_MAX, ax=None):
    """eta_t over the iterations, with the cut marked."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    eta = stlr_curve(T, cut_frac, ratio, lr_max)
    ax.plot(np.arange(T), eta)
    cut = math.floor(T * cut_frac)
    ax.axvline(cut, color="grey", ls="--", lw=1, label=f"cut = {cut}")
    ax.set(xlabel="iteration t", ylabel="learning rate $\\eta_t$", title=f"STLR: peak {lr_max:.1e}, lowest {eta.min():.1e}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax


def plot_layer_rates(lr_top: float, names: Sequence[str], factor: float = PAPER_FACTOR, ax=None):
    """Bar chart (log scale) of each layer's discriminative rate, bottom layer first."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    rates = layer_rates(lr_top, len(names), factor)
    ax.bar(list(names), rates)
    ax.set_yscale("log")
    ax.set(ylabel="learning rate", title=f"factor {factor:.2f}: bottom layer {rates[0]:.1e}, top {rates[-1]:.1e}")
    ax.tick_params(axis="x", rotation=30)
    ax.grid(axis="y", alpha=0.3)
    ax.figure.tight_layout()
    return ax


def stlr_explorer():
    """Sliders for T, cut_frac, ratio and peak rate; the plot of eta_t follows them
    (``panel.result`` is the Axes drawn last)."""
    controls = {
        "T": w.IntSlider(value=1000, min=20, max=5000, step=20, description="iterations T", continuous_update=False),
        "cut_frac": w.FloatSlider(value=0.1, min=0.02, max=0.9, step=0.02, description="cut_frac", continuous_update=False),
        "ratio": w.IntSlider(value=32, min=1, max=128, description="ratio", continuous_update=False),
        "lr_max": log_slider("peak rate", 0.01, 1e-5, 1e-1),
    }

    def draw(T, cut_frac, ratio, lr_max):
        if math.floor(T * cut_frac) < 1:
            raise InputError("T * cut_frac < 1: no warm-up iterations; raise T or cut_frac")
        return plot_stlr(T, cut_frac, ratio, lr_max)

    return live_panel(controls, draw, rows=[["T", "cut_frac"], ["ratio", "lr_max"]])


MINILM_GROUP_NAMES = ["embeddings", "layer 1", "layer 2", "layer 3", "layer 4", "layer 5", "layer 6", "head"]


def discriminative_explorer(names: Sequence[str] = MINILM_GROUP_NAMES):
    """A factor slider and a peak-rate slider; the chart shows each layer's rate
    (``panel.result`` is the Axes drawn last)."""
    controls = {
        "factor": w.FloatSlider(value=PAPER_FACTOR, min=1.0, max=4.0, step=0.1, description="factor", continuous_update=False),
        "lr_top": log_slider("top rate", 1e-3, 1e-5, 1e-1),
    }
    return live_panel(controls, lambda factor, lr_top: plot_layer_rates(lr_top, names, factor))


def widget_demo():
    """The lesson's STLR explorer (pure arithmetic: builds at once)."""
    return stlr_explorer()
