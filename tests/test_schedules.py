"""Tests for course_lib.schedules: STLR, discriminative groups, gradual unfreezing, concat pooling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from course_lib import schedules, training
from course_lib.errors import InputError


def test_stlr_matches_the_paper_equation():
    T, cut_frac, ratio, lr = 1000, 0.1, 32, 0.01
    cut = 100
    assert schedules.stlr(0, T, cut_frac, ratio, lr) == pytest.approx(lr / ratio)
    assert schedules.stlr(cut, T, cut_frac, ratio, lr) == pytest.approx(lr)
    assert schedules.stlr(50, T, cut_frac, ratio, lr) == pytest.approx(lr * (1 + 0.5 * 31) / 32)
    # after the cut: p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    p = 1 - (550 - cut) / (cut * 9)
    assert schedules.stlr(550, T, cut_frac, ratio, lr) == pytest.approx(lr * (1 + p * 31) / 32)
    assert schedules.stlr(T, T, cut_frac, ratio, lr) == pytest.approx(lr / ratio)


def test_stlr_uses_floor_for_the_cut_and_the_paper_decay_length():
    # T * cut_frac = 10.5 -> cut = 10; decay length cut * (1/cut_frac - 1) = 90, not T - cut = 95
    T = 105
    assert schedules.stlr(10, T, 0.1, 32, 1.0) == pytest.approx(1.0)
    p = 1 - (100 - 10) / 90
    assert schedules.stlr(100, T, 0.1, 32, 1.0) == pytest.approx((1 + p * 31) / 32)


def test_stlr_curve_shape_and_errors():
    eta = schedules.stlr_curve(200, 0.2, 10, 1e-3)
    assert eta.argmax() == 40
    assert np.all(np.diff(eta[:41]) > 0) and np.all(np.diff(eta[40:]) < 0)
    with pytest.raises(InputError):
        schedules.stlr(0, 5, 0.1)  # floor(0.5) = 0 warm-up steps
    with pytest.raises(InputError):
        schedules.stlr(0, 100, 1.5)


def test_stlr_scheduler_scales_each_group_peak():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    opt = torch.optim.SGD([{"params": a.parameters(), "lr": 1.0}, {"params": b.parameters(), "lr": 0.1}], lr=1.0)
    sched = schedules.stlr_scheduler(opt, T=100, cut_frac=0.1, ratio=32)
    seen = []
    for _ in range(100):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    seen = np.array(seen)
    assert seen[10, 0] == pytest.approx(1.0) and seen[10, 1] == pytest.approx(0.1)
    assert seen[0, 0] == pytest.approx(1 / 32)
    np.testing.assert_allclose(seen[:, 1], seen[:, 0] * 0.1)


def test_layer_rates_and_groups():
    rates = schedules.layer_rates(1e-3, 4, 2.6)
    assert rates[-1] == pytest.approx(1e-3)
    for lo, hi in zip(rates, rates[1:], strict=False):
        assert hi / lo == pytest.approx(2.6)
    layers = [nn.Linear(3, 3) for _ in range(4)]
    layers[0].requires_grad_(False)
    groups = schedules.discriminative_param_groups(layers, 1e-3)
    assert [g["lr"] for g in groups] == pytest.approx(rates)
    assert sum(len(g["params"]) for g in groups) == 8  # frozen parameters included
    assert schedules.layer_rates(0.1, 3, 1.0) == pytest.approx([0.1] * 3)


def test_unfreeze_next_goes_top_down():
    layers = [nn.Linear(2, 2) for _ in range(3)]
    for layer in layers:
        training.set_requires_grad(layer, False)
    assert schedules.unfreeze_next(layers) == 2
    assert schedules.unfreeze_next(layers) == 1
    assert [training.is_trainable(x) for x in layers] == [False, True, True]
    assert schedules.unfreeze_next(layers) == 0
    assert schedules.unfreeze_next(layers) is None


def test_gradual_unfreezer_schedule():
    layers = [nn.Linear(2, 2) for _ in range(4)]
    u = schedules.GradualUnfreezer(layers, every=3)
    counts = []
    for _ in range(12):
        u.step()
        counts.append(u.n_trainable)
    assert counts == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]


def test_concat_pool_ignores_padding():
    h = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    h[1, 2:] = 1000.0  # padding values must not leak into max / mean / last
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    out = schedules.concat_pool(h, mask)
    assert out.shape == (2, 9)
    torch.testing.assert_close(out[1, :3], h[1, 1])
    torch.testing.assert_close(out[1, 3:6], h[1, :2].amax(0))
    torch.testing.assert_close(out[1, 6:], h[1, :2].mean(0))
    torch.testing.assert_close(out[0], torch.cat([h[0, 3], h[0].amax(0), h[0].mean(0)]))
    with pytest.raises(InputError):
        schedules.concat_pool(h, mask[:, :3])


def test_stlr_explorer_redraws_the_curve_it_is_set_to():
    import matplotlib

    matplotlib.use("Agg")
    panel = schedules.widget_demo()
    assert panel.updates == 1
    panel.controls["cut_frac"].value = 0.3
    panel.controls["lr_max"].value = 1e-3
    line = panel.result.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), schedules.stlr_curve(1000, 0.3, 32, 1e-3))
    assert panel.result.get_lines()[1].get_xdata()[0] == 300  # the cut, marked
    panel.controls["T"].value = 20
    panel.controls["cut_frac"].value = 0.02  # floor(20 * 0.02) = 0: no warm-up
    assert panel.result is None and panel.updates == 5


def test_discriminative_explorer_draws_each_layers_rate():
    import matplotlib

    matplotlib.use("Agg")
    panel = schedules.discriminative_explorer()
    panel.controls["factor"].value = 1.5
    heights = [bar.get_height() for bar in panel.result.patches]
    np.testing.assert_allclose(heights, schedules.layer_rates(1e-3, 8, 1.5))
    panel.controls["lr_top"].value = 1e-2
    assert math.isclose(panel.result.patches[-1].get_height(), 1e-2, rel_tol=1e-9)


# ---------------------------------------------------------------- course_lib.ulmfit (cheap parts)


def _tiny_lm():
    from course_lib.elmo import BiLM, BiLMConfig

    vocab = ["<pad>", "<unk>", "<eos>"] + [f"w{i}" for i in range(27)]
    torch.manual_seed(0)
    return BiLM(BiLMConfig(vocab_size=len(vocab), proj=8, hidden=16, layers=2), vocab)


def test_recipes_and_summarize():
    from course_lib import ulmfit

    assert ulmfit.RECIPES["constant"].name == "constant rate, all layers"
    assert ulmfit.RECIPES["ulmfit"].name == "ULMFiT (all three)"
    assert ulmfit.RECIPES["no_stlr"].name == "without STLR"
    rows = [{"recipe": "a", "lr": 1e-3, "accuracy": 0.5}, {"recipe": "a", "lr": 1e-3, "accuracy": 0.7}]
    assert ulmfit.summarize(rows) == {"a": {1e-3: pytest.approx(0.6)}}


def test_lm_groups_cover_every_forward_parameter():
    from course_lib import ulmfit

    lm = _tiny_lm()
    groups = ulmfit.lm_layer_groups(lm)
    ids = {id(p) for g in groups for p in g.parameters()}
    wanted = {id(p) for p in [lm.embedding.weight, lm.decoder_bias, *lm.forward_stack.parameters()]}
    assert ids == wanted


def test_domain_finetune_and_classifier_run_on_a_tiny_lm():
    from course_lib import ulmfit

    lm = _tiny_lm()
    rng = np.random.default_rng(0)
    docs = [[f"w{rng.integers(0, 5)}" for _ in range(40)] for _ in range(12)]
    chunks = ulmfit.chunks(docs, 10)
    assert len(chunks) == 48 and all(len(c) == 10 for c in chunks)
    hist = ulmfit.domain_finetune(lm, chunks, chunks[:8], [["w20", "w21", "w22"]] * 4, steps=12, batch_size=8, lr=3e-2, eval_every=6, progress=False)
    assert hist["step"] == [0, 6, 12]
    assert hist["target"][-1] < hist["target"][0]  # the tiny LM learns the 5-word domain
    assert ulmfit.bow_baseline(docs, np.arange(12) % 2, docs, np.arange(12) % 2) == 1.0


def test_lm_classifier_learns_beyond_chance_on_held_out_documents():
    """A tiny random LM whose first five tokens give the label away: both recipes must learn
    it (a classifier stuck at one class scores 0.5 here). The ULMFiT recipe needs more epochs:
    its bottom groups unfreeze one epoch at a time and start at a divided rate."""
    from course_lib import ulmfit

    rng = np.random.default_rng(0)
    labels = np.arange(40) % 2
    docs = [[("w3" if y else "w4")] * 5 + [f"w{rng.integers(0, 5)}" for _ in range(5)] for y in labels]
    plain = ulmfit.train_lm_classifier(_tiny_lm(), docs[:24], labels[:24], docs[24:], labels[24:], ulmfit_recipe=False,
                                       epochs=8, batch_size=4, lr=1e-2, progress=False)
    recipe = ulmfit.train_lm_classifier(_tiny_lm(), docs[:24], labels[:24], docs[24:], labels[24:], ulmfit_recipe=True,
                                        epochs=16, batch_size=4, lr=0.1, progress=False)
    assert plain >= 0.9 and recipe >= 0.9, (plain, recipe)


def test_ablation_trainer_runs_the_chosen_recipe_and_appends_a_row(monkeypatch):
    from course_lib import ulmfit

    calls = []

    def fake(recipe, lr, **kw):
        calls.append((recipe, lr, kw))
        return ulmfit.RecipeRun(recipe.name, lr, 0.8125, 0.01, 1.0, 10)

    monkeypatch.setattr(ulmfit, "finetune_with_recipe", fake)
    rows = []
    panel = ulmfit.ablation_trainer(rows, n_train=16, epochs=1, n_test=8)
    panel.controls["stlr"].value = False
    panel.controls["lr"].value = 3e-3
    panel.train.button.click()
    assert calls[0][0] == ulmfit.Recipe(True, False, True) and calls[0][1] == 3e-3
    assert calls[0][2] == {"n_train": 16, "epochs": 1, "n_test": 8, "progress": True}
    assert rows[-1]["accuracy"] == 0.812 and rows[-1]["recipe"] == ulmfit.Recipe(True, False, True).name
    assert "81.2%" in panel.train.message and not panel.train.button.disabled


def test_warmup_schedules_rise_then_fall_to_zero():
    for make in (lambda o: schedules.warmup_linear_decay(o, 50), lambda o: schedules.warmup_cosine(o, 50, 0.2)):
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
        sched, rates = make(opt), []
        for _ in range(50):
            rates.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        peak = int(np.argmax(rates))
        assert 0 < peak < 15 and rates[peak] == pytest.approx(1.0)
        assert all(a < b for a, b in zip(rates[:peak], rates[1 : peak + 1], strict=True))  # warm-up rises
        assert all(a >= b for a, b in zip(rates[peak:], rates[peak + 1 :], strict=False))  # then falls
        assert rates[-1] < 0.05
