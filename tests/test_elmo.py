"""Unit tests for course_lib.elmo: the biLM's directions, ScalarMix, probes, tags, widgets.

The model tests use a tiny randomly initialised BiLM (never called pretrained); one test loads
the committed checkpoint when it is present.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from course_lib import assets, elmo
from course_lib.errors import AssetError

warnings.filterwarnings("ignore", message="LSTM with projections")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = elmo.BiLMConfig(vocab_size=40, proj=8, hidden=16, layers=2, dropout=0.0)
    return elmo.BiLM(cfg, elmo.SPECIALS + [f"w{i}" for i in range(37)]).eval()


def test_reverse_padded_reverses_within_length():
    x = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0]])
    out = elmo.reverse_padded(x, torch.tensor([4, 2]))
    assert out.tolist() == [[4, 3, 2, 1], [6, 5, 0, 0]]
    assert elmo.reverse_padded(out, torch.tensor([4, 2])).tolist() == x.tolist()


def test_directions_see_only_their_side(tiny):
    ids = torch.randint(3, 40, (1, 9))
    changed = ids.clone()
    changed[0, 5] = 3 if ids[0, 5] != 3 else 4
    with torch.no_grad():
        f0, f1 = tiny.forward_states(ids)[-1], tiny.forward_states(changed)[-1]
        b0, b1 = tiny.backward_states(ids)[-1], tiny.backward_states(changed)[-1]
    diff_f = (f0 - f1).abs().amax(-1)[0]
    diff_b = (b0 - b1).abs().amax(-1)[0]
    assert diff_f[:5].max() == 0 and diff_f[5:].min() > 0, "forward state at t reads tokens <= t"
    assert diff_b[6:].max() == 0 and diff_b[:6].min() > 0, "backward state at t reads tokens >= t"


def test_padding_does_not_change_states(tiny):
    ids, lengths = tiny.encode_batch([["w1", "w2", "w3", "w4"], ["w5", "w6"]])
    with torch.no_grad():
        batch = tiny.layer_outputs(ids, lengths)
        alone = tiny.layer_outputs(ids[1:, :4])
    assert torch.allclose(batch[:, 1, :4], alone[:, 0], atol=1e-6)


def test_layer_outputs_and_lm_heads(tiny):
    ids, lengths = tiny.encode_batch([["w1", "w2", "zzz"]])
    assert ids[0].tolist() == [tiny.eos_id, tiny.stoi["w1"], tiny.stoi["w2"], tiny.unk_id, tiny.eos_id]
    with torch.no_grad():
        layers = tiny.layer_outputs(ids, lengths)
        assert layers.shape == (3, 1, 5, 16)
        assert torch.equal(layers[0, ..., :8], layers[0, ..., 8:]), "layer 0 is [e; e]"
        assert tiny.forward_lm(ids).shape == (1, 5, 40)
        assert tiny.backward_lm(ids, lengths).shape == (1, 5, 40)
    lf, lb = tiny(torch.randint(3, 40, (2, 6)))
    assert lf.requires_grad and 2 < float(lf) < 6 and 2 < float(lb) < 6  # about log(40) at init
    ppl = tiny.perplexity([["w1", "w2"], ["w3"]], "backward")
    assert 10 < ppl < 200


def test_save_and_load_round_trip(tiny, tmp_path):
    elmo.save_bilm(tiny, tmp_path)
    again = elmo.load_bilm_from(tmp_path)
    assert again.vocab == tiny.vocab and again.config == tiny.config
    ids = torch.randint(3, 40, (2, 5))
    with torch.no_grad():
        assert torch.allclose(again.forward_lm(ids), tiny.forward_lm(ids), atol=2e-2)


def test_scalar_mix_is_gamma_times_softmax_weighted_sum():
    g = torch.Generator().manual_seed(0)
    layers = torch.randn(3, 4, 5, generator=g)
    s = torch.tensor([0.5, -1.0, 2.0])
    expected = 1.5 * sum(torch.softmax(s, 0)[i] * layers[i] for i in range(3))
    assert torch.allclose(elmo.scalar_mix(layers, s, 1.5), expected, atol=1e-6)
    mix = elmo.ScalarMix(3, s=s.tolist(), gamma=1.5)
    assert torch.allclose(mix(layers), expected, atol=1e-6)
    assert float(mix.weights().sum()) == pytest.approx(1.0)
    mix(layers).sum().backward()
    assert mix.s.grad is not None and mix.gamma.grad is not None
    with pytest.raises(ValueError):
        elmo.ScalarMix(2, s=[0.0, 0.0, 0.0])


def test_brown_tags_map_to_the_coarse_set():
    cases = {"NNS-TL": "NOUN", "NP$": "NOUN", "VBD": "VERB", "BEZ": "VERB", "MD": "VERB", "JJT": "ADJ",
             "RB": "ADV", "PPS+BEZ": "PRON", "AT": "DET", "IN": "ADP", "CC": "CONJ", "CD": "NUM",
             "TO": "PRT", ".": ".", "''": ".", "FW-NN": "X", "DOD*": "VERB", "WPS": "PRON"}
    for tag, coarse in cases.items():
        assert elmo.brown_to_universal(tag) == coarse, tag
    assert set(elmo.brown_to_universal(t) for t in cases) <= set(elmo.UNIVERSAL_TAGS)


def _toy(seed, informative, n=200, d=6):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    layers = torch.randn(3, n, d, generator=g)
    layers[informative, :, :3] += 3 * torch.nn.functional.one_hot(y, 3).float()
    return layers, y


def test_probes_find_the_informative_layer():
    tr, ytr = _toy(0, 1)
    te, yte = _toy(1, 1)
    accs = elmo.probe_layers(tr, ytr, te, yte)
    assert int(np.argmax(accs)) == 1 and accs[1] > 0.9 and max(accs[0], accs[2]) < 0.6
    probe = elmo.fit_scalar_mix_probe(tr, ytr, te, yte, steps=150)
    assert int(np.argmax(probe.weights)) == 1 and probe.accuracy > 0.9
    good = elmo.mix_probe_accuracy(tr, ytr, te, yte, s=[-5, 5, -5])
    bad = elmo.mix_probe_accuracy(tr, ytr, te, yte, s=[5, -5, 5])
    assert good > 0.9 and bad < 0.6


def test_probe_layer_correct_matches_probe_layers():
    tr, ytr = _toy(0, 1)
    te, yte = _toy(1, 1)
    correct = elmo.probe_layer_correct(tr, ytr, te, yte)
    assert correct.shape == (3, len(yte)) and correct.dtype == bool
    assert np.allclose(correct.mean(1), elmo.probe_layers(tr, ytr, te, yte))


def test_bootstrap_layer_accuracy_is_paired_grouped_and_seeded():
    correct = np.array([[1, 1, 0, 0, 1, 1], [1, 0, 0, 0, 1, 0]], dtype=bool)
    boot = elmo.bootstrap_layer_accuracy(correct, n_boot=500, seed=0)
    assert boot.shape == (500, 2)
    assert np.array_equal(boot, elmo.bootstrap_layer_accuracy(correct, n_boot=500, seed=0))
    assert abs(boot[:, 0].mean() - 4 / 6) < 0.03 and abs(boot[:, 1].mean() - 2 / 6) < 0.03
    # paired: layer 1 is right only where layer 0 is, so it never wins a resample
    assert (boot[:, 0] >= boot[:, 1]).all()
    # groups: two sentences, all right or all wrong -> each resample scores 0, 0.5 or 1 in token share
    grouped = elmo.bootstrap_layer_accuracy(np.array([[1, 1, 1, 0, 0, 0]], dtype=bool), groups=[0, 0, 0, 1, 1, 1], n_boot=200)
    assert set(np.round(grouped[:, 0], 6)) <= {0.0, 0.5, 1.0}
    # a constant layer has no spread
    assert np.ptp(elmo.bootstrap_layer_accuracy(np.ones((1, 10), dtype=bool), n_boot=50)) == 0


def test_sense_separation_and_nearest_neighbour():
    static = np.tile([[1.0, 2.0, 3.0]], (6, 1))
    senses = [0, 0, 0, 1, 1, 1]
    assert elmo.sense_separation(static, senses) == 0
    rng = np.random.default_rng(0)
    ctx = rng.normal(size=(6, 4)) * 0.1 + np.repeat([[1, 0, 0, 0], [0, 1, 0, 0]], 3, axis=0)
    assert elmo.sense_separation(ctx, senses) > 0.5
    assert elmo.nearest_sense_accuracy(ctx, senses) == 1.0
    pooled = elmo.sentence_means(torch.arange(12.0).reshape(1, 6, 2), [2, 4])
    assert pooled.shape == (1, 2, 2) and pooled[0, 0].tolist() == [1.0, 2.0]


def test_mix_widget_refits_on_slider_change_and_learns_s():
    import matplotlib

    matplotlib.use("Agg")
    tr, ytr = _toy(0, 2, n=90)
    te, yte = _toy(1, 2, n=90)
    panel = elmo.mix_widget(tr, ytr, te, yte, ["a", "b", "c"], title="toy")
    uniform = panel.result
    assert uniform == elmo.mix_probe_accuracy(tr, ytr, te, yte, [0.0, 0.0, 0.0], 1.0)
    panel.controls["s2"].value = 4.0
    assert panel.result == elmo.mix_probe_accuracy(tr, ytr, te, yte, [0.0, 0.0, 4.0], 1.0)
    assert f"accuracy {panel.result:.1%}" in panel.status.value
    updates = panel.updates
    panel.learn.button.click()
    assert panel.updates == updates + 1, "learning s sets every slider with one refit"
    s = [panel.controls[f"s{i}"].value for i in range(3)]
    assert s[2] == max(s) and panel.learn.runs == 1 and not panel.learn.button.disabled


def test_committed_checkpoint_loads():
    try:
        lm = elmo.load_bilm()
    except AssetError:
        pytest.skip("no committed biLM checkpoint")
    assert lm.vocab[:3] == elmo.SPECIALS
    assert lm.encode("The bank .").tolist()[0] == lm.eos_id
    sents = [["the", "river", "bank", "is", "muddy", "."], ["he", "went", "to", "the", "bank", "."]]
    ppl_f, ppl_b = lm.perplexity(sents, "forward"), lm.perplexity(sents, "backward")
    assert ppl_f < len(lm.vocab) and ppl_b < len(lm.vocab)
    assert lm is not elmo.load_bilm(), "each call returns a fresh copy"
    assert assets.path("bilm").is_dir()


def test_committed_checkpoint_is_trained():
    """The committed biLM is a real language model, not a barely started one (session 1's had perplexity ~550)."""
    import json

    record = json.loads((assets.path("bilm") / "training.json").read_text())
    assert record["tokens_seen"] >= record["tokens"]["train"], "at least one pass over the corpus"
    assert max(record["perplexity"]["test"].values()) < 150
    lm = elmo.load_bilm()
    sents = [s.split() for s in ("the river flows into the sea .", "the government announced a new law .",
                                 "she opened the door and walked into the room .")]
    assert lm.perplexity(sents, "forward") < 300 and lm.perplexity(sents, "backward") < 300
