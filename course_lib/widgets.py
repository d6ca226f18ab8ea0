"""The course's widget kit.

Logic stays in plain functions (tested without a browser); widgets only wire them, with one
kit: :func:`log_slider` (the one log-scale slider), :class:`Panel` (a widget with named
handles), :func:`live_panel` (controls and an output redrawn on each change) and
:class:`ActionButton` (the one Train button: progress bar, disabled while running, a
:class:`~course_lib.errors.CourseError` as one line).
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable, Mapping, Sequence

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np

from course_lib.errors import CourseError


def log_slider(description: str, value: float, lo: float, hi: float, step: float = 0.1,
               readout_format: str = ".1e", width: str | None = None) -> w.FloatLogSlider:
    """The course's one log-scale slider: ``lo`` to ``hi`` (base 10), updates on release."""
    return w.FloatLogSlider(
        value=value,
        base=10,
        min=float(np.log10(lo)),
        max=float(np.log10(hi)),
        step=step,
        description=description,
        continuous_update=False,
        readout_format=readout_format,
        style={"description_width": "initial"},
        layout=w.Layout(width=width) if width else w.Layout(),
    )


class Panel(w.VBox):
    """A lesson widget with named handles, for notebooks and tests (no ``children[0].children[0]``).

    ``controls`` holds the inputs by name, ``out`` the output area, ``result`` what the last
    update returned (an Axes, an accuracy, ...) and ``updates`` how many updates ran. Keyword
    arguments become further handles (``panel.button``, ``panel.freezer``, ...).
    """

    def __init__(self, children: Sequence[w.Widget], controls: Mapping[str, w.Widget] | None = None,
                 out: w.Output | None = None, **handles):
        super().__init__(list(children))
        self.controls = dict(controls or {})
        self.out = out
        self.result = None
        self.updates = 0
        for name, handle in handles.items():
            setattr(self, name, handle)


def _show_new_figures(before: set[int]) -> None:
    """Show the figures made since ``before`` (inline in a notebook), then close them."""
    plt.show()
    for num in set(plt.get_fignums()) - before:
        plt.close(num)


def live_panel(controls: Mapping[str, w.ValueWidget], draw: Callable[..., object],
               rows: Sequence[Sequence[str]] | None = None, **handles) -> Panel:
    """Controls and an output that ``draw(**values)`` refills whenever a control changes.

    ``draw`` receives every control's value by name and may plot (its figures are shown) or
    print; what it returns is kept as ``panel.result``. A :class:`CourseError` it raises shows
    as one line. ``rows`` lays the controls out (names per row; default one row).
    ``with panel.hold(): ...`` sets several controls with one update at the end.
    """
    out = w.Output()
    layout = [w.HBox([controls[n] for n in row]) for row in (rows or [list(controls)])]
    panel = Panel([*layout, out], controls, out, **handles)

    def update(*_):
        if panel.held:
            return
        values = {name: c.value for name, c in controls.items()}
        before = set(plt.get_fignums())
        with out:
            out.clear_output(wait=True)
            try:
                panel.result = draw(**values)
            except CourseError as e:
                panel.result = None
                print(f"{type(e).__name__}: {e}")
            _show_new_figures(before)
        panel.updates += 1

    @contextlib.contextmanager
    def hold():
        """Set several controls at once: one update at the end instead of one per control."""
        panel.held = True
        try:
            yield panel
        finally:
            panel.held = False
            update()

    for c in controls.values():
        c.observe(update, names="value")
    panel.held, panel.refresh, panel.hold = False, update, hold
    update()
    return panel


class ActionButton(Panel):
    """The course's one Train button: a button, a progress bar, a status line and an output.

    Each press runs ``action(progress)`` once, where ``progress(fraction)`` moves the bar. The
    button is disabled while the action runs (a second press cannot queue a run) and enabled
    again afterwards, whatever happened. What the action prints or plots goes to ``out``; the
    string it returns becomes the status line (``message``); a :class:`CourseError` becomes one
    clear line there instead of a traceback.
    """

    def __init__(self, action: Callable[[Callable[[float], None]], str | None], description: str = "Train",
                 icon: str = "play", disabled: bool = False):
        self.action = action
        button = w.Button(description=description, button_style="primary", icon=icon, disabled=disabled)
        progress = w.FloatProgress(value=0.0, min=0.0, max=1.0, layout=w.Layout(width="240px"))
        status = w.HTML()
        out = w.Output()
        super().__init__([w.HBox([button, progress]), status, out], out=out, button=button, progress=progress,
                         status=status)
        self.message = ""
        self.runs = 0
        button.on_click(self._press)

    def _set_progress(self, fraction: float) -> None:
        self.progress.value = float(min(max(fraction, 0.0), 1.0))

    def _press(self, _=None) -> None:
        if self.button.disabled:
            return
        self.button.disabled = True
        self.progress.value, self.progress.bar_style = 0.0, "info"
        self.status.value = "<i>running ...</i>"
        self.out.clear_output()
        ok = False
        try:
            with self.out:
                try:
                    result = self.action(self._set_progress)
                    self.message, ok = (result or "done"), True
                except CourseError as e:
                    self.message = f"{type(e).__name__}: {e}"
                except Exception as e:
                    self.message = f"failed: {type(e).__name__}: {e}"
                    raise
        finally:
            self.runs += 1
            self.progress.bar_style = "success" if ok else "danger"
            if ok:
                self.progress.value = 1.0
            self.status.value = f"<b>{html.escape(self.message)}</b>"
            self.button.disabled = False


def pre_html(text: str) -> str:
    """``text`` as preformatted HTML for an ``HTML`` widget (escaped, no margin)."""
    return f"<pre style='margin:0'>{html.escape(text)}</pre>"
