"""The scalar-mix explorer: a slider per layer weight and gamma, the probe refitted live."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np
import torch

from course_lib.corpus import load_brown_tagged
from course_lib.elmo.bilm import load_bilm
from course_lib.elmo.features import UNIVERSAL_TAGS, bilm_token_features, brown_to_universal
from course_lib.elmo.probes import MixProbe, fit_scalar_mix_probe, mix_probe_accuracy
from course_lib.widgets import ActionButton, live_panel, log_slider


def mix_widget(train_layers: torch.Tensor, y_train: torch.Tensor, test_layers: torch.Tensor,
               y_test: torch.Tensor, layer_names: Sequence[str] | None = None, title: str = "",
               learn: Callable[[], MixProbe] | None = None):
    """Sliders for each s_l and gamma; the probe's test accuracy refits live; a 'learn s' button.

    The head refit uses cached features only (LBFGS on a linear head, well under 2 s).
    """
    n = train_layers.shape[0]
    names = list(layer_names or [f"layer {i}" for i in range(n)])
    controls = {f"s{i}": w.FloatSlider(value=0.0, min=-4, max=4, step=0.25, description=f"s[{nm}]",
                                       continuous_update=False, style={"description_width": "110px"},
                                       layout=w.Layout(width="380px")) for i, nm in enumerate(names)}
    controls["gamma"] = log_slider("gamma", 1.0, 1e-2, 10.0, readout_format=".2f", width="380px")
    status = w.HTML()

    def draw(gamma: float, **s_by_layer) -> float:
        s = [s_by_layer[f"s{i}"] for i in range(n)]
        t0 = time.perf_counter()
        acc = mix_probe_accuracy(train_layers, y_train, test_layers, y_test, s, gamma)
        dt = time.perf_counter() - t0
        fig, ax = plt.subplots(figsize=(5.2, 2.6))
        ax.bar(names, torch.softmax(torch.tensor(s), 0).numpy(), color="tab:blue")
        ax.set(ylim=(0, 1), ylabel="softmax(s)", xlabel="layer", title=f"{title} probe accuracy {acc:.1%} (gamma {gamma:.2f})")
        ax.tick_params(axis="x", rotation=20)
        fig.tight_layout()
        status.value = f"<b>accuracy {acc:.1%}</b> &nbsp; head refit in {dt:.2f} s"
        return acc

    def learn_s(progress) -> str:
        probe = learn() if learn is not None else fit_scalar_mix_probe(train_layers, y_train, test_layers, y_test)
        with panel.hold():
            for i, v in enumerate(probe.mix.s.detach().tolist()):
                sl = controls[f"s{i}"]
                sl.value = float(np.clip(v, sl.min, sl.max))
            g = controls["gamma"]
            g.value = float(np.clip(abs(float(probe.mix.gamma)), 10**g.min, 10**g.max))
        return "learned s, gamma and the head from the training tokens"

    panel = live_panel(controls, draw, rows=[list(controls)], status=status)
    panel.learn = ActionButton(learn_s, description="learn s from data", icon="magic")
    # the sliders in a column beside the plot
    panel.children = [w.HBox([w.VBox([*controls.values(), panel.learn, status]), panel.out])]
    return panel


def widget_demo():
    """The scalar-mix widget on the biLM's layers for POS tagging on 120 Brown sentences."""
    lm = load_bilm()
    tagged = load_brown_tagged()[:120]
    words = [[w for w, _ in s] for s in tagged]
    tags = torch.tensor([UNIVERSAL_TAGS.index(brown_to_universal(t)) for s in tagged for _, t in s])
    feats = bilm_token_features(lm, words, progress=False)
    n_train = sum(len(s) for s in words[:80])
    return mix_widget(feats[:, :n_train], tags[:n_train], feats[:, n_train:], tags[n_train:],
                      [f"biLM {i}" for i in range(feats.shape[0])], title="POS")

