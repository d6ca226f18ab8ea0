"""The course corpus: tokeniser, committed splits, vocabulary, Brown tags."""

from __future__ import annotations

import pytest

from course_lib import assets
from course_lib.corpus import (
    SOURCES,
    SPLITS,
    Vocab,
    build_vocab,
    corpus_slice,
    corpus_stats,
    load_brown_tagged,
    load_corpus,
    load_documents,
    split_stats,
    tokenize,
)
from course_lib.errors import InputError


def test_tokenize_rules():
    assert tokenize("The Bank's rates didn't rise.") == ["the", "bank", "'s", "rates", "did", "n't", "rise", "."]
    assert tokenize("1,000 people, 3.5 km; well-known 20th") == [
        "1,000", "people", ",", "3.5", "km", ";", "well-known", "20th",
    ]  # fmt: skip
    assert tokenize("\u201cQuoted\u201d \u2014 caf\u00e9") == ['"', "quoted", '"', "\u2014", "caf\u00e9"]
    assert tokenize("") == []
    assert tokenize("   \n") == []


def test_tokenize_is_idempotent():
    text = "It's 10:30, isn't it? O'Brien's well-to-do friends paid $1,250.75 -- twice!"
    toks = tokenize(text)
    assert tokenize(" ".join(toks)) == toks


def test_splits_are_verified_and_disjoint():
    for split in SPLITS:
        assert assets.path(f"corpus-{split}").is_file()
    ids = {split: {(d.source, d.doc_id) for d in load_documents(split)} for split in ("valid", "test")}
    assert ids["valid"] and ids["test"]
    assert not ids["valid"] & ids["test"]
    stats = split_stats("valid")
    assert set(stats) == {*SOURCES, "total"}
    assert stats["total"]["tokens"] > 100_000
    manifest_counts = assets.get("corpus-valid").extra["counts"]["total"]
    assert manifest_counts == stats["total"]


def test_lines_are_tokenised_with_tokenize():
    sents = load_corpus("valid", sources=["wiki", "factbook"])
    for s in sents[:500]:
        assert s and tokenize(" ".join(s)) == s
        assert all(t == t.lower() for t in s)


def test_load_corpus_returns_fresh_lists():
    a = load_corpus("test")
    a[0].append("MUTATED")
    assert load_corpus("test")[0][-1] != "MUTATED"


def test_bad_arguments_raise_input_error():
    with pytest.raises(InputError, match="split must be one of"):
        load_corpus("training")
    with pytest.raises(InputError, match="Unknown source"):
        load_corpus("valid", sources=["bbc"])


def test_vocab():
    sents = [["a", "b", "a"], ["c", "a", "b"], ["d"]]
    v = build_vocab(sents, max_size=3, specials=["<eos>"])
    assert v.itos == ["<unk>", "<eos>", "a"]
    v = build_vocab(sents, min_count=2)
    assert v.itos == ["<unk>", "a", "b"]
    assert v.encode(["b", "zzz", "a"]) == [2, 0, 1]
    assert v.decode([1, 2]) == ["a", "b"]
    assert "a" in v and "c" not in v and v["c"] == v.unk_index == 0
    assert v.coverage(sents) == pytest.approx(5 / 7)
    assert isinstance(v, Vocab) and len(v) == 3
    with pytest.raises(InputError):
        build_vocab(sents, max_size=1)


def test_stats_and_slice():
    sents = [["a", "b"], ["c"], ["a", "a", "a"]]
    assert corpus_stats(sents) == {"sentences": 3, "tokens": 6, "types": 3}
    assert corpus_slice(sents, 3) == [["a", "b"], ["c"]]
    assert corpus_slice(sents, 1) == [["a", "b"]]  # always at least one sentence
    with pytest.raises(InputError):
        corpus_slice(sents, 0)


def test_brown_tagged():
    tagged = load_brown_tagged()
    assert len(tagged) == 57340
    assert sum(len(s) for s in tagged) == 1161192
    assert tagged[0][:3] == [("The", "at"), ("Fulton", "np-tl"), ("County", "nn-tl")]
    assert all(isinstance(w, str) and isinstance(t, str) and t for s in tagged[:2000] for w, t in s)
    test = load_brown_tagged("test")
    news = load_brown_tagged(genres=["news"])
    assert 0 < len(test) < len(tagged) and 0 < len(news) < len(tagged)
    with pytest.raises(InputError):
        load_brown_tagged(genres=["poetry"])
