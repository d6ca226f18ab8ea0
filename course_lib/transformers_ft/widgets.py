"""Lesson 05's widgets: the frozen-blocks / learning-rate fine-tuning panel and SmolLM2's prompt box."""

from __future__ import annotations

import ipywidgets as W
from IPython.display import HTML, display

from course_lib.textdata import TextSplit
from course_lib.transformers_ft.decoder import generate
from course_lib.transformers_ft.encoder import describe_freezing, finetune_minilm
from course_lib.widgets import ActionButton, Panel, live_panel, log_slider


def finetune_widget(train: TextSplit | None = None, test: TextSplit | None = None, epochs: int = 3):
    """Sliders for the learning rate (log scale) and frozen blocks, and a Train button that
    fine-tunes MiniLM on ``train`` with a progress bar and reports the test accuracy.

    Without data the button is disabled (the count still updates): e.g. for a quick demo.
    ``panel.result`` is the freezing line shown; ``panel.train`` the Train button.
    """
    controls = {"lr": log_slider("learning rate", 5e-5, 1e-6, 1e-2, step=0.25),
                "n_frozen": W.IntSlider(value=0, min=0, max=6, description="frozen blocks", continuous_update=False,
                                        style={"description_width": "initial"})}

    def describe(lr: float, n_frozen: int) -> str:
        line = describe_freezing(n_frozen, lr)
        display(HTML(f"<code>{line}</code>"))
        return line

    def run(progress) -> str:
        res = finetune_minilm(train, test, lr=controls["lr"].value, n_frozen=controls["n_frozen"].value, epochs=epochs,
                              progress=True)
        button.result = res
        return f"test accuracy {res.accuracy:.1%} in {res.seconds:.1f} s ({res.trainable:,} trainable parameters)"

    button = ActionButton(run, disabled=train is None or test is None)
    panel = live_panel(controls, describe, train=button)
    panel.children = [*panel.children, button]
    return panel


def prompt_widget(model, tok):
    """A prompt box for SmolLM2 with max new tokens and temperature (0 = greedy), and a
    Generate button (``panel.generate``); the text appears below it."""
    text = W.Textarea(value="Write one sentence about transfer learning.", layout=W.Layout(width="90%"))
    max_tokens = W.IntSlider(value=40, min=5, max=120, step=5, description="max tokens", continuous_update=False)
    temperature = W.FloatSlider(value=0.0, min=0.0, max=1.5, step=0.1, description="temperature", continuous_update=False)

    def run(progress) -> str:
        print(generate(model, tok, text.value, max_new_tokens=max_tokens.value, temperature=temperature.value))
        return f"generated at most {max_tokens.value} tokens at temperature {temperature.value:g}"

    button = ActionButton(run, description="Generate", icon="pencil")
    return Panel([text, W.HBox([max_tokens, temperature]), button],
                 {"prompt": text, "max_tokens": max_tokens, "temperature": temperature}, button.out, generate=button)


def widget_demo():
    """The frozen-layers / learning-rate widget with a live trainable-parameter count.

    Loads only MiniLM (about a second), not SmolLM2; the Train button is disabled here.
    """
    return finetune_widget(None, None)
