"""Device mistakes caught without a GPU.

A CPU tensor that reaches a model on CUDA crashes a lesson on a GPU machine (lesson 01 did).
These tests put the model (or the features) on PyTorch's ``meta`` device, which has no data,
and run the library function under :func:`strict_devices`: every torch operation must see its
tensor arguments on one device. A function that forgets to move a batch, or creates a
helper tensor on the CPU beside a model elsewhere, fails here as it would on CUDA. Meta
tensors hold no values, so reading a number out of one (``.item()``, ``float()``) is the
expected end of the run: :func:`run_on_meta` accepts that and nothing else.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from course_lib import (
    clip,
    device,
    mlm,
    models,
    peft,
    textdata,
    training,
    transformers_ft,
    ulmfit,
    vit,
)
from course_lib.elmo import BiLM, BiLMConfig

META = torch.device("meta")


class DeviceMix(AssertionError):
    pass


class strict_devices(TorchFunctionMode):  # noqa: N801 (used as a context manager)
    """Fail on any torch call whose (non-scalar) tensor arguments sit on different devices."""

    # the operations that move or copy tensors between devices on purpose (Module.to and friends)
    MOVES = {"to", "copy_", "set_", "_has_compatible_shallow_copy_type", "cpu", "cuda"}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in self.MOVES:
            return func(*args, **kwargs)
        leaves, _ = tree_flatten((args, kwargs))
        devices = {t.device.type for t in leaves if isinstance(t, torch.Tensor) and t.dim() > 0}
        if len(devices) > 1:
            raise DeviceMix(f"{getattr(func, '__name__', func)} mixes devices {sorted(devices)}")
        return func(*args, **kwargs)


def run_on_meta(fn, *args, **kwargs):
    """Run ``fn`` under strict_devices; a device mix fails, reading a value off meta ends the run."""
    try:
        with strict_devices():
            return fn(*args, **kwargs)
    except DeviceMix:
        raise
    except (RuntimeError, NotImplementedError) as e:
        msg = str(e)
        if "expected device" in msg or "same device" in msg or "should be the same" in msg:
            raise DeviceMix(msg) from e
        if "meta" not in msg:
            raise
        return None


def test_strict_devices_catches_a_cpu_batch_for_a_meta_model():
    model = nn.Conv2d(3, 4, 3).to(META)  # a convolution does not check devices itself on meta
    with pytest.raises(DeviceMix):
        run_on_meta(model, torch.randn(1, 3, 8, 8))
    run_on_meta(model, torch.randn(1, 3, 8, 8, device=META))


def test_model_device():
    assert device.model_device(nn.Linear(2, 2).to(META)) == META
    assert device.model_device(nn.BatchNorm1d(2).to(META)) == META
    assert device.model_device(nn.ReLU()) == torch.device("cpu")


def _loader(n=8, dim=5):
    x, y = torch.randn(n, dim), torch.arange(n) % 2
    return [(x[:4], y[:4]), (x[4:], y[4:])]


def test_evaluate_and_predict_follow_the_model():
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Linear(8, 2)).to(META)
    run_on_meta(training.evaluate, model, _loader())
    run_on_meta(training.predict, model, _loader())


def test_fit_moves_batches_to_its_device():
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    run_on_meta(training.fit, model, _loader(), epochs=1, device=META, progress=False)
    assert device.model_device(model) == META


def test_fit_linear_probe_on_device_features():
    feats = torch.randn(10, 6, device=META)
    run_on_meta(training.fit_linear_probe, feats, torch.arange(10) % 3, num_classes=3)
    head = training.fit_linear_probe(torch.randn(10, 6), torch.arange(10) % 3)
    assert head(torch.randn(2, 6)).dtype == torch.float32


def test_clip_heads_loss_and_zero_shot_on_device():
    heads = clip.ClipHeads(16, 12, embed_dim=8).to(META)
    img, txt = torch.randn(4, 16, device=META), torch.randn(4, 12, device=META)
    run_on_meta(lambda: clip.clip_loss(heads(img, txt)))
    cls = torch.randn(3, 8, device=META)
    run_on_meta(clip.zero_shot_logits, heads, img, cls)


def test_lora_and_adapters_stay_on_the_model_device():
    base = nn.Sequential(nn.Linear(6, 6)).to(META)
    lora = peft.LoRALinear(base[0], r=2, alpha=4.0)
    assert all(p.device == META for p in lora.parameters())
    run_on_meta(lora, torch.randn(3, 6, device=META))


def test_vit_helpers_keep_the_input_device():
    x = torch.randn(1, 3, 28, 28, device=META)
    assert vit.patchify(x, 14).device == META
    pos = torch.randn(1, 1 + 4 * 4, 8, device=META)
    run_on_meta(vit.interpolate_position_embeddings, pos, 2, 2)


def _tiny_bilm():

    vocab = ["<pad>", "<unk>", "<eos>"] + [f"w{i}" for i in range(7)]
    return BiLM(BiLMConfig(vocab_size=len(vocab), proj=4, hidden=8, layers=2), vocab)


def test_ulmfit_classifier_and_forgetting_follow_the_lm():
    import numpy as np

    docs, labels = [["w1", "w2", "w3"], ["w4", "w5"]] * 2, np.array([0, 1, 0, 1])
    run_on_meta(ulmfit.train_lm_classifier, _tiny_bilm().to(META), docs, labels, docs, labels, epochs=1, batch_size=2, progress=False)
    run_on_meta(ulmfit.train_lm_classifier, _tiny_bilm().to(META), docs, labels, docs, labels, ulmfit_recipe=False, epochs=1,
                batch_size=2, progress=False)
    run_on_meta(ulmfit.forgetting_run, _tiny_bilm().to(META), docs, docs, labels, docs, labels, ulmfit_recipe=True, lr=1e-2,
                epochs=1, batch_size=2, progress=False)


def test_vit_last_block_finetuning_follows_the_model():
    from transformers import Dinov2Model

    with torch.device("meta"):
        model = Dinov2Model(vit.dinov2_config("eager"))
    images = (torch.rand(2, 28, 28) * 255).to(torch.uint8).numpy()
    run_on_meta(vit.block_inputs, model, images, progress=False)  # CPU images, a model elsewhere
    clf = vit.LastBlocksClassifier(model)
    assert all(p.device == META for p in clf.parameters())
    run_on_meta(clf, torch.randn(2, 65, 384, device=META))
    tokens, labels = torch.randn(4, 65, 384), torch.arange(4) % 2  # CPU batches for a meta model
    run_on_meta(vit.finetune_last_blocks, model, tokens, labels, epochs=1, batch_size=2, progress=False)
    run_on_meta(training.evaluate, clf, vit.token_loader(tokens, labels))


def test_mlm_helpers_follow_the_model():

    vocab = mlm.SPECIALS + [f"w{i}" for i in range(20)]
    tok = mlm.WordTokenizer(vocab)
    with torch.device("meta"):
        model = mlm.build_mlm(mlm.bert_config(len(vocab), hidden=16, layers=1, heads=2, max_length=16))
    texts = ["w1 w2 w3 w4 w5 w6 w7 w8 w9 w10"] * 8  # CPU batches for a meta model
    run_on_meta(mlm.mlm_loss, model, tok, texts)
    run_on_meta(mlm.masked_predictions, model, tok, "w1 w2 w3", ["w2"])
    b = textdata.encode(texts, tok)
    x, y = mlm.mask_tokens(b["input_ids"], len(vocab), generator=torch.Generator().manual_seed(0))
    run_on_meta(mlm.masked_logits, model, x, b["attention_mask"], y)
    clf = models.MeanPoolClassifier(model.bert).to(META)
    run_on_meta(training.evaluate, clf, [{**b, "labels": torch.zeros(len(texts), dtype=torch.long)}])


class _CharTokenizer:
    """Just enough of a Hugging Face tokenizer for greedy_continues: one id per character."""

    def __call__(self, text, return_tensors=None, add_special_tokens=False):
        ids = [ord(c) % 50 for c in text]
        return {"input_ids": torch.tensor([ids]) if return_tensors else ids}

    def pad(self, batch, return_tensors="pt"):
        seqs = batch["input_ids"]
        t = max(len(s) for s in seqs)
        ids = torch.zeros(len(seqs), t, dtype=torch.long)
        mask = torch.zeros(len(seqs), t, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)], mask[i, : len(s)] = torch.as_tensor(s), 1
        return {"input_ids": ids, "attention_mask": mask}

    def decode(self, ids):
        return "".join(chr(97 + int(i) % 26) for i in ids)


def test_greedy_continues_follows_the_decoder():
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    tok = _CharTokenizer()
    for prefix in ("", "Opposites.\nup -> down\n"):
        run_on_meta(transformers_ft.greedy_continues, model, tok, ["hot ->", "big ->"], [("cold",), ("small", "little")],
                    prefix=prefix)
