"""Lesson 05's masked-language-model kit (course_lib.mlm): masking rule, tokenizer, checkpoint."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib import mlm, textdata
from course_lib.errors import InputError
from course_lib.models import MeanPoolClassifier

VOCAB = mlm.SPECIALS + ["the", "film", "is", "a", "delight", "dull", "good", "bad"]


def _ids(n_rows=400, n_cols=50, vocab=1000, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (n_rows, n_cols), generator=g)
    ids[:, 0] = 2  # [CLS]
    ids[:, -1] = 3  # [SEP]
    ids[:, -5:-1] = 0  # padding before [SEP]: never chosen either
    return ids


def test_masking_statistics_follow_bert():
    ids = _ids()
    inputs, labels = mlm.mask_tokens(ids, 1000, generator=torch.Generator().manual_seed(1))
    counts = mlm.rule_counts(inputs, labels, ids, mask_id=4)
    real = int((ids >= 5).sum())
    assert abs(counts["chosen"] / real - 0.15) < 0.01
    assert abs(counts["mask"] / counts["chosen"] - 0.8) < 0.02
    assert abs(counts["random"] / counts["chosen"] - 0.1) < 0.015
    assert abs(counts["unchanged"] / counts["chosen"] - 0.1) < 0.015
    # the loss sees the chosen positions only, with their original ids; specials are never chosen
    chosen = labels != mlm.IGNORE
    assert torch.equal(labels[chosen], ids[chosen])
    assert not chosen[ids < 5].any()
    # outside the chosen positions the input is untouched; random words are never specials
    assert torch.equal(inputs[~chosen], ids[~chosen])
    assert (inputs[chosen & (inputs != 4)] >= 5).all()


def test_masking_is_seeded_and_checks_the_rule():
    ids = _ids(20, 30)
    a = mlm.mask_tokens(ids, 1000, generator=torch.Generator().manual_seed(3))
    b = mlm.mask_tokens(ids, 1000, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    with pytest.raises(InputError):
        mlm.mask_tokens(ids, 1000, rule=(0.8, 0.1, 0.2))


def test_word_tokenizer_and_padding():
    tok = mlm.WordTokenizer(VOCAB)
    assert tok(["The film is a delight."], truncation=True, max_length=5)["input_ids"] == [[2, 5, 6, 7, 3]]  # cut
    enc = tok(["The film is a delight.", "a dull , bad film"])
    assert enc["input_ids"][0] == [2, 5, 6, 7, 8, 9, tok.unk_token_id, 3]  # "." is not in the vocabulary
    assert enc["input_ids"][1][3] == tok.unk_token_id  # nor is ","
    b = tok.pad({"input_ids": [enc["input_ids"][0], enc["input_ids"][1][:4]]})
    assert b["input_ids"].shape == b["attention_mask"].shape == (2, 8)
    assert b["attention_mask"][1].tolist() == [1] * 4 + [0] * 4
    assert tok.convert_ids_to_tokens([2, 6]) == ["[CLS]", "film"]
    padded = textdata.encode(["The film is a delight.", "a dull , bad film"], tok, max_length=6)  # the course's encoder
    assert padded["input_ids"].shape == (2, 6) and padded["attention_mask"].sum().item() == 12
    with pytest.raises(InputError):
        mlm.WordTokenizer(["the", "film"])


def test_vocab_and_uniform_loss():
    vocab = mlm.build_word_vocab([["b", "a", "b"], ["c"]], size=7)
    assert vocab == mlm.SPECIALS + ["b", "a"]
    assert mlm.uniform_loss(12000) == pytest.approx(math.log(12000))


def test_tiny_model_loss_and_predictions():
    tok = mlm.WordTokenizer(VOCAB)
    model = mlm.build_mlm(mlm.bert_config(len(VOCAB), hidden=16, layers=1, heads=2, max_length=16), seed=0)
    loss = mlm.mlm_loss(model, tok, ["the film is a delight"] * 20)
    assert abs(loss - math.log(len(VOCAB))) < 1.0  # a random init guesses about uniformly
    preds = mlm.masked_predictions(model, tok, "the film is a delight", ["film", "delight"], k=3)
    assert list(preds) == ["film", "delight"] and all(len(v) == 3 for v in preds.values())
    assert mlm.masked_sentence(tok, "the film is a delight", ["film"]) == "the [MASK] is a delight"


def test_committed_checkpoint_loads_and_predicts():
    model, tok = mlm.load_mlm()
    assert len(tok) == model.config.vocab_size
    assert tok.itos[:5] == mlm.SPECIALS
    assert model.get_output_embeddings().weight is model.bert.embeddings.word_embeddings.weight  # tied
    preds = mlm.masked_predictions(model, tok, "the capital of france is paris .", ["capital"], k=5)
    assert len(preds["capital"]) == 5
    probs = [p for _, p in preds["capital"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    scratch, _ = mlm.load_mlm(pretrained=False)
    w = "bert.embeddings.word_embeddings.weight"
    assert not torch.equal(model.state_dict()[w], scratch.state_dict()[w])
    clf = MeanPoolClassifier(model.bert)
    b = textdata.encode(["a good film", "a bad one"], tok)
    assert clf(**b).shape == (2, 2)
