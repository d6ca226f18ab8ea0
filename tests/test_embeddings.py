"""Lesson 02's library: analogies, benchmarks, Word2Vec helpers, the GloVe objective, widgets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import embeddings as E
from course_lib.errors import InputError
from course_lib.models import load_glove


@pytest.fixture(scope="module")
def glove():
    return load_glove()


def test_cosine_similarity():
    assert E.cosine_similarity([1, 0], [0, 2]) == 0.0
    assert E.cosine_similarity([1, 1], [3, 3]) == pytest.approx(1.0)
    assert E.cosine_similarity([0, 0], [1, 2]) == 0.0


def test_check_word_suggests_close_words(glove):
    assert E.check_word(glove, "  King ") == "king"
    with pytest.raises(InputError, match="Close known words: .*king"):
        E.check_word(glove, "kingg")
    with pytest.raises(InputError, match="type a word"):
        E.check_word(glove, "   ")


def test_analogy_and_neighbours(glove):
    rows = E.analogy(glove, "man", "king", "woman", topn=3)
    assert rows[0][0] == "queen" and len(rows) == 3
    assert all(w not in ("man", "king", "woman") for w, _ in E.analogy(glove, "man", "king", "woman", topn=50))
    nb = E.neighbours(glove, "monday", topn=5)
    assert "monday" not in [w for w, _ in nb] and "tuesday" in [w for w, _ in nb]
    assert nb == sorted(nb, key=lambda r: -r[1])


def test_score_analogies_matches_gensim(glove):
    qs = E.analogy_questions()
    assert len(qs) == 14 and sum(len(v) for v in qs.values()) == 19544
    # gensim's own evaluation on two sections (one of them with skipped questions)
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        for sec in ("capital-common-countries", "family"):
            f.write(f": {sec}\n")
            f.writelines(" ".join(q) + "\n" for q in qs[sec])
        path = f.name
    _, sections = glove.evaluate_word_analogies(path, restrict_vocab=30_000)
    ours = E.evaluate_analogies(glove, restrict_vocab=30_000, sections=["capital-common-countries", "family"])
    for g, o in zip(sections[:2], ours, strict=True):
        assert g["section"] == o.section
        assert len(g["correct"]) == o.correct
        assert len(g["correct"]) + len(g["incorrect"]) == o.answered
    assert ours[1].skipped > 0


def test_evaluate_rows_and_table(glove):
    rows = E.evaluate_analogies(glove, sections=["currency"])
    assert [r.section for r in rows] == ["currency"]
    text = E.scores_table({"GloVe": rows})
    assert "currency" in text and "%" in text
    with pytest.raises(InputError, match="Unknown section"):
        E.evaluate_analogies(glove, sections=["colours"])


def test_similarity_benchmarks(glove):
    sims = E.similarity_benchmarks(glove)
    assert set(sims) == {"SimLex-999", "WordSim-353"}
    assert 0.4 < sims["WordSim-353"][0] < 0.7 and 0.15 < sims["SimLex-999"][0] < 0.4


def test_word2vec_trains_and_is_reproducible():
    sents = [["the", "cat", "sat", "on", "the", "mat"], ["the", "dog", "sat", "on", "the", "rug"]] * 50
    a = E.train_word2vec(sents, vector_size=8, min_count=1, epochs=2, seed=1)
    b = E.train_word2vec(sents, vector_size=8, min_count=1, epochs=2, seed=1)
    assert np.array_equal(a.vectors, b.vectors) and "cat" in a.key_to_index


def test_compact_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(50, 10)).astype(np.float32)
    kv = E.keyed_vectors([f"w{i}" for i in range(50)], vecs)
    E.save_compact(kv, tmp_path / "v.npz", top=40)
    back = E.load_compact(tmp_path / "v.npz")
    assert len(back) == 40 and back.index_to_key[:3] == ["w0", "w1", "w2"]
    assert np.abs(back.vectors - vecs[:40]).max() < np.abs(vecs).max() / 127 + 1e-6


def test_course_word2vec_loads():
    kv = E.load_course_word2vec()
    assert 20_000 < len(kv) <= 30_000 and kv.vector_size == 50
    assert "king" in kv.key_to_index


def test_cooccurrence_counts():
    i, j, x = E.cooccurrence([["a", "b", "c"], ["c", "a", "zzz"]], {"a": 0, "b": 1, "c": 2}, window=2)
    counts = {(int(p), int(q)): float(v) for p, q, v in zip(i, j, x, strict=True)}
    # a-b distance 1; a-c distance 2 (0.5) and 1 in the second sentence; b-c 1; symmetric
    assert counts == {(0, 1): 1.0, (1, 0): 1.0, (0, 2): 1.5, (2, 0): 1.5, (1, 2): 1.0, (2, 1): 1.0}
    # nothing crosses the sentence end: "c" (end of 1st) and "c" (start of 2nd) never pair
    assert (2, 2) not in counts


def test_glove_weight_and_loss():
    x = torch.tensor([1.0, 50.0, 100.0, 400.0])
    assert torch.allclose(E.glove_weight(x), torch.tensor([0.01**0.75, 0.5**0.75, 1.0, 1.0]))
    g = torch.Generator().manual_seed(0)
    w, wt = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    b, bt = torch.randn(4, generator=g), torch.randn(4, generator=g)
    ref = sum(
        float(E.glove_weight(x[k])) * (float(w[k] @ wt[k] + b[k] + bt[k]) - float(torch.log(x[k]))) ** 2
        for k in range(4)
    )
    assert float(E.glove_loss(w, wt, b, bt, x)) == pytest.approx(ref, rel=1e-5)


def test_train_glove_fits_log_counts():
    rng = np.random.default_rng(0)
    V, d = 40, 4
    true_w, true_c = rng.normal(size=(V, d)), rng.normal(size=(V, d))
    i, j = np.meshgrid(np.arange(V), np.arange(V), indexing="ij")
    i, j = i.ravel(), j.ravel()
    logx = (true_w[i] * true_c[j]).sum(1) * 0.5 + 2.0
    x = np.exp(logx).astype(np.float32)
    model, losses = E.train_glove(i, j, x, V, dim=d, steps=300, lr=0.05, progress=False)
    assert losses[-1] < 0.2 * losses[0]
    with torch.no_grad():
        pred = model.predict(torch.as_tensor(i), torch.as_tensor(j)).numpy()
    assert np.corrcoef(pred, logx)[0, 1] > 0.9


def test_offsets_and_projection(glove):
    same, shuffled = E.offset_consistency(glove, E.PAIR_SETS["gender"])
    assert same > shuffled + 0.2
    coords, words = E.project_pairs(glove, E.PAIR_SETS["capitals"])
    assert coords.shape == (14, 2) and words[:2] == ["france", "paris"]
    with pytest.raises(InputError):
        E.offset_consistency(glove, [("man", "woman")])
    assert E.parse_pairs("a-b, c - d,") == [("a", "b"), ("c", "d")]
    with pytest.raises(InputError, match="word-word"):
        E.parse_pairs("a-b-c")


def test_reports_handle_bad_input(glove):
    assert E.analogy_report(glove, "", "king", "woman") == ""
    assert E.neighbour_report(glove, "  ") == ""
    msg = E.analogy_report(glove, "man", "kingg", "woman")
    assert msg.startswith("Input problem") and "king" in msg
    assert "queen" in E.analogy_report(glove, "Man", "King", "Woman", topn=3)


def test_widget_demo_updates():
    import ipywidgets as W

    w = E.widget_demo()
    assert isinstance(w, W.Widget)
    boxes, slider, out = w.children[0].children, w.children[1], w.children[2]
    assert "queen" in out.value
    slider.value = 12
    assert out.value.count("cos") >= 12
    boxes[2].value = "womann"
    assert "Input problem" in out.value
    boxes[2].value = ""
    assert "Input problem" not in out.value


# ---------------------------------------------------------------- Word2Vec's objective written out


def test_keep_probability_drops_frequent_words_only():
    counts = np.array([1_000_000, 10_000, 10])
    p = E.keep_probability(counts, sample=1e-4)
    assert p[0] < 0.05 and p[2] == 1.0 and p[0] < p[1] <= 1.0


def test_skipgram_pairs_stay_in_the_window_and_the_sentence():
    data = E.SkipGramData(words=list("abcdefg"), counts=np.full(7, 10**6), ids=np.arange(7),
                          sentence=np.array([0, 0, 0, 0, 1, 1, 1]))
    pairs = E.skipgram_pairs(data, window=2, sample=1.0, rng=np.random.default_rng(0))
    assert len(pairs) > 0
    for c, o in pairs:
        assert data.sentence[c] == data.sentence[o], "a pair never crosses a sentence boundary"
        assert 1 <= abs(int(c) - int(o)) <= 2
    # every pair at distance 1 is always drawn (b >= 1), in both directions
    got = {(int(c), int(o)) for c, o in pairs}
    assert {(0, 1), (1, 0), (4, 5), (6, 5)} <= got


def test_sgns_loss_matches_the_formula():
    model = E.SkipGramNS(5, dim=3, seed=0)
    with torch.no_grad():
        model.out.weight.normal_()
    c, o, n = torch.tensor([1]), torch.tensor([2]), torch.tensor([[3, 4]])
    v, u = model.inp.weight[1], model.out.weight
    expected = -(torch.log(torch.sigmoid(v @ u[2])) + torch.log(torch.sigmoid(-v @ u[3])) + torch.log(torch.sigmoid(-v @ u[4])))
    assert torch.allclose(model(c, o, n), expected, atol=1e-6)


def test_train_sgns_learns_cooccurrence():
    rng = np.random.default_rng(0)
    animals, tools = ["cat", "dog", "cow", "pig"], ["saw", "drill", "nail", "axe"]
    sents = [list(rng.choice(animals, 6)) if i % 2 else list(rng.choice(tools, 6)) for i in range(200)]
    kv, losses = E.train_sgns(sents, dim=8, window=2, negative=3, sample=1.0, min_count=1, epochs=3,
                              lr=0.025, batch_size=32, progress=False)
    assert losses[-1] < losses[0]
    assert kv.similarity("cat", "dog") > kv.similarity("cat", "saw") + 0.3
