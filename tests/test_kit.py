"""The shared kit's one-name-per-idea pieces: accuracy, freezing, text batching, the MiniLM classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from transformers import BertConfig, BertModel

from course_lib import cache, models, textdata, training
from course_lib.errors import InputError


def test_accuracy_takes_scores_or_predictions():
    labels = torch.tensor([0, 1, 2, 1])
    scores = torch.tensor([[2.0, 0, 0], [0, 1, 0], [0, 3, 0], [0, 5, 1]])
    assert training.accuracy(scores, labels) == 0.75
    assert training.accuracy(scores.argmax(-1), labels) == 0.75
    assert training.accuracy(np.array([0, 1, 1, 1]), np.array([0, 1, 2, 1])) == 0.75
    with pytest.raises(InputError, match="do not match"):
        training.accuracy(torch.zeros(3), labels)
    with pytest.raises(InputError, match="empty"):
        training.accuracy(torch.zeros(0), torch.zeros(0))


def test_train_only_freezes_everything_else():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert training.train_only(net, ["2."]) == 4 * 2 + 2
    assert [p.requires_grad for p in net.parameters()] == [False, False, True, True]
    assert training.train_only(net, lambda name: name.endswith("bias")) == 4 + 2
    assert [p.requires_grad for p in net.parameters()] == [False, True, False, True]
    with pytest.raises(InputError, match="list of name parts"):
        training.train_only(net, "2.")
    training.set_requires_grad([net[0], net[2]], False)
    assert not training.is_trainable(net[0]) and training.count_parameters(net) == 0
    training.set_requires_grad(net, True)
    assert training.is_trainable(net)


def _enc():
    ids = torch.tensor([[101, 5, 6, 102, 0, 0], [101, 7, 102, 0, 0, 0], [101, 8, 9, 10, 11, 102]])
    return {"input_ids": ids, "attention_mask": (ids != 0).long()}


def test_batches_trim_padding_and_follow_the_order():
    enc = _enc()
    out = textdata.batches(enc, [1, 0, 1], batch_size=2, order=[1, 0, 2])
    assert [b["input_ids"].shape for b in out] == [(2, 4), (1, 6)]
    assert out[0]["labels"].tolist() == [0, 1] and out[0]["input_ids"][0, :3].tolist() == [101, 7, 102]
    assert "labels" not in textdata.batches(enc)[0]
    with pytest.raises(InputError, match="labels"):
        textdata.batches(enc, [1, 0])


def test_epoch_batches_reshuffle_each_epoch_reproducibly():
    enc = {"input_ids": torch.arange(40).reshape(20, 2) + 1, "attention_mask": torch.ones(20, 2, dtype=torch.long)}
    labels = np.arange(20) % 2
    a, b = textdata.reshuffled(enc, labels, 5, seed=3), textdata.reshuffled(enc, labels, 5, seed=3)
    first = [x["input_ids"][:, 0].tolist() for x in a]
    second = [x["input_ids"][:, 0].tolist() for x in a]
    assert len(a) == 4 and first != second
    assert first == [x["input_ids"][:, 0].tolist() for x in b]
    assert sorted(sum(first, [])) == list(range(1, 40, 2))


def test_mean_pool_classifier_ignores_padding_and_lists_its_layers():
    cfg = BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
    torch.manual_seed(0)
    clf = models.MeanPoolClassifier(BertModel(cfg), num_labels=3, seed=1).eval()
    again = models.MeanPoolClassifier(BertModel(cfg), num_labels=3, seed=1)
    assert torch.equal(clf.head.weight, again.head.weight)
    ids = torch.tensor([[1, 5, 6, 2, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    other = ids.clone()
    other[0, 4] = 9  # a different token under the padding
    with torch.no_grad():
        assert clf(ids, mask).shape == (1, 3)
        assert torch.allclose(clf(ids, mask), clf(other, mask), atol=1e-6)
    groups = clf.layer_groups()
    assert len(groups) == 4 and groups[-1] is clf.head


def test_cache_memo_and_disk_with_checksum(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return torch.arange(3)

    memo = cache.Memo()
    assert torch.equal(memo.get("k", compute), memo.get("k", compute)) and len(calls) == 1
    key = cache.digest(np.zeros((2, 2), np.uint8), "tag", 3)
    assert key != cache.digest(np.ones((2, 2), np.uint8), "tag", 3)
    assert key != cache.digest(np.zeros((4,), np.uint8), "tag", 3)  # same bytes, other shape
    assert torch.equal(cache.on_disk("f", key, compute, directory=tmp_path), torch.arange(3))
    assert torch.equal(cache.on_disk("f", key, compute, directory=tmp_path), torch.arange(3)) and len(calls) == 2
    stored = tmp_path / f"f-{key}.pt"
    stored.write_bytes(stored.read_bytes()[:-5])  # truncated: recomputed, never used
    assert torch.equal(cache.on_disk("f", key, compute, directory=tmp_path), torch.arange(3)) and len(calls) == 3


def test_choose_lr_scores_every_rate_and_breaks_ties_low():
    seen = []

    def score(lr):
        seen.append(lr)
        return {1e-3: 0.5, 3e-3: 0.7, 1e-2: 0.7}[lr]

    best, scores = training.choose_lr([1e-2, 1e-3, 3e-3], score)
    assert best == 3e-3 and seen == [1e-3, 3e-3, 1e-2] and scores[1e-3] == 0.5
    with pytest.raises(InputError, match="at least one"):
        training.choose_lr([], score)
