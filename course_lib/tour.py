"""Lesson 00, the tour: a pretrained classifier's top-k classes under a softmax temperature."""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np
import torch

from course_lib import data, models
from course_lib.training import softmax_with_temperature
from course_lib.widgets import Panel, live_panel, log_slider


def topk(probs: torch.Tensor | np.ndarray, names: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The k most probable (name, probability) pairs, most probable first."""
    probs = np.asarray(probs)
    order = np.argsort(-probs, kind="stable")[:k]
    return [(names[i], float(probs[i])) for i in order]


def topk_explorer(logits: Mapping[str, torch.Tensor], class_names: list[str], k: int = 5) -> Panel:
    """Pick a photo and a softmax temperature; see the model's top-k classes as bars.

    ``panel.result`` holds the (name, probability) pairs drawn last."""

    def show(photo: str, temperature: float) -> list[tuple[str, float]]:
        pairs = topk(softmax_with_temperature(logits[photo].double(), temperature), class_names, k)
        fig, ax = plt.subplots(figsize=(5, 2.2))
        ax.barh([n for n, _ in pairs][::-1], [p for _, p in pairs][::-1], color="tab:blue")
        ax.set(xlim=(0, 1), xlabel="probability", title=f"{photo}: top-{k} at T={temperature:.2g}")
        fig.tight_layout()
        return pairs

    controls = {"photo": w.Dropdown(options=list(logits), description="photo"),
                "temperature": log_slider("temperature", 1.0, 0.1, 10.0)}
    return live_panel(controls, show)


def widget_demo() -> Panel:
    """The tour's top-5 explorer on two skimage photos (loads EfficientNet-Lite0, about a second)."""
    model = models.load_efficientnet_lite0()
    photos = data.skimage_photos(["chelsea", "coffee"])
    with torch.no_grad():
        logits = {k: model(models.imagenet_preprocess(v))[0] for k, v in photos.items()}
    return topk_explorer(logits, models.imagenet_classes())
