"""Lesson 09's widgets and plots: :func:`serve_widget` (task, method, a typed sentence, on one
:class:`~course_lib.foundation.serving.TaskServer`) and :func:`footprint_widget` (number of
tasks vs storage); :func:`widget_demo`.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from course_lib.foundation.accounting import footprint, footprint_text, shape_sizes
from course_lib.foundation.serving import TaskServer
from course_lib.widgets import pre_html


def plot_footprint(base_bytes: int, adapter_bytes: int, full_bytes: int, n_tasks: int, max_tasks: int = 50, ax=None):
    """Storage (MB) against the number of tasks for both ways of serving, with ``n_tasks`` marked."""

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    ns = np.arange(1, max_tasks + 1)
    shared = [footprint(base_bytes, adapter_bytes, full_bytes, int(n))["shared"] / 2**20 for n in ns]
    copies = [footprint(base_bytes, adapter_bytes, full_bytes, int(n))["copies"] / 2**20 for n in ns]
    ax.plot(ns, copies, label="N fully fine-tuned copies", color="tab:red")
    ax.plot(ns, shared, label="one base + N LoRA adapters", color="tab:blue")
    now = footprint(base_bytes, adapter_bytes, full_bytes, n_tasks)
    ax.scatter([n_tasks, n_tasks], [now["copies"] / 2**20, now["shared"] / 2**20], color="black", zorder=3)
    ax.set(xlabel="number of tasks N", ylabel="storage (MB)", title=f"N = {n_tasks}: "
           f"{now['copies'] / now['shared']:.1f}x less with one shared base")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax




def prediction_text(server: TaskServer, task: str, method: str, text: str) -> str:
    """What the serving widget shows: the (task, method) pair's class probabilities for ``text``."""
    if not text.strip():
        return "type a sentence"
    probs = server.predict(task, method, text)
    lines = [f"{task} / {method}: '{text}'"]
    lines += [f"  {name:<14} {100 * p:5.1f} %  {'#' * round(30 * p)}" for name, p in probs]
    return "\n".join(lines)


def serve_widget(server: TaskServer, text: str = "The film was a delight from start to finish."):
    """Task and method pickers and a text box on one :class:`TaskServer`: each change swaps that
    task's weights into the shared base and shows its answer. Handles: ``.task``, ``.method``,
    ``.text``, ``.out``."""

    tasks = list(dict.fromkeys(t for t, _ in server.entries))
    methods = list(dict.fromkeys(m for _, m in server.entries))
    task = widgets.Dropdown(options=tasks, description="task")
    method = widgets.Dropdown(options=methods, description="method")
    box_text = widgets.Text(value=text, description="sentence", continuous_update=False,
                            layout=widgets.Layout(width="70%"))
    out = widgets.HTML()

    def show(*_):
        if (task.value, method.value) not in server.entries:
            out.value = pre_html(f"no {method.value} trained for {task.value}")
            return
        out.value = pre_html(prediction_text(server, task.value, method.value, box_text.value))

    for w in (task, method, box_text):
        w.observe(show, names="value")
    show()
    box = widgets.VBox([widgets.HBox([task, method]), box_text, out])
    box.task, box.method, box.text, box.out = task, method, box_text, out
    return box


def footprint_widget(base_bytes: int, adapter_bytes: int, full_bytes: int, n_tasks: int = 3, max_tasks: int = 50):
    """A slider for the number of tasks N that redraws storage against N (one base + N adapters
    vs N full copies) and prints both. Handles: ``.slider``, ``.text``, ``.plot``."""
    slider = widgets.IntSlider(value=n_tasks, min=1, max=max_tasks, description="tasks N", continuous_update=False)
    text = widgets.HTML()
    plot = widgets.Output()

    def show(*_):
        text.value = pre_html(footprint_text(base_bytes, adapter_bytes, full_bytes, slider.value))
        plot.clear_output(wait=True)
        with plot:
            plot_footprint(base_bytes, adapter_bytes, full_bytes, slider.value, max_tasks)
            plt.show()

    slider.observe(show, names="value")
    show()
    box = widgets.VBox([slider, text, plot])
    box.slider, box.text, box.plot = slider, text, plot
    return box


def widget_demo():
    """The number-of-tasks slider over storage, sized from MiniLM's shapes (no model loaded)."""
    return footprint_widget(*shape_sizes())
