"""Unit tests for course_lib.clip (lesson 08). Fast: synthetic tensors, plus the committed data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import clip
from course_lib.errors import InputError
from course_lib.training import softmax_with_temperature


def test_clip_loss_is_symmetric_infonce():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 5, generator=g)
    t = torch.arange(5)
    expected = (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)) / 2
    assert torch.allclose(clip.clip_loss(logits), expected)
    assert torch.allclose(clip.clip_loss(logits.T), expected)
    # a confident diagonal gives a loss near zero; uniform logits give ln N
    assert clip.clip_loss(torch.eye(5) * 50) < 1e-6
    assert math.isclose(float(clip.clip_loss(torch.zeros(5, 5))), math.log(5), rel_tol=1e-6)
    with pytest.raises(InputError):
        clip.clip_loss(torch.zeros(3, 4))


def test_concepts_and_split_hold_out_whole_concepts():
    concepts = {"cat": ("cat", "cats", "kitten"), "car": ("car", "automobile")}
    caps = ["black cat", "cat and car", "kitten face", "racing car", "automobile", "red apple",
            "blue book", "green tree", "blue book", "star", "moon", "sun", "cloud"]
    assert clip.concepts_in("cats in a hat", concepts) == ["cat"]
    assert clip.concepts_in("category", concepts) == []  # whole words only
    assert clip.caption_words("bus1 bw") == {"bus", "bw"}
    s = clip.make_split(caps, concepts, n_retrieval=3, seed=0)
    assert s.concept_names == ["cat", "car"]
    assert [caps[i] for i in s.concept_test] == ["black cat", "kitten face", "racing car", "automobile"]
    assert s.concept_labels.tolist() == [0, 0, 1, 1]
    train_caps = [caps[i] for i in s.train]
    assert not any(clip.concepts_in(c, concepts) for c in train_caps)
    assert "cat and car" not in train_caps  # two concepts: neither test nor train
    assert len(s.retrieval_test) == 3 and not set(s.retrieval_test) & set(s.train)
    assert all(caps.count(caps[i]) == 1 for i in s.retrieval_test)  # caption-unique


def test_recall_at_k():
    sim = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.5, 0.1], [0.5, 0.2, 0.1]])
    assert clip.recall_at_k(sim, 1) == pytest.approx(1 / 3)  # only row 0 ranks itself first
    assert clip.recall_at_k(sim, 2) == pytest.approx(2 / 3)
    assert clip.recall_at_k(sim, 3) == pytest.approx(1.0)
    assert clip.recall_at_k(torch.eye(4), 1) == 1.0


def test_class_embeddings_ensemble_and_zero_shot():
    heads = clip.ClipHeads(image_dim=4, text_dim=3, embed_dim=3)
    with torch.no_grad():
        heads.text_proj.weight.copy_(torch.eye(3))
        heads.text_proj.bias.zero_()
    table = {"a x": [1.0, 0, 0], "b x": [0, 1.0, 0], "a y": [0, 0, 3.0], "b y": [0, 1.0, 0]}

    def encode(texts):
        return torch.tensor([table[t] for t in texts])

    single = clip.class_embeddings(heads, ["a", "b"], ["{} x"], encode=encode)
    assert torch.allclose(single, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]), atol=1e-6)
    ens = clip.class_embeddings(heads, ["a", "b"], ["{} x", "{} y"], encode=encode)
    assert torch.allclose(ens[0], F.normalize(torch.tensor([1.0, 0, 1.0]), dim=0), atol=1e-6)
    assert torch.allclose(ens.norm(dim=1), torch.ones(2))
    with pytest.raises(InputError):
        clip.class_embeddings(heads, ["a"], ["no slot"], encode=encode)
    logits = clip.zero_shot_logits(heads, torch.randn(6, 4), ens)
    assert logits.shape == (6, 2)


def test_softmax_temperature_sharpens():
    sims = torch.tensor([0.3, 0.2, 0.1])
    lo, hi = softmax_with_temperature(sims, 0.01), softmax_with_temperature(sims, 1.0)
    assert lo.max() > 0.99 > hi.max() and lo.argmax() == hi.argmax()
    with pytest.raises(InputError):
        softmax_with_temperature(sims, 0.0)


def test_k_shot_indices():
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2])
    tr, te = clip.k_shot_indices(labels, 1, seed=0)
    assert np.bincount(labels[tr]).tolist() == [1, 1, 1]
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(9))
    with pytest.raises(InputError):
        clip.k_shot_indices(labels, 2, seed=0)  # class 2 would have no test image


def test_train_heads_aligns_paired_features():
    g = torch.Generator().manual_seed(0)
    latent = torch.randn(300, 8, generator=g)
    img = latent @ torch.randn(8, 20, generator=g) + 0.05 * torch.randn(300, 20, generator=g)
    txt = latent @ torch.randn(8, 12, generator=g)
    heads, losses = clip.train_heads(img, txt, epochs=15, batch_size=100, lr=1e-2, weight_decay=0.0,
                                     embed_dim=8, progress=False)
    assert losses[-1] < 0.5 * losses[0]
    sim = heads.encode_image(img) @ heads.encode_text(txt).T
    assert clip.recall_at_k(sim.detach(), 5) > 0.5  # chance: 5 / 300
    with pytest.raises(InputError):
        clip.train_heads(img, txt[:10])


def test_committed_pairs_and_heads():
    pairs = clip.load_pairs()
    assert pairs.images.shape[1:] == (48, 48, 3) and pairs.images.dtype == np.uint8
    assert len(pairs) == len(pairs.captions) > 4000
    heads, config, log = clip.load_heads()
    split = clip.make_split(pairs.captions)
    assert config["split"]["train"] == len(split.train)
    assert log["train_loss_per_epoch"][-1] < log["train_loss_per_epoch"][0]
    assert 0.001 < heads.temperature < 1


def test_temperature_widget_sharpens_and_flattens():
    import matplotlib

    matplotlib.use("Agg")
    panel = clip.temperature_widget(torch.tensor([0.3, 0.1]), ["a", "b"], temperature=0.07)
    sharp = panel.result
    np.testing.assert_allclose(sharp, torch.softmax(torch.tensor([0.3, 0.1]) / 0.07, 0).numpy(), rtol=1e-5)
    panel.controls["temperature"].value = 1.0
    flat = panel.result
    np.testing.assert_allclose(flat, torch.softmax(torch.tensor([0.3, 0.1]), 0).numpy(), rtol=1e-5)
    assert sharp[0] > 0.9 > 0.6 > flat[0] > 0.5 and panel.updates == 2
    with pytest.raises(InputError):
        clip.temperature_widget(torch.tensor([0.3]), ["a", "b"])
