"""Lesson 07's widgets: a patch grid over a photo with a patch-size slider, and an explorer of
the CLS token's attention per layer and head."""

from __future__ import annotations

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from course_lib.data import skimage_photos
from course_lib.vit.dinov2 import HEADS, LAYERS, PATCH
from course_lib.vit.features import attentions, cls_attention_maps
from course_lib.vit.inputs import photo_pixels, preprocess_photo

# ---------------------------------------------------------------- widgets


def draw_patch_grid(ax, image: np.ndarray, patch: int, size: int = 224) -> int:
    """Show a photo (resized and cropped to ``size``) with a patch x patch grid; return the number of patches."""
    pix = photo_pixels(preprocess_photo(image, size))
    ax.imshow(pix)
    for t in range(0, size + 1, patch):
        ax.axhline(t - 0.5, color="white", lw=0.6)
        ax.axvline(t - 0.5, color="white", lw=0.6)
    n = (size // patch) ** 2
    ax.set(title=f"{size // patch} x {size // patch} = {n} patches of {patch} px", xlabel="x (pixels)", ylabel="y (pixels)")
    return n


def patch_size_widget(photos: dict[str, np.ndarray]):
    """Patch size slider (and a photo picker) over a grid drawn on the photo; shows the token count."""
    patch = w.SelectionSlider(options=[8, 14, 16, 28, 32, 56], value=14, description="patch px", continuous_update=False)
    name = w.Dropdown(options=list(photos), description="photo")
    info = w.HTML()
    out = w.Output()

    def show(change=None):
        n = (224 // patch.value) ** 2
        info.value = f"{n} patch tokens + 1 CLS token; attention compares {(n + 1) ** 2:,} pairs per head"
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(4, 4))
            draw_patch_grid(ax, photos[name.value], patch.value)
            plt.show()

    patch.observe(show, names="value")
    name.observe(show, names="value")
    show()
    return w.VBox([w.HBox([name, patch]), info, out])


class AttentionExplorer:
    """Attention maps of the CLS token for a chosen photo, layer and head (cached per photo)."""

    def __init__(self, model: nn.Module, photos: dict[str, np.ndarray], size: int = 224):
        self.model, self.photos, self.size = model, photos, size
        self._cache: dict[str, tuple[np.ndarray, torch.Tensor]] = {}

    def maps(self, name: str) -> tuple[np.ndarray, torch.Tensor]:
        """(pixels, layers x heads x g x g CLS attention) for one photo."""
        if name not in self._cache:
            x = preprocess_photo(self.photos[name], self.size)
            self._cache[name] = (photo_pixels(x), cls_attention_maps(attentions(self.model, x), self.size // PATCH))
        return self._cache[name]

    def plot(self, name: str, layer: int, head: int | str):
        pix, maps = self.maps(name)
        m = maps[layer - 1].mean(0) if head == "mean" else maps[layer - 1, int(head)]
        fig, ax = plt.subplots(1, 2, figsize=(7, 3.4))
        ax[0].imshow(pix)
        ax[0].set(title=name, xlabel="x (pixels)", ylabel="y (pixels)")
        im = ax[1].imshow(m.numpy(), cmap="inferno")
        ax[1].set(title=f"CLS attention, layer {layer}, head {head}", xlabel="patch column", ylabel="patch row")
        fig.colorbar(im, ax=ax[1], fraction=0.046, label="attention weight")
        fig.tight_layout()
        plt.show()

    def widget(self):
        name = w.Dropdown(options=list(self.photos), description="photo")
        layer = w.IntSlider(value=LAYERS, min=1, max=LAYERS, description="layer", continuous_update=False)
        head = w.Dropdown(options=["mean", *range(HEADS)], value="mean", description="head")
        out = w.interactive_output(self.plot, {"name": name, "layer": layer, "head": head})
        return w.VBox([w.HBox([name, layer, head]), out])


def widget_demo():
    """The lesson's cheapest widget: a patch-size slider over two skimage photos (no model needed)."""
    return patch_size_widget(skimage_photos(["chelsea", "astronaut"]))
