"""Widget helpers shared by the lessons, and the tour's small demo widget.

Logic stays in plain functions (tested without a browser); widgets only wire them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np
import torch


def softmax_with_temperature(logits: torch.Tensor | np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax of ``logits / temperature`` (a higher temperature flattens the distribution)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64) / temperature
    return torch.softmax(z, dim=-1).numpy()


def topk(probs: np.ndarray, names: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The k most probable (name, probability) pairs, most probable first."""
    order = np.argsort(-np.asarray(probs))[:k]
    return [(names[i], float(probs[i])) for i in order]


def log_slider(description: str, value: float, lo: float, hi: float, **kw) -> w.FloatLogSlider:
    """A log-scale slider from ``lo`` to ``hi`` that updates on release (continuous_update=False)."""
    return w.FloatLogSlider(
        value=value,
        base=10,
        min=float(np.log10(lo)),
        max=float(np.log10(hi)),
        step=0.1,
        description=description,
        continuous_update=False,
        readout_format=".1e",
        style={"description_width": "initial"},
        **kw,
    )


def topk_explorer(logits: Mapping[str, torch.Tensor], class_names: list[str], k: int = 5) -> w.Widget:
    """Pick a photo and a softmax temperature; see the model's top-k classes as bars."""
    photo = w.Dropdown(options=list(logits), description="photo")
    temp = log_slider("temperature", 1.0, 0.1, 10.0)

    def show(photo: str, temperature: float) -> None:
        pairs = topk(softmax_with_temperature(logits[photo], temperature), class_names, k)
        fig, ax = plt.subplots(figsize=(5, 2.2))
        ax.barh([n for n, _ in pairs][::-1], [p for _, p in pairs][::-1], color="tab:blue")
        ax.set(xlim=(0, 1), xlabel="probability", title=f"{photo}: top-{k} at T={temperature:.2g}")
        fig.tight_layout()
        plt.show()

    out = w.interactive_output(show, {"photo": photo, "temperature": temp})
    return w.VBox([w.HBox([photo, temp]), out])


def on_click_output(button: w.Button, fn: Callable[[], None]) -> w.Output:
    """An Output area that shows what ``fn`` prints or plots each time ``button`` is clicked."""
    out = w.Output()

    def handler(_):
        out.clear_output(wait=True)
        with out:
            fn()

    button.on_click(handler)
    return out


def widget_demo() -> w.Widget:
    """The tour's top-5 explorer on two skimage photos (loads EfficientNet-Lite0, ~1 s)."""
    from course_lib import data, models

    model = models.load_efficientnet_lite0()
    photos = data.skimage_photos(["chelsea", "coffee"])
    with torch.no_grad():
        logits = {k: model(models.imagenet_preprocess(v))[0] for k, v in photos.items()}
    return topk_explorer(logits, models.imagenet_classes())
