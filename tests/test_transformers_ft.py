"""Unit tests for course_lib.transformers_ft (lesson 05). Fast: tiny tensors, a tiny random
Llama for the last-block classifier, MiniLM only where its real shapes matter (about a second)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import models
from course_lib import transformers_ft as tf
from course_lib.errors import InputError
from course_lib.textdata import TextSplit
from course_lib.training import accuracy, count_parameters
from course_lib.transformers_ft import decoder, widgets


def test_mean_pool_ignores_padding_and_empty_rows():
    h = torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0], [0, 1, 1, 1, 1]])
    out = tf.mean_pool(h, mask)
    assert torch.allclose(out[0], h[0, :3].mean(0), atol=1e-6)
    assert torch.equal(out[1], torch.zeros(4))
    assert torch.allclose(out[2], h[2, 1:].mean(0), atol=1e-6)
    h2 = h.clone()
    h2[0, 3:] = 1e6
    assert torch.allclose(tf.mean_pool(h2, mask)[0], out[0])


@pytest.mark.parametrize("padding", ["right", "left", "none"])
def test_last_token_pool_left_and_right_padding(padding):
    h = torch.randn(4, 6, 3)
    lengths = [6, 1, 3, 4] if padding != "none" else [6] * 4
    if padding == "left":
        mask = torch.tensor([[0] * (6 - n) + [1] * n for n in lengths])
        expected = h[:, 5]
    else:
        mask = torch.tensor([[1] * n + [0] * (6 - n) for n in lengths])
        expected = h[torch.arange(4), torch.tensor(lengths) - 1]
    assert torch.equal(tf.last_token_pool(h, mask), expected)
    assert torch.equal(tf.last_token_pool(h, mask.bool()), expected)


def test_cls_pool_is_first_position():
    h = torch.randn(2, 4, 3)
    assert torch.equal(tf.cls_pool(h, torch.ones(2, 4)), h[:, 0])


def test_subset_is_stratified_seeded_and_nested():
    split = TextSplit([f"s{i}" for i in range(40)], np.array([0, 1] * 20))
    a = tf.subset(split, 10, seed=0)
    assert len(a) == 10 and int(a.labels.sum()) == 5
    assert a.texts == tf.subset(split, 10, seed=0).texts
    assert set(a.texts) <= set(tf.subset(split, 20, seed=0).texts)
    assert tf.subset(split, 100) is split


def test_few_shot_prefix_format():
    shots = TextSplit(["good film .", "bad film ."], np.array([1, 0]))
    prefix = tf.few_shot_prefix(shots)
    assert prefix == "Review: good film .\nSentiment: positive\n\nReview: bad film .\nSentiment: negative\n\n"


def test_prompt_truncation_keeps_the_cue():
    tok = tf.minilm_tokenizer()
    ids = decoder._tokenize_prompts(tok, ["word " * 100, "short ."], "Review: {text}\nSentiment:", max_length=20)
    cue = tok("\nSentiment:", add_special_tokens=False)["input_ids"]
    assert len(ids[0]) == 20 and ids[0][-len(cue) :] == cue
    assert len(ids[1]) < 20


def test_zero_shot_predict_picks_larger_logit():
    scores = torch.tensor([[2.0, 1.0], [0.5, 3.0]])
    assert tf.zero_shot_predict(scores).tolist() == [0, 1]
    assert accuracy(tf.zero_shot_predict(scores), np.array([0, 0])) == 0.5


def test_freeze_minilm_counts_match_widget_table():
    model = models.minilm_classifier()
    for n_frozen in (0, 2, 6):
        trainable = tf.freeze_minilm(model, n_frozen)
        assert trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)
        assert (trainable, sum(p.numel() for p in model.parameters())) == tf.trainable_minilm(n_frozen)
    assert tf.trainable_minilm(0)[0] == tf.trainable_minilm(0)[1]
    assert tf.trainable_minilm(6)[0] == 384 * 2 + 2  # the head only
    with pytest.raises(InputError):
        tf.freeze_minilm(model, 7)
    tf.freeze_minilm(model, 2)
    assert not any(p.requires_grad for m in (model.encoder.embeddings, *model.encoder.encoder.layer[:2]) for p in m.parameters())
    assert all(p.requires_grad for m in (*model.encoder.encoder.layer[2:], model.head) for p in m.parameters())
    assert tf.minilm_layers(model) is tf.minilm_layers(model.encoder) is model.encoder.encoder.layer


def test_widget_demo_updates_parameter_count():
    panel = tf.widget_demo()
    panel.controls["n_frozen"].value = 4
    assert panel.result == tf.describe_freezing(4, 5e-5) and f"{tf.trainable_minilm(4)[0]:,}" in panel.result
    panel.controls["lr"].value = 1e-3
    assert "1e-03" in panel.result and panel.updates == 3
    assert panel.train.button.disabled  # no data, no training in the demo


def test_finetune_widget_trains_with_the_chosen_settings(monkeypatch):
    calls = []

    def fake(train, test, **kw):
        calls.append(kw)
        return tf.FinetuneResult(accuracy=0.75, seconds=1.0, trainable=123)

    monkeypatch.setattr(widgets, "finetune_minilm", fake)
    data = TextSplit(["a", "b"], np.array([0, 1]))
    panel = tf.finetune_widget(data, data, epochs=1)
    panel.controls["n_frozen"].value = 5
    panel.train.button.click()
    assert calls == [{"lr": pytest.approx(5e-5), "n_frozen": 5, "epochs": 1, "progress": True}]
    assert panel.train.message.startswith("test accuracy 75.0%") and not panel.train.button.disabled


def _tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(cfg).eval()


def test_last_block_classifier_reproduces_model_logits():
    model = _tiny_llama()
    ids = torch.randint(0, 50, (3, 7))
    lengths = torch.tensor([7, 4, 2])
    mask = (torch.arange(7) < lengths[:, None]).long()
    label_ids = [5, 9]
    with torch.no_grad():
        out = model.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        block_input = out.hidden_states[model.config.num_hidden_layers - 1] * mask.unsqueeze(-1)
        expected = model.lm_head(tf.last_token_pool(out.last_hidden_state, mask))[:, label_ids]
        clf = tf.LastBlockClassifier(model, label_ids)
        got = clf(block_input, lengths)
    assert torch.allclose(got, expected, atol=1e-4)
    assert count_parameters(clf) == sum(p.numel() for p in model.model.layers[-1].parameters()) + 32 + (2 * 32 + 2)
    frozen = tf.LastBlockClassifier(model, label_ids, train_block=False)
    assert count_parameters(frozen) == 2 * 32 + 2


def test_train_last_block_learns_a_separable_toy_task():
    model = _tiny_llama()

    class Tok:
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [{" negative": 5, " positive": 9}[text]]}

    torch.manual_seed(1)
    n, t = 64, 5
    y = np.array([0, 1] * (n // 2))
    block_input = torch.randn(n, t, 32) * 0.1
    block_input[:, :, 0] += torch.as_tensor(y * 2.0 - 1.0)[:, None]
    feats = tf.DecoderFeatures(last=torch.zeros(n, 32), scores=torch.zeros(n, 2), lengths=torch.full((n,), t), block_input=block_input)
    clf = tf.train_last_block(model, Tok(), feats, y, epochs=15, lr=3e-3, progress=False)
    assert accuracy(tf.predict_last_block(clf, feats), y) > 0.9
    with pytest.raises(InputError):
        tf.train_last_block(model, Tok(), tf.DecoderFeatures(feats.last, feats.scores, feats.lengths), y, progress=False)


def test_committed_results_have_config_and_both_models():
    res = tf.committed_results()
    if not res:
        pytest.skip("data/lesson05/results.json not made yet: run python scripts/lesson05_runs.py")
    assert res["config"]["seed"] == 0 and res["made_by"] == "scripts/lesson05_runs.py"
    for n in res["config"]["ns"]:
        for key in ("probe", "finetune", "random_init"):
            assert 0.4 < res["minilm"][f"n{n}"][key] <= 1.0
        for key in ("probe", "last_block"):
            assert 0.4 < res["smollm2"][f"n{n}"][key] <= 1.0
    assert 0.4 < res["smollm2"]["zero_shot"] <= 1.0
    assert {"n_test_minilm", "n_test_smollm2"} <= set(res["config"])


def test_minilm_features_one_pass_gives_both_poolings():
    texts = ["a witty , moving film .", "dull .", "the cast is wonderful and the story is not ."]
    both = tf.minilm_features(texts, ("mean", "cls"), progress=False)
    mean = tf.minilm_features(texts, "mean", progress=False)
    assert both["mean"].shape == (3, 384) and torch.allclose(both["mean"], mean, atol=1e-5)
    assert not torch.allclose(both["mean"], both["cls"])
    with pytest.raises(InputError):
        tf.minilm_features(texts, "max")


def test_polarity_validation_is_disjoint_from_training_and_test():
    from course_lib.textdata import polarity_test, polarity_train

    val = tf.polarity_validation(40, after=100)
    assert len(val) == 40 and int(val.labels.sum()) == 20
    assert not set(val.texts) & set(polarity_train(100).texts)
    assert not set(val.texts) & set(polarity_test().texts)


def test_finetune_minilm_reports_validation_per_epoch_and_train_accuracy():
    texts = ["a good film .", "a bad film .", "great fun .", "dull and slow .", "lovely .", "awful ."]
    split = TextSplit(texts, np.array([1, 0, 1, 0, 1, 0]))
    r = tf.finetune_minilm(split, split, pretrained=False, lr=1e-3, epochs=2, batch_size=3, val=split, train_accuracy=True, progress=False)
    assert len(r.val_acc) == 2 and r.steps == 4
    assert r.train_acc is not None and 0.0 <= r.train_acc <= 1.0


def test_text_loader_orders_and_epoch_reshuffles():
    """Unshuffled batches go by length (less padding); shuffled ones follow NumPy's seeded
    permutation; the training loader reshuffles every epoch, reproducibly."""
    texts = ["a b c d e f .", "a .", "a b c .", "a b .", "a b c d e .", "a b c d ."] * 3
    split = TextSplit(texts, np.arange(18) % 2)
    tok = tf.minilm_tokenizer()
    plain = tf.text_loader(split, tok, batch_size=4)
    lengths = [int(n) for b in plain for n in b["attention_mask"].sum(1)]
    assert lengths == sorted(lengths) and sum(len(b["labels"]) for b in plain) == 18
    assert all(b["attention_mask"][:, -1].any() for b in plain), "each batch trimmed to its longest sentence"
    shuffled = tf.text_loader(split, tok, batch_size=4, shuffle=True, seed=3)
    order = np.random.default_rng(3).permutation(18)
    assert torch.equal(torch.cat([b["labels"] for b in shuffled]), torch.as_tensor(split.labels[order]))
    loader = tf.shuffled_loader(split, tok, batch_size=4, seed=1)
    first, second = list(loader), list(loader)
    assert len(loader) == len(first) == 5
    assert torch.equal(first[0]["input_ids"], tf.text_loader(split, tok, 4, shuffle=True, seed=1000)[0]["input_ids"])
    assert not all(torch.equal(a["labels"], b["labels"]) for a, b in zip(first, second, strict=True))
    assert tf.length_order([3, 1, 2, 1]).tolist() == [1, 3, 2, 0]  # stable: ties keep their order
