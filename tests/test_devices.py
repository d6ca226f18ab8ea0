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

from course_lib import clip, device, peft, training, vit

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
