"""Unit tests for course_lib.peft (lesson 06): LoRA, merging, adapters, prompt tuning, accounting."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from course_lib import peft as P
from course_lib.errors import InputError
from course_lib.models import MeanPoolClassifier
from course_lib.peft import widgets as peft_widgets
from course_lib.training import count_parameters, train_only


@pytest.fixture(scope="module")
def tiny_bert():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=40)
    return BertModel(cfg).eval()


@pytest.fixture
def inputs():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 50, (3, 7), generator=g)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5])
    return {"input_ids": ids, "attention_mask": mask}


def _out(model, inputs):
    with torch.no_grad():
        return model(**inputs).last_hidden_state


def test_real_peft_package_is_not_shadowed():
    import peft

    assert hasattr(peft, "LoraConfig") and P.__name__ == "course_lib.peft"


def test_lora_linear_zero_b_equals_base_and_counts():
    base = nn.Linear(6, 5)
    lora = P.LoRALinear(base, r=2, alpha=4)
    x = torch.randn(3, 6)
    assert torch.equal(lora(x), base(x))
    trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert sorted(trainable) == ["A", "B"]
    assert count_parameters(lora) == P.lora_parameter_count(6, 5, 2)


def test_lora_forward_formula_and_merge():
    torch.manual_seed(1)
    base = nn.Linear(6, 5)
    lora = P.LoRALinear(base, r=3, alpha=12)
    with torch.no_grad():
        lora.B.normal_()
    x = torch.randn(4, 6)
    expected = x @ base.weight.T + base.bias + 4.0 * (x @ lora.A.T @ lora.B.T)
    assert torch.allclose(lora(x), expected, atol=1e-5)
    merged = lora.merge()
    assert isinstance(merged, nn.Linear) and not any(p.requires_grad for p in merged.parameters())
    assert torch.allclose(merged(x), lora(x), atol=1e-5)
    assert torch.allclose(base.weight, lora.base.weight)  # merging does not touch the frozen W


def test_lora_rejects_bad_input():
    with pytest.raises(InputError):
        P.LoRALinear(nn.Linear(3, 3), r=0)
    with pytest.raises(InputError):
        P.LoRALinear(nn.Conv1d(3, 3, 1))


def test_inject_merge_and_match_peft_library(tiny_bert, inputs):
    base_out = _out(tiny_bert, inputs)
    model = copy.deepcopy(tiny_bert)
    layers = P.inject_lora(model, r=4, alpha=8)
    assert len(layers) == 4  # query and value in 2 layers
    assert torch.equal(_out(model, inputs), base_out)
    with torch.no_grad():
        for layer in layers:
            layer.B.normal_(0, 0.1)
    ours = _out(model, inputs)
    assert (ours - base_out).abs().max() > 1e-3
    theirs = P.peft_reference_lora(tiny_bert, r=4, alpha=8)
    assert P.copy_lora_weights_to_peft(model, theirs) == 4
    assert torch.allclose(_out(theirs, inputs), ours, atol=1e-5)
    n_base = sum(p.numel() for p in tiny_bert.parameters())
    assert P.merge_lora(model) == 4
    assert sum(p.numel() for p in model.parameters()) == n_base
    assert torch.allclose(_out(model, inputs), ours, atol=1e-5)
    assert not P.lora_layers(model)


def test_lora_injection_is_seeded(tiny_bert):
    a, b = copy.deepcopy(tiny_bert), copy.deepcopy(tiny_bert)
    la, lb = P.inject_lora(a, seed=3), P.inject_lora(b, seed=3)
    assert all(torch.equal(x.A, y.A) for x, y in zip(la, lb, strict=True))
    with pytest.raises(InputError):
        P.inject_lora(copy.deepcopy(tiny_bert), targets=("nothing",))


def test_adapter_identity_at_init_and_formula(tiny_bert, inputs):
    ad = P.BottleneckAdapter(16, 4)
    x = torch.randn(2, 3, 16)
    assert torch.equal(ad(x), x)
    with torch.no_grad():
        ad.up.weight.normal_()
    ref = x + nn.functional.gelu(x @ ad.down.weight.T + ad.down.bias) @ ad.up.weight.T + ad.up.bias
    assert torch.allclose(ad(x), ref, atol=1e-5)
    model = copy.deepcopy(tiny_bert)
    adapters = P.inject_adapters(model, bottleneck=4)
    assert len(adapters) == 4
    assert torch.allclose(_out(model, inputs), _out(tiny_bert, inputs), atol=0)
    assert sum(p.numel() for a in adapters for p in a.parameters()) == P.adapter_parameter_count(16, 4, 4)


def test_prompt_tuning_shapes_and_mask(tiny_bert, inputs):
    model = P.PromptTuningClassifier(copy.deepcopy(tiny_bert), num_labels=3, n_virtual=5)
    logits = model(**inputs)
    assert logits.shape == (3, 3) and model.prompt.shape == (5, 16)
    # padding still has no influence: change padded ids, same output
    changed = dict(inputs)
    changed["input_ids"] = inputs["input_ids"].clone()
    changed["input_ids"][2, 2:] = 1
    with torch.no_grad():
        assert torch.allclose(model(**changed), model(**inputs), atol=1e-5)
    logits.sum().backward()
    assert model.prompt.grad is not None and model.prompt.grad.abs().sum() > 0


@pytest.mark.parametrize("method", P.METHODS)
def test_counts_on_minilm_match_formulas(method):
    model = P.build_method(method)
    rep = P.parameter_report(model)
    assert rep["trainable"] == P.trainable_by_method(method)
    assert rep["total"] == P.total_by_method(method)
    if method == "LoRA":
        assert rep["percent"] < 1.0


def test_counts_match_formulas_for_other_sizes():
    assert P.trainable_by_method("LoRA", hidden=64, layers=2, r=4) == 2 * 2 * 4 * 128 + 130
    assert P.trainable_by_method("adapter", hidden=64, layers=2, bottleneck=8) == (
        4 * (2 * 64 * 8 + 8 + 64) + 5 * 128 + 130)
    with pytest.raises(InputError):
        P.trainable_by_method("nope")
    with pytest.raises(InputError):
        P.build_method("nope")


def test_training_memory_accounting(tiny_bert, inputs):
    batch = dict(inputs, labels=torch.tensor([0, 1, 0]))
    full = MeanPoolClassifier(copy.deepcopy(tiny_bert))
    probe = MeanPoolClassifier(copy.deepcopy(tiny_bert))
    train_only(probe, ["head."])
    lora = MeanPoolClassifier(copy.deepcopy(tiny_bert))
    P.inject_lora(lora.encoder, r=2)
    train_only(lora, [".A", ".B", "head."])
    m_full, m_lora = P.training_memory(full, batch), P.training_memory(lora, batch)
    n_full = count_parameters(full, trainable_only=False)
    assert m_full["gradients"] == 4 * n_full and m_full["optimizer"] == 8 * n_full
    assert m_lora["gradients"] < 0.2 * m_full["gradients"]
    assert m_full["activations"] > 0 and m_lora["activations"] > 0
    # the probe here trains its head, so autograd keeps only the head's input
    assert P.training_memory(probe, batch)["activations"] < 0.2 * m_full["activations"]
    assert all(p.grad is None for p in full.parameters())  # the measurement leaves no gradients


def test_classifiers_are_the_course_classifier(tiny_bert):
    """Prompt and prefix tuning build on models.MeanPoolClassifier (one classifier in the course);
    peft no longer has its own classifier, batching or freezing."""
    assert issubclass(P.PromptTuningClassifier, MeanPoolClassifier)
    assert issubclass(P.PrefixTuningClassifier, MeanPoolClassifier)
    for gone in ("MeanPoolClassifier", "encode", "batches", "EpochBatches", "freeze_all_but"):
        assert not hasattr(P, gone), gone
    model = P.build_method("prompt tuning", encoder=copy.deepcopy(tiny_bert), n_virtual=2)
    assert model.encoder.pooler is not None, "peft keeps the encoder's pooler (the committed counts include it)"


def test_no_course_lib_imports_inside_functions():
    import ast
    from pathlib import Path

    root = Path(P.__file__).resolve().parent.parent
    inner = []
    for path in sorted([*(root / "peft").glob("*.py"), *(root / "foundation").glob("*.py")]):
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(fn):
                    names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                        [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                    if any(n.startswith("course_lib") for n in names):
                        inner.append(f"{path.name}:{node.lineno}")
    assert not inner, inner


def test_format_table_and_text():
    row = {"method": "LoRA", "percent": 0.327, "accuracy": 0.784, "memory_mb": 155.0,
           "seconds_per_epoch": 12.1, "cpu_seconds_per_epoch": 24.0, "trainable": 74498}
    text = P.format_table([row, dict(row, method="adapter")], highlight="adapter")
    assert "78.4%" in text and "0.327%" in text
    assert text.splitlines()[-1].startswith("->adapter")
    t = P.lora_count_text(8, 16)
    assert "73,728" in t and "scaling alpha/r = 2" in t


def test_widgets_update():
    panel = P.widget_demo()
    assert panel.result == P.lora_count_text(8, 16)
    panel.controls["r"].value = 2
    assert panel.result == P.lora_count_text(2, 16) and "r = 2" in panel.result
    rows = [{"method": m, "percent": 1.0, "accuracy": 0.7, "memory_mb": 1.0, "seconds_per_epoch": 1.0,
             "cpu_seconds_per_epoch": 1.0, "trainable": 10} for m in ["a", "b"]]
    picker = P.method_picker(rows)
    picker.controls["method"].value = "b"
    assert any(line.startswith("->b") for line in picker.result.splitlines())


def test_lora_trainer_button_trains_and_reports(monkeypatch):
    calls = []

    def fake_run(method, enc, labels, batches, **kw):
        calls.append((method, kw))
        return P.MethodResult(method, 100, 100_000, 0.75, 1.0, 1.0, 10.0, 1, 5e-4), None

    monkeypatch.setattr(peft_widgets, "run_method", fake_run)  # the name the widget calls
    panel = P.lora_trainer({}, [], [], epochs=1)
    panel.controls["r"].value = 4
    panel.train.button.click()
    assert calls == [("LoRA", {"epochs": 1, "lr": pytest.approx(5e-4), "r": 4, "alpha": 16.0, "seed": 0})]
    assert "test accuracy 75.0 %" in panel.train.message and not panel.train.button.disabled


def test_committed_table_is_complete():
    data = P.load_committed_table()
    assert {"n", "max_length", "epochs", "seed", "lr"} <= set(data["config"])
    methods = [r["method"] for r in data["table"]]
    assert set(P.METHODS) <= set(methods) and "random init" in methods
    assert [r["r"] for r in data["rank_sweep"]] == [1, 2, 4, 8, 16]
    for row in data["table"] + data["rank_sweep"]:
        assert 0.4 < row["accuracy"] < 1.0 and row["peak_rss_mb"] > 0
        kw = {"r": row["r"]} if row["method"] == "LoRA" else {}
        assert row["trainable"] == P.trainable_by_method(row["method"], **kw)
    json.dumps(data)


# ---------------------------------------------------------------- prefix tuning


def _tiny_bert():
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=2100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32)
    torch.manual_seed(0)
    return BertModel(cfg, add_pooling_layer=False).eval()


def test_prefix_attention_equals_transformers_key_value_cache():
    """The from-scratch prefix is exactly BERT with the prefixes as a key/value cache."""
    enc = _tiny_bert()
    batch = {"input_ids": torch.tensor([[1100, 1200, 1300, 0], [1400, 1500, 1600, 1700]]),
             "attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])}
    model = P.PrefixTuningClassifier(copy.deepcopy(enc), n_prefix=3).eval()
    with torch.no_grad():
        mine = model.encoder(**batch).last_hidden_state
        plain = enc(**batch).last_hidden_state
    ref = P.prefix_as_cache_output(enc, model.prefixes, batch)
    real = batch["attention_mask"].bool()
    assert (mine - ref)[real].abs().max() < 1e-5
    assert (mine - plain)[real].abs().max() > 1e-3, "the prefixes must change the outputs"


def test_prefix_tuning_trains_only_prefixes_and_head():
    model = P.PrefixTuningClassifier(_tiny_bert(), n_prefix=4)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names == {"head.weight", "head.bias"} | {f"encoder.encoder.layer.{i}.attention.self.prefix_{kv}"
                                                    for i in range(2) for kv in ("key", "value")}
    assert P.parameter_report(model)["trainable"] == 2 * 2 * 4 * 16 + 16 * 2 + 2
    with pytest.raises(InputError):
        P.inject_prefix(_tiny_bert(), n_prefix=0)
