"""Plotting helpers: labelled axes, small figures, nothing hidden."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


def plot_curves(
    x: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    xlabel: str,
    ylabel: str,
    title: str = "",
    logx: bool = False,
    chance: float | None = None,
    ax=None,
):
    """Several named curves over a shared x axis (e.g. accuracy vs labels per class)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.8))
    for name, ys in curves.items():
        ax.plot(x, ys, marker="o", label=name)
    if chance is not None:
        ax.axhline(chance, color="grey", ls="--", lw=1, label="chance")
    if logx:
        ax.set_xscale("log")
        ax.set_xticks(list(x))
        ax.set_xticklabels([str(v) for v in x])
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax


def show_images(images, titles: Sequence[str] | None = None, ncols: int = 8, size: float = 1.4, cmap="gray"):
    """A grid of images (H x W or H x W x 3 arrays), each with an optional title."""
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(np.asarray(images[i]), cmap=cmap)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def bar_table(labels: Sequence[str], values: Sequence[float], ylabel: str, title: str = "", ax=None, highlight: int | None = None):
    """A labelled bar chart; ``highlight`` colours one bar."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    colors = ["tab:blue"] * len(values)
    if highlight is not None:
        colors[highlight] = "tab:orange"
    ax.bar(labels, values, color=colors)
    ax.set(ylabel=ylabel, title=title)
    ax.grid(axis="y", alpha=0.3)
    ax.tick_params(axis="x", rotation=20)
    ax.figure.tight_layout()
    return ax
