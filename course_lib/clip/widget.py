"""Lesson 08's widgets: a zero-shot gallery with typed class names, and a temperature slider."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np
import torch

from course_lib.clip.model import ClipHeads, class_embeddings, image_features, load_heads
from course_lib.clip.pairs import load_pairs, make_split
from course_lib.errors import InputError
from course_lib.training import softmax_with_temperature
from course_lib.widgets import live_panel, log_slider


def _parse_names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def zero_shot_gallery_widget(heads: ClipHeads, images: np.ndarray, image_feats: torch.Tensor,
                             class_names: str = "cat, dog, apple, clock, tree",
                             template: str = "an icon of a {}", temperature: float | None = None):
    """Type class names (comma separated) and a prompt template: each gallery image shows its
    top prediction and probability. Only the few typed prompts go through MiniLM on a change.
    ``panel.result`` holds the predicted class name of each image."""
    img_emb = heads.encode_image(image_feats).detach()
    controls = {
        "names": w.Text(value=class_names, description="classes", continuous_update=False, layout=w.Layout(width="520px")),
        "template": w.Text(value=template, description="template", continuous_update=False, layout=w.Layout(width="520px")),
        "temperature": log_slider("temperature", temperature or heads.temperature, 10**-2.5, 1.0, readout_format=".3f"),
    }

    def render(names: str, template: str, temperature: float) -> list[str]:
        names = _parse_names(names)
        if len(names) < 2:
            raise InputError("type at least two class names, separated by commas")
        probs = softmax_with_temperature(img_emb @ class_embeddings(heads, names, [template]).T, temperature)
        ncols = min(8, len(images))
        nrows = int(np.ceil(len(images) / ncols))
        fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.9 * nrows), squeeze=False)
        predicted = []
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < len(images):
                p, j = probs[i].max(0)
                predicted.append(names[int(j)])
                ax.imshow(images[i])
                ax.set_title(f"{names[int(j)]}\n{float(p):.0%}", fontsize=8)
        fig.tight_layout()
        return predicted

    return live_panel(controls, render, rows=[["names"], ["template"], ["temperature"]])


def temperature_widget(similarities: torch.Tensor, class_names: Sequence[str], image: np.ndarray | None = None,
                       temperature: float = 0.07):
    """A temperature slider over one image's cosine similarities: watch the softmax sharpen.
    ``panel.result`` holds the probabilities drawn last."""
    sims = torch.as_tensor(similarities).float().flatten()
    if len(sims) != len(class_names):
        raise InputError(f"{len(sims)} similarities for {len(class_names)} class names")

    def render(temperature: float) -> np.ndarray:
        probs = softmax_with_temperature(sims, temperature).numpy()
        ncol = 2 if image is not None else 1
        fig, axes = plt.subplots(1, ncol, figsize=(3.2 * ncol + 2, 2.8), squeeze=False,
                                 gridspec_kw={"width_ratios": [1, 3] if image is not None else [1]})
        if image is not None:
            axes[0, 0].imshow(image)
            axes[0, 0].axis("off")
        ax = axes[0, -1]
        ax.bar(list(class_names), probs * 100, color="tab:blue")
        ax.set(ylabel="probability (%)", ylim=(0, 100), title=f"T = {temperature:.3f}: max {probs.max():.0%}")
        ax.tick_params(axis="x", rotation=30)
        fig.tight_layout()
        return probs

    slider = log_slider("temperature", temperature, 10**-2.5, 10**0.5, readout_format=".3f")
    return live_panel({"temperature": slider}, render)


def widget_demo():
    """A cheap lesson-08 widget for the browser check: the temperature slider over the real
    model's similarities of one emoji to five class names (a few seconds: two small tower calls)."""
    heads, _, _ = load_heads()
    pairs = load_pairs()
    split = make_split(pairs.captions)
    names = ["cat", "dog", "apple", "clock", "tree"]
    i = int(split.concept_test[split.concept_labels == 0][0])
    img = pairs.images[i : i + 1]
    with torch.no_grad():
        emb = heads.encode_image(image_features(img, progress=False))
        sims = (emb @ class_embeddings(heads, names, ["an icon of a {}"]).T)[0]
    return temperature_widget(sims, names, image=img[0], temperature=heads.temperature)
