"""Lesson 04's regime sweep and forgetting measurement: the library functions behind them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import ulmfit
from course_lib.errors import InputError


def _tiny_lm():
    from course_lib.elmo import BiLM, BiLMConfig

    vocab = ["<pad>", "<unk>", "<eos>"] + [f"w{i}" for i in range(27)]
    torch.manual_seed(0)
    return BiLM(BiLMConfig(vocab_size=len(vocab), proj=8, hidden=16, layers=2), vocab)


@pytest.fixture
def fake_bbc(monkeypatch):
    """80 one-word 'articles' per topic instead of the BBC corpus (never read here)."""
    labels = np.repeat(np.arange(5), 80)
    docs = [[f"w{c}"] for c in labels]
    monkeypatch.setattr(ulmfit, "_BBC", (docs, labels))
    return docs, labels


def test_labelled_sample_is_balanced_outside_the_test_set_and_seeded(fake_bbc):
    _, labels = fake_bbc
    test = set(ulmfit.bbc_split(0)["test"])
    a = ulmfit.bbc_labelled_sample(5, seed=0)
    assert len(a) == 25 and np.bincount(labels[a], minlength=5).tolist() == [5] * 5
    assert not test & set(a)
    assert np.array_equal(a, ulmfit.bbc_labelled_sample(5, seed=0))
    assert not np.array_equal(a, ulmfit.bbc_labelled_sample(5, seed=1))
    assert len(set(ulmfit.bbc_labelled_sample(20, seed=3))) == 100
    with pytest.raises(InputError):
        ulmfit.bbc_labelled_sample(0)


def test_forgetting_run_reports_accuracy_and_perplexities():
    lm = _tiny_lm()
    rng = np.random.default_rng(0)
    labels = np.array([i % 2 for i in range(12)])
    docs = [[("w3" if y else "w4")] * 5 + [f"w{rng.integers(5, 9)}" for _ in range(5)] for y in labels]
    general = [["w20", "w21", "w22", "w23"]] * 4
    before = lm.perplexity(general)
    r = ulmfit.forgetting_run(lm, general, docs, labels, docs, labels, ulmfit_recipe=False, lr=3e-2, epochs=3, batch_size=4, progress=False)
    assert set(r) == {"accuracy", "ppl_before", "ppl_after", "ratio"}
    assert r["ppl_before"] == pytest.approx(before)
    assert r["ppl_after"] == pytest.approx(lm.perplexity(general))  # the LM itself was fine-tuned, in place
    assert r["ppl_after"] != pytest.approx(before)
    assert r["ratio"] == pytest.approx(r["ppl_after"] / r["ppl_before"])
    assert 0.0 <= r["accuracy"] <= 1.0


def test_mean_by_and_geo_mean_by():
    rows = [
        {"m": "a", "k": 5, "accuracy": 0.4, "ratio": 1.0},
        {"m": "a", "k": 5, "accuracy": 0.6, "ratio": 100.0},
        {"m": "b", "k": 5, "accuracy": 0.9, "ratio": 2.0},
    ]
    assert ulmfit.mean_by(rows, ("m", "k")) == {("a", 5): pytest.approx(0.5), ("b", 5): pytest.approx(0.9)}
    assert list(ulmfit.mean_by(rows, ("m",))) == [("a",), ("b",)]  # first-seen order
    assert ulmfit.geo_mean_by(rows, ("m",), "ratio") == {("a",): pytest.approx(10.0), ("b",): pytest.approx(2.0)}
