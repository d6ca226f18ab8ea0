"""Lesson 06's widgets and plots: the LoRA rank slider (:func:`widget_demo`), the method
picker over a results table, a small LoRA Train button (:func:`lora_trainer`), and the
accuracy-vs-trained and memory plots.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML, display

from course_lib.peft.layers import lora_parameter_count
from course_lib.peft.table import format_table, run_method
from course_lib.widgets import ActionButton, live_panel, log_slider, pre_html


def lora_count_text(r: int, alpha: float, hidden: int = 384, layers: int = 6, encoder_total: int = 22_713_216) -> str:
    """What the rank widget shows: LoRA's trainable parameters for rank r (query + value)."""
    lora = lora_parameter_count(hidden, hidden, r, n_layers=2 * layers)
    head = 2 * hidden + 2
    total = encoder_total + head + lora
    return (
        f"r = {r}, alpha = {alpha:g}, scaling alpha/r = {alpha / r:.3g}\n"
        f"per projection: A {r} x {hidden} + B {hidden} x {r} = {2 * r * hidden:,} parameters\n"
        f"query + value in {layers} layers: {lora:,}; with the head: {lora + head:,} "
        f"of {total:,} = {100 * (lora + head) / total:.3f} % trained\n"
        f"after merging: 0 extra parameters ({encoder_total + head:,} in all)"
    )



def _show_pre(text: str) -> str:
    display(HTML(pre_html(text)))
    return text


def widget_demo():
    """Rank r and alpha sliders that update LoRA's parameter count at once (no model needed);
    ``panel.result`` is the text shown."""
    controls = {"r": widgets.IntSlider(value=8, min=1, max=64, description="rank r", continuous_update=False),
                "alpha": widgets.FloatSlider(value=16, min=1, max=64, step=1, description="alpha", continuous_update=False)}
    return live_panel(controls, lambda r, alpha: _show_pre(lora_count_text(r, alpha)))


def method_picker(rows: Sequence[dict]):
    """A dropdown of methods that marks (->) the chosen row of a results table
    (``panel.result`` is the text shown)."""
    def show(method: str) -> str:
        row = next(x for x in rows if x["method"] == method)
        return _show_pre(format_table(rows, highlight=method) + f"\n\n{method}: {row['trainable']:,} "
                         f"trainable parameters, {100 * row['accuracy']:.1f} % accuracy")

    return live_panel({"method": widgets.Dropdown(options=[row["method"] for row in rows], description="method")}, show)


def lora_trainer(train_enc: dict[str, torch.Tensor], train_labels, test_batches: Sequence[dict], epochs: int = 2, seed: int = 0):
    """Rank and alpha sliders (parameter count at once) and a Train button that fine-tunes
    MiniLM with LoRA at that rank on the given (small) set, with a progress bar, and reports
    test accuracy (``panel.train.message``; ``panel.train.result`` the run's result). Keep
    the set small: the button should finish in under 30 seconds."""
    controls = {"r": widgets.IntSlider(value=8, min=1, max=32, description="rank r", continuous_update=False),
                "alpha": widgets.FloatSlider(value=16, min=1, max=64, step=1, description="alpha", continuous_update=False),
                "lr": log_slider("lr", 5e-4, 1e-5, 1e-2)}

    def train(progress) -> str:
        r, alpha, lr = (controls[k].value for k in ("r", "alpha", "lr"))
        res, _ = run_method("LoRA", train_enc, train_labels, test_batches, epochs=epochs, lr=lr, r=r, alpha=alpha, seed=seed)
        button.result = res
        return (f"LoRA r={r}, alpha={alpha:g}, lr={lr:.1e}: {res.trainable:,} trainable ({res.percent:.3f} %), "
                f"test accuracy {100 * res.accuracy:.1f} % ({res.seconds_per_epoch:.1f} s per epoch)")

    button = ActionButton(train)
    panel = live_panel(controls, lambda r, alpha, lr: _show_pre(lora_count_text(r, alpha)), train=button)
    panel.children = [*panel.children, button]
    return panel


def plot_tradeoff(rows: Sequence[dict], title: str = "", ax=None):
    """Accuracy against the percentage of parameters trained (log scale), one point per method."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.8))
    for row in rows:
        ax.scatter(row["percent"], 100 * row["accuracy"], s=40)
        ax.annotate(row["method"], (row["percent"], 100 * row["accuracy"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.axhline(50, color="grey", ls="--", lw=1, label="chance")
    ax.set_xscale("log")
    ax.set(xlabel="parameters trained (%, log scale)", ylabel="test accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax


def plot_memory(rows: Sequence[dict], title: str = "", ax=None):
    """Stacked bars of the training-memory accounting (weights, gradients, AdamW, activations)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.4))
    parts = ["weights", "gradients", "optimizer", "activations"]
    bottom = np.zeros(len(rows))
    names = [row["method"] for row in rows]
    for part in parts:
        vals = np.array([row["memory"][part] / 2**20 for row in rows])
        ax.bar(names, vals, bottom=bottom, label=part)
        bottom += vals
    ax.set(ylabel="MB for one training step", title=title)
    ax.tick_params(axis="x", rotation=15)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax
