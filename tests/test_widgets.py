"""The widget kit (course_lib.widgets) and the tour's explorer (course_lib.tour): each test
checks what a callback does, not only that a control holds the value just set."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from course_lib import tour, training
from course_lib.errors import InputError
from course_lib.widgets import ActionButton, live_panel, log_slider

matplotlib.use("Agg")


def test_log_slider_is_log_scale_and_updates_on_release():
    s = log_slider("lr", 1e-3, 1e-5, 1e-1)
    assert s.base == 10 and s.min == -5 and s.max == -1 and s.continuous_update is False
    assert s.value == pytest.approx(1e-3)


def test_live_panel_redraws_with_every_value_and_holds():
    import ipywidgets as w

    seen = []
    controls = {"a": w.IntSlider(value=1), "b": w.IntSlider(value=2)}
    panel = live_panel(controls, lambda a, b: seen.append((a, b)) or a * b)
    assert panel.result == 2 and panel.updates == 1
    controls["a"].value = 5
    assert panel.result == 10 and seen[-1] == (5, 2)
    with panel.hold():
        controls["a"].value, controls["b"].value = 3, 4
    assert panel.result == 12 and panel.updates == 3, "hold(): one update for two changes"


def test_live_panel_shows_a_course_error_as_one_line(capsys):
    import ipywidgets as w

    def draw(x):
        if x < 0:
            raise InputError("x must be positive")
        return x

    panel = live_panel({"x": w.IntSlider(value=1, min=-3)}, draw)
    panel.controls["x"].value = -1
    assert panel.result is None
    assert "InputError: x must be positive" in capsys.readouterr().out


def test_action_button_runs_once_reports_and_re_enables():
    fractions = []

    def action(progress):
        assert panel.button.disabled, "disabled while running"
        panel.button.click()  # a press while running is ignored, not queued
        for i in range(4):
            progress((i + 1) / 4)
            fractions.append(panel.progress.value)
        return "accuracy 90%"

    panel = ActionButton(action)
    panel.button.click()
    assert panel.runs == 1 and fractions == [0.25, 0.5, 0.75, 1.0]
    assert panel.message == "accuracy 90%" and "accuracy 90%" in panel.status.value
    assert not panel.button.disabled and panel.progress.bar_style == "success"


def test_action_button_course_error_and_crash():
    def bad(progress):
        raise InputError("nothing to train")

    panel = ActionButton(bad)
    panel.button.click()
    assert panel.message == "InputError: nothing to train" and not panel.button.disabled
    assert panel.progress.bar_style == "danger"

    def crash(progress):
        raise RuntimeError("boom")

    panel = ActionButton(crash)
    panel.button.click()  # ipywidgets logs the traceback (in a notebook: shown in the output)
    assert not panel.button.disabled and panel.message == "failed: RuntimeError: boom"


def test_softmax_with_temperature():
    logits = torch.tensor([2.0, 1.0, 0.0])
    np.testing.assert_allclose(training.softmax_with_temperature(logits), torch.softmax(logits, 0))
    sharp, flat = training.softmax_with_temperature(logits, 0.1), training.softmax_with_temperature(logits, 10.0)
    assert sharp[0] > 0.99 and flat.max() - flat.min() < 0.1
    assert training.softmax_with_temperature(np.array([1.0, 1.0])).dtype == torch.float64
    with pytest.raises(InputError):
        training.softmax_with_temperature(logits, 0.0)


def test_topk_explorer_follows_photo_and_temperature():
    logits = {"a": torch.tensor([1.0, 3.0, 2.0]), "b": torch.tensor([0.0, 0.0, 5.0])}
    panel = tour.topk_explorer(logits, ["x", "y", "z"], k=2)
    assert [n for n, _ in panel.result] == ["y", "z"]
    panel.controls["photo"].value = "b"
    assert panel.result[0][0] == "z" and panel.result[0][1] > 0.98
    panel.controls["temperature"].value = 10.0
    assert 0.4 < panel.result[0][1] < 0.5, "a high temperature flattens the distribution"
    assert tour.topk(np.array([0.1, 0.7, 0.2]), ["x", "y", "z"], 2) == [("y", 0.7), ("z", 0.2)]
