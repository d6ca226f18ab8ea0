"""Tests for course_lib.vision (lesson 01): freezing, parameter groups, caching, training, widgets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from course_lib import assets, data, models, vision
from course_lib.errors import InputError
from course_lib.training import count_parameters, fit


@pytest.fixture(scope="module")
def net():
    m = models.load_efficientnet_lite0(pretrained=True)
    vision.replace_classifier(m, 10)
    return m


def test_blocks_cover_every_parameter(net):
    s = vision.parameter_summary(net)
    assert s.total == count_parameters(net, trainable_only=False)
    assert set(s.per_block) == set(vision.BLOCKS)
    assert all(total > 0 for _, total in s.per_block.values())
    assert s.per_block["classifier"][1] == 1280 * 10 + 10


def test_set_trainable_and_feature_extraction(net):
    n = vision.freeze_all_but_classifier(net)
    assert n == 12810 == count_parameters(net)
    s = vision.parameter_summary(net)
    assert s.percent == pytest.approx(100 * 12810 / s.total)
    vision.set_trainable(net, ["stage7", "classifier"])
    assert count_parameters(net) == s.per_block["stage7"][1] + 12810
    vision.set_trainable(net, vision.BLOCKS)
    assert count_parameters(net) == s.total
    with pytest.raises(InputError):
        vision.set_trainable(net, ["stage8"])


def test_top_blocks():
    assert vision.top_blocks(1) == ["classifier"]
    assert vision.top_blocks(3) == ["stage7", "head", "classifier"]
    with pytest.raises(InputError):
        vision.top_blocks(0)


def test_parameter_groups_discriminative(net):
    vision.set_trainable(net, ["stage6", "stage7", "head", "classifier"])
    groups = vision.parameter_groups(net, head_lr=1e-3, backbone_lr=1e-4, decay=0.5)
    names = [g["name"] for g in groups]
    assert names == ["classifier", "head", "stage7", "stage6"]
    lrs = [g["lr"] for g in groups]
    assert lrs == pytest.approx([1e-3, 1e-4, 5e-5, 2.5e-5])
    n_in_groups = sum(p.numel() for g in groups for p in g["params"])
    assert n_in_groups == count_parameters(net)
    vision.set_trainable(net, [])
    with pytest.raises(InputError, match="nothing to train"):
        vision.parameter_groups(net, 1e-3, 1e-4)
    with pytest.raises(InputError):
        vision.parameter_groups(net, -1.0, 1e-4)


def test_everything_frozen_trains_nothing(net):
    vision.set_trainable(net, [])
    x = torch.zeros(2, 3, 32, 32)
    with pytest.raises(InputError, match="nothing to train"):
        fit(net, [(x, torch.zeros(2, dtype=torch.long))], epochs=1, progress=False)


def test_replace_classifier_shapes():
    m = models.load_efficientnet_lite0(pretrained=True)
    head = vision.replace_classifier(m, 7, seed=1)
    assert m._fc is head and head.out_features == 7 and head.in_features == 1280
    with torch.no_grad():
        assert m.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 7)
    with pytest.raises(InputError):
        vision.replace_classifier(m, 1)


def test_feature_cache_and_probe(net):
    vision.clear_feature_cache()
    pool = data.animal_train_subset(3)
    f1 = vision.extract_features(net, pool.images, size=64, progress=False)
    f2 = vision.extract_features(net, pool.images, size=64, progress=False)
    assert f1 is f2 and f1.shape == (30, 1280)
    assert torch.isfinite(f1).all()
    # a probe fitted and tested on the same 30 images separates them
    acc = vision.probe_accuracy(f1, pool.labels, f1, pool.labels, k=3)
    assert acc > 0.9
    with pytest.raises(InputError, match="only 3"):
        vision.probe_accuracy(f1, pool.labels, f1, pool.labels, k=4)


def test_first_k_per_class_nested():
    labels = np.array([0, 1, 0, 1, 0, 1, 2, 2, 2])
    assert list(vision.first_k_per_class(labels, 1)) == [0, 1, 6]
    assert set(vision.first_k_per_class(labels, 1)) <= set(vision.first_k_per_class(labels, 2))
    with pytest.raises(InputError):
        vision.first_k_per_class(labels, 0)


def test_augmented_loader_is_seeded_and_shapes_hold():
    x = torch.arange(5 * 3 * 8 * 8, dtype=torch.float32).reshape(5, 3, 8, 8)
    y = torch.arange(5)
    a = list(vision.AugmentedLoader(x, y, batch_size=2, shift=1, flip=True, seed=3))
    b = list(vision.AugmentedLoader(x, y, batch_size=2, shift=1, flip=True, seed=3))
    assert len(a) == 3 and [len(t[1]) for t in a] == [2, 2, 1]
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert xa.shape[1:] == (3, 8, 8)


def test_small_cnn_size_and_learns_a_little():
    m = vision.SmallCNN()
    assert 60_000 < count_parameters(m) < 90_000
    train = data.animal_train_subset(5)
    test = data.animal_test_set(per_class=10)
    _, res = vision.train_small_cnn(
        train,
        vision.small_cnn_inputs(test.images),
        test.labels,
        epochs=1,
        min_steps=40,
        progress=False,
    )
    assert res.test_acc > 0.2  # chance is 0.1


def test_finetune_runs_and_records_config():
    train = data.animal_train_subset(1)
    test = data.animal_test_set(per_class=2)
    tx = vision.efficientnet_inputs(test.images, 32)
    model, res = vision.finetune_efficientnet(
        train,
        tx,
        test.labels,
        blocks=["head", "classifier"],
        epochs=1,
        min_steps=1,
        size=32,
        progress=False,
    )
    assert 0.0 <= res.test_acc <= 1.0
    assert res.trainable == vision.parameter_summary(model).trainable
    assert res.config["blocks"] == ["head", "classifier"] and res.config["keep_bn_eval"] is True


def test_bn_eval_keeps_running_stats():
    train = data.animal_train_subset(1)
    test = data.animal_test_set(per_class=1)
    tx = vision.efficientnet_inputs(test.images, 32)
    ref = models.load_efficientnet_lite0(pretrained=True)
    before = ref._bn0.running_mean.clone()
    for keep, changes in ((True, False), (False, True)):
        m = models.load_efficientnet_lite0(pretrained=True)
        vision.replace_classifier(m, 10)
        vision.finetune_efficientnet(
            train,
            tx,
            test.labels,
            model=m,
            epochs=1,
            min_steps=1,
            size=32,
            keep_bn_eval=keep,
            progress=False,
        )
        assert (not torch.equal(m._bn0.running_mean, before)) == changes


def test_freeze_panel_updates_count():
    m = models.load_efficientnet_lite0(pretrained=True)
    vision.replace_classifier(m, 10)
    vision.freeze_all_but_classifier(m)
    panel = vision.freeze_panel(m)
    assert panel.toggles["classifier"].value and not panel.toggles["stage7"].value
    assert "12,810" in panel.label.value
    panel.toggles["stage7"].value = True
    assert count_parameters(m) == 12810 + vision.parameter_summary(m).per_block["stage7"][1]
    assert f"{count_parameters(m):,}" in panel.label.value
    for t in panel.toggles.values():
        t.value = False
    assert count_parameters(m) == 0 and "everything is frozen" in panel.label.value


def test_lr_sliders_are_log_scale():
    head, back = vision.lr_sliders(1e-3, 1e-4)
    assert head.value == pytest.approx(1e-3) and back.value == pytest.approx(1e-4)
    assert head.base == 10 and head.continuous_update is False


def test_train_panel_everything_frozen_says_so():
    def factory():
        m = models.load_efficientnet_lite0(pretrained=True)
        vision.replace_classifier(m, 10)
        return m

    train = data.animal_train_subset(1)
    test = data.animal_test_set(per_class=1)
    panel = vision.train_panel(
        factory, train, vision.efficientnet_inputs(test.images, 32), test.labels, size=32
    )
    for t in panel.freezer.toggles.values():
        t.value = False
    panel.button.click()
    assert "nothing to train" in panel.message
    assert panel.button.disabled is False


def test_train_panel_trains_head(monkeypatch):
    def factory():
        m = models.load_efficientnet_lite0(pretrained=True)
        vision.replace_classifier(m, 10)
        vision.freeze_all_but_classifier(m)
        return m

    train = data.animal_train_subset(1)
    test = data.animal_test_set(per_class=1)
    panel = vision.train_panel(
        factory, train, vision.efficientnet_inputs(test.images, 32), test.labels, epochs=1, size=32
    )
    panel.button.click()
    assert panel.message.startswith("test accuracy") and "12,810 trainable" in panel.message


def test_probe_slider_refits_and_reports_bad_k():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 5)
    feats = torch.as_tensor(rng.normal(size=(50, 16)) + labels[:, None] * 0.5, dtype=torch.float32)
    box = vision.probe_slider(feats, labels, feats, labels, k=2, max_k=8)
    assert box.accuracy is not None and "k =   2" in box.text
    box.slider.value = 5
    assert "k =   5" in box.text and box.accuracy > 0.5
    box.slider.value = 8
    assert box.accuracy is None and "only 5" in box.text


def test_widget_demo():
    w = vision.widget_demo()
    before = w.label.value
    w.toggles["head"].value = True
    assert w.label.value != before


def test_committed_curve_is_consistent():
    curve = json.loads(assets.path("lesson01-curve").read_text())
    ks, seeds = curve["config"]["ks"], curve["config"]["seeds"]
    for m, per_k in curve["mean_test_acc"].items():
        for k in ks:
            runs = [r["test_acc"] for r in curve["runs"] if r["method"] == m and r["k"] == k]
            assert runs, (m, k)
            assert per_k[str(k)] == pytest.approx(np.mean(runs), abs=1e-4)
    assert len(seeds) >= 3
    assert curve["made_by"] == "scripts/lesson01_curve.py"


@pytest.mark.slow
def test_slow_recheck_committed_curve():
    """Re-run part of scripts/lesson01_curve.py (seed 0) on this machine and compare."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "lesson01_curve", assets.REPO_ROOT / "scripts" / "lesson01_curve.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    curve = json.loads(assets.path("lesson01-curve").read_text())
    committed = {(r["method"], r["k"], r["seed"]): r["test_acc"] for r in curve["runs"]}
    test = data.animal_test_set()
    cache: dict = {}
    # (method, k, tolerance): the probe is nearly deterministic; training runs differ by device
    for method, k, tol in [("probe", 10, 0.02), ("probe", 100, 0.02), ("small_cnn", 10, 0.08),
                           ("finetune", 10, 0.06)]:  # fmt: skip
        acc = script.run_one(method, k, 0, curve["config"], test, cache, torch.device("cpu"))
        assert abs(acc - committed[(method, k, 0)]) < tol, (
            method,
            k,
            acc,
            committed[(method, k, 0)],
        )
