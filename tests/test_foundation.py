"""Unit tests for course_lib.foundation (lesson 09): tasks, probes, LoRA per task, the
multi-task server, storage accounting and the widgets."""

from __future__ import annotations

import numpy as np
import pytest
import test_peft
import torch

from course_lib import foundation as F
from course_lib import peft as P
from course_lib import textdata
from course_lib.errors import InputError
from course_lib.models import MeanPoolClassifier

tiny_bert = test_peft.tiny_bert  # the same 2-layer, 16-d BERT fixture as lesson 06's tests


class WordTokenizer:
    """A stand-in for MiniLM's tokenizer over a tiny vocabulary (ids from word hashes)."""

    def __call__(self, texts, padding=True, truncation=True, max_length=16, return_tensors="pt"):
        rows = [[1] + [2 + sum(map(ord, w)) % 46 for w in t.lower().split()][: max_length - 1] for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        return {"input_ids": ids, "attention_mask": mask}


TEXTS = ["a good film", "a bad film indeed", "great acting", "dull plot and bad music", "fine"]


def _blobs(n=40, dim=6, classes=3, seed=0):
    centers = 3 * torch.randn(classes, dim, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(classes).repeat_interleave(n)
    noise = torch.randn(len(labels), dim, generator=torch.Generator().manual_seed(100 + seed))
    return centers[labels] + noise, labels.numpy()


def test_probe_tools_on_blobs():
    x, y = _blobs()
    wd, scores = F.choose_weight_decay(x, y, grid=(1e-3, 1.0), folds=3)
    assert wd in (1e-3, 1.0) and set(scores) == {1e-3, 1.0} and all(0 <= s <= 1 for s in scores.values())
    xt, yt = _blobs(seed=1)
    curve = F.label_curve(x, y, xt, yt, ks=[1, 5, 40], weight_decay=1e-3, draws=2)
    assert list(curve) == [1, 5, 40] and curve[40] > 0.9


def _trained_lora(encoder, num_labels=3, seed=1):
    model = F.lora_model(encoder, num_labels, r=2, alpha=4)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # pretend training moved A, B and the head
        for layer in P.lora_layers(model):
            layer.B.copy_(0.1 * torch.randn(layer.B.shape, generator=g))
        model.head.weight.copy_(torch.randn(model.head.weight.shape, generator=g))
    return model


def test_lora_model_leaves_the_base_alone_and_trains_little(tiny_bert):
    before = {k: v.clone() for k, v in tiny_bert.state_dict().items()}
    model = F.lora_model(tiny_bert, 3, r=2, alpha=4)
    assert model.encoder is not tiny_bert and len(P.lora_layers(model)) == 4
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names and all(n.endswith((".A", ".B")) or n.startswith("head.") for n in names)
    assert all(torch.equal(before[k], v) for k, v in tiny_bert.state_dict().items())
    state = F.adapter_state(model)
    assert set(state) == names


def test_lora_model_starts_from_the_probe(tiny_bert):
    from course_lib.training import fit_linear_probe

    x, y = _blobs(dim=16)
    probe = fit_linear_probe(x, torch.as_tensor(y))
    model = F.lora_model(tiny_bert, 3, probe=probe, r=2)
    with torch.no_grad():
        assert (model.head(x) - probe(x)).abs().max() < 1e-4


def test_train_lora_runs(tiny_bert):
    enc = textdata.encode(TEXTS * 4, WordTokenizer(), 8)
    labels = np.array([0, 1, 0, 1, 1] * 4)
    model = F.lora_model(tiny_bert, 2, r=2)
    hist = F.train_lora(model, enc, labels, epochs=2, lr=1e-2, batch_size=8, progress=False)
    assert len(hist.train_loss) == 2
    assert any(layer.B.abs().sum() > 0 for layer in P.lora_layers(model)), "B moved"
    assert F.tokens_seen(enc, 2) == 2 * int(enc["attention_mask"].sum())
    assert F.training_flops(10, 100) == 6000.0


def test_server_swaps_tasks_and_matches_separate_models(tiny_bert):
    import copy

    tok = WordTokenizer()
    server = F.TaskServer(copy.deepcopy(tiny_bert), tok, r=2, alpha=4, max_length=8)
    base_before = {k: v.clone() for k, v in server.base_state().items()}
    models = {"a": _trained_lora(tiny_bert, 3, seed=1), "b": _trained_lora(tiny_bert, 2, seed=2)}
    for name, m in models.items():
        head = torch.nn.Linear(16, m.head.out_features)
        head.load_state_dict(m.head.state_dict())
        server.add(name, F.LORA, [f"c{i}" for i in range(m.head.out_features)], head, F.adapter_state(m))
    probe_head = torch.nn.Linear(16, 2)
    server.add("a", F.PROBE, ["x", "y"], probe_head)
    enc = textdata.encode(TEXTS, tok, 8)
    for order in (["a", "b", "a"], ["b", "a"]):
        for name in order:
            got = server.logits(name, F.LORA, TEXTS)
            assert (got - F.logits_of(models[name].eval(), enc)).abs().max() < 1e-5
    # a probe serves on the untouched base (B = 0), whatever was swapped in before
    plain = MeanPoolClassifier(tiny_bert, num_labels=2)
    with torch.no_grad():
        want = probe_head(plain.embed(enc["input_ids"], enc["attention_mask"]))
    assert (server.logits("a", F.PROBE, TEXTS) - want).abs().max() < 1e-5
    assert all(torch.equal(base_before[k], v) for k, v in server.base_state().items()), "base unchanged"
    assert set(server.base_state()) == set(tiny_bert.state_dict()), "named as in the plain encoder"
    probs = server.predict("b", F.LORA, "a good film")
    assert len(probs) == 2 and abs(sum(p for _, p in probs) - 1) < 1e-5 and probs[0][1] >= probs[1][1]
    assert set(server.task_state("a", F.LORA)) == set(F.adapter_state(models["a"]))
    with pytest.raises(InputError):
        server.use("c", F.LORA)
    wrong_rank = F.lora_model(tiny_bert, 2, r=3)
    with pytest.raises(InputError):
        server.add("c", F.LORA, ["x", "y"], torch.nn.Linear(16, 2), {"x": torch.zeros(1)} | F.adapter_state(wrong_rank))


def test_storage_accounting():
    small = {"w": torch.zeros(10)}
    big = {"w": torch.zeros(10_000)}
    assert F.state_nbytes(big) - F.state_nbytes(small) >= 4 * 9_990
    shared = torch.nn.Linear(100, 100)
    assert F.resident_nbytes(shared, shared, {"again": shared.weight}) == 4 * (100 * 100 + 100)
    f = F.footprint(1000, 10, 1001, 5)
    assert f == {"shared": 1050, "copies": 5005}
    with pytest.raises(InputError):
        F.footprint(1000, 10, 1001, 0)
    base, adapter, full = F.shape_sizes(r=4)
    assert base == 4 * 22_713_216 and adapter == 4 * (4 * 768 * 12 + 770) and full == base + 4 * 770
    assert "N = 10 tasks" in F.footprint_text(base, adapter, full, 10)


def test_text_table():
    t = F.text_table([["LoRA", 1.5], ["probe", 22]], ["method", "x"])
    lines = t.splitlines()
    assert lines[0].startswith("method") and lines[2].startswith("LoRA ") and len(lines) == 4


def test_footprint_widget_updates():
    w = F.widget_demo()
    before = w.text.value
    w.slider.value = 20
    assert "N = 20 tasks" in w.text.value and w.text.value != before


def test_serve_widget_updates(tiny_bert):
    import copy

    server = F.TaskServer(copy.deepcopy(tiny_bert), WordTokenizer(), r=2, alpha=4, max_length=8)
    m = _trained_lora(tiny_bert, 3)
    head = torch.nn.Linear(16, 3)
    head.load_state_dict(m.head.state_dict())
    server.add("topic", F.LORA, ["x", "y", "z"], head, F.adapter_state(m))
    server.add("sentiment", F.PROBE, ["neg", "pos"], torch.nn.Linear(16, 2))
    w = F.serve_widget(server, text="a good film")
    first = w.out.value
    assert "topic / LoRA" in first
    w.task.value = "sentiment"
    assert "no LoRA trained for sentiment" in w.out.value
    w.method.value = F.PROBE
    assert "sentiment / linear probe" in w.out.value and "pos" in w.out.value
    before = w.out.value
    w.text.value = "dull plot"
    assert w.out.value != before and "dull plot" in w.out.value


def test_published_figures_match_the_model_card():
    card = F.model_card()
    for phrase in ["1B sentence pairs", "TPU v3-8", "100k steps", "batch size of 1024", "limited to 128 tokens",
                   "nreimers/MiniLM-L6-H384-uncased"]:
        assert phrase in card, phrase
    assert F.PUBLISHED["minilm_finetune_hours"][0] is None


def test_tasks_are_balanced_and_disjoint():
    for task in (F.polarity_task(n_train=40, n_test=60), F.brown_genre_task(per_class_train=5, per_class_test=5),
                 F.corpus_source_task(per_class_train=5, per_class_test=5), F.bbc_task(per_class_train=2)):
        for split in (task.train, task.test) if task.name != "BBC topic" else (task.test,):
            counts = np.bincount(split.labels, minlength=task.num_classes)
            assert len(split) == len(split.texts) and counts.min() == counts.max() > 0, (task.name, counts)
        assert not set(task.train.texts) & set(task.test.texts), task.name
    assert F.brown_genre_task(per_class_train=5).train.texts == F.brown_genre_task(per_class_train=5).train.texts
