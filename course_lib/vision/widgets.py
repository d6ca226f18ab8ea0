"""Lesson 01's widgets: freeze toggles per block, learning-rate sliders, a Train panel and a
labels-per-class slider for the linear probe. They only wire the package's functions together."""

from __future__ import annotations

import time
from collections.abc import Callable

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from course_lib import data as cdata
from course_lib import models
from course_lib.errors import CourseError, InputError
from course_lib.training import History
from course_lib.vision.blocks import (
    BLOCKS,
    DEFAULT_SIZE,
    NUM_CLASSES,
    freeze_all_but_classifier,
    parameter_summary,
    replace_classifier,
    train_blocks,
)
from course_lib.vision.features import probe_accuracy
from course_lib.vision.finetune import finetune_efficientnet
from course_lib.widgets import ActionButton, log_slider


def freeze_panel(model: nn.Module):
    """One toggle per block; the trainable-parameter count and percentage update at once."""
    summary = parameter_summary(model)
    label = W.HTML()
    toggles = {}

    def refresh(*_):
        s = parameter_summary(model)
        text = s.line()
        if s.trainable == 0:
            text += " &mdash; everything is frozen: training would change nothing"
        label.value = f"<b>{text}</b>"

    def on_change(_change):
        train_blocks(model, [b for b, t in toggles.items() if t.value])
        refresh()

    for b in BLOCKS:
        t_count, total = summary.per_block[b]
        tb = W.ToggleButton(
            value=t_count > 0, description=b, tooltip=f"{total:,} parameters",
            layout=W.Layout(width="92px"),
        )  # fmt: skip
        tb.observe(on_change, names="value")
        toggles[b] = tb
    refresh()
    box = W.VBox([W.HTML("Pressed = trainable (unfrozen)."), W.HBox(list(toggles.values())), label])
    box.toggles = toggles  # for tests and the notebook
    box.label = label
    box.model = model
    return box


def lr_sliders(head_lr: float = 1e-3, backbone_lr: float = 1e-4):
    """Two log-scale sliders: the classifier's and the backbone's learning rates."""
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
