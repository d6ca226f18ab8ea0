"""Unit tests for course_lib.vit (lesson 07): the ONNX -> torch conversion, the ViT input by
hand, attention maps, PCA, the feature cache, the small ViT and the widgets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import data, vit
from course_lib.errors import InputError


@pytest.fixture(scope="module")
def model():
    return vit.load_dinov2()


@pytest.fixture(scope="module")
def photo():
    return vit.preprocess_photo(data.skimage_photos(["chelsea"])["chelsea"], 224)


def test_conversion_is_complete(model):
    n = sum(p.numel() for p in model.parameters())
    assert 21.5e6 < n < 22.5e6
    assert not any(p.requires_grad for p in model.parameters())
    assert not any(p.is_meta for p in model.parameters())
    state = vit.dinov2._cached_state()
    assert set(state) == set(model.state_dict())
    # every anonymous MatMul was named and transposed into nn.Linear's layout
    assert state["encoder.layer.0.mlp.fc1.weight"].shape == (1536, 384)
    assert state["encoder.layer.11.attention.q_proj.weight"].shape == (384, 384)
    # the cached state dict is copied, not shared: changing one model leaves the next intact
    again = vit.load_dinov2()
    assert again.embeddings.cls_token.data_ptr() != model.embeddings.cls_token.data_ptr()


def test_torch_model_matches_onnx_backbone(model, photo):
    pytest.importorskip("onnxruntime")
    x = torch.cat([photo, torch.flip(photo, dims=[-1])])
    with torch.no_grad():
        ours = model(pixel_values=x).last_hidden_state
    ref = torch.from_numpy(vit.onnx_backbone_output(x))
    assert ref.shape == ours.shape == (2, 257, 384)
    assert float((ours - ref).abs().max()) < 1e-4  # measured 2-3e-5


def test_conversion_is_not_random(model, photo):
    """Pretrained features are stable under a small shift of the photo; a random init's are not."""
    with torch.no_grad():
        a = model(pixel_values=photo).pooler_output
        b = model(pixel_values=torch.roll(photo, 3, dims=-1)).pooler_output
    assert torch.nn.functional.cosine_similarity(a, b).item() > 0.9


def test_patchify_matches_strided_conv():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 28, 42, generator=g)
    p = vit.patchify(x, 14)
    assert p.shape == (2, 6, 588)
    assert torch.equal(p[1, 4], x[1, :, 14:28, 14:28].flatten())
    conv = torch.nn.Conv2d(3, 5, 14, stride=14)
    with torch.no_grad():
        ref = conv(x).flatten(2).transpose(1, 2)
        ours = p @ conv.weight.reshape(5, -1).T + conv.bias
    assert torch.allclose(ours, ref, atol=1e-5)
    with pytest.raises(InputError):
        vit.patchify(torch.zeros(1, 3, 30, 28), 14)


def test_embed_by_hand_matches_model(model, photo):
    with torch.no_grad():
        assert torch.allclose(vit.embed_by_hand(model, photo), model.embeddings(photo), atol=1e-4)
        big = torch.nn.functional.interpolate(photo, size=(518, 518), mode="bilinear")
        assert torch.allclose(vit.embed_by_hand(model, big), model.embeddings(big), atol=1e-4)
    pos = model.embeddings.position_embeddings
    assert vit.interpolate_position_embeddings(pos, 37, 37) is pos
    assert vit.interpolate_position_embeddings(pos, 8, 8).shape == (1, 65, 384)


def test_position_similarity(model):
    s = vit.position_similarity(model)
    assert s.shape == (37, 37, 37, 37)
    assert torch.allclose(s[5, 7, 5, 7], torch.tensor(1.0), atol=1e-5)
    assert float(s[18, 18, 18, 19]) > float(s[18, 18, 2, 34])  # a neighbour beats a far corner


def test_attention_maps(model, photo):
    att = vit.attentions(model, photo)
    assert att.shape == (12, 6, 257, 257)
    assert torch.allclose(att.sum(-1), torch.ones(12, 6, 257), atol=1e-4)
    maps = vit.cls_attention_maps(att, 16)
    assert maps.shape == (12, 6, 16, 16)
    assert torch.equal(maps[3, 2].flatten(), att[3, 2, 0, 1:])
    sdpa = vit.load_dinov2(attn_implementation="sdpa")
    with torch.no_grad():
        assert torch.allclose(sdpa(pixel_values=photo).last_hidden_state,
                              model(pixel_values=photo).last_hidden_state, atol=1e-4)


def test_mask_and_mass():
    horse = data.skimage_photos(["horse"])["horse"]
    mask = vit.patch_mask_from_silhouette(horse)
    assert mask.shape == (16, 16) and 0.2 < float(mask.float().mean()) < 0.6
    m = torch.zeros(4, 4)
    m[0, 0], m[3, 3] = 3.0, 1.0
    inside = torch.zeros(4, 4, dtype=torch.bool)
    inside[0, 0] = True
    assert vit.mass_in_mask(m, inside) == pytest.approx(0.75)


def test_patch_pca():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(50, 8, generator=g) * torch.tensor([5.0, 3, 1, 1, 1, 1, 1, 1])
    p = vit.patch_pca(z, 3)
    assert p.shape == (50, 3)
    assert torch.allclose(p.mean(0), torch.zeros(3), atol=1e-4)
    var = p.var(0)
    assert var[0] > var[1] > var[2]
    assert torch.allclose(vit.patch_pca(-z, 3), p, atol=1e-4)  # deterministic sign


def test_feature_cache_matches_data():
    cache = vit.load_feature_cache()
    test = data.animal_test_set()
    assert cache["test"].shape == (2000, 384) and cache["test"].dtype == np.float16
    assert np.array_equal(cache["test_labels"], test.labels)
    for k in (1, 5, 50):
        feats, labels = vit.k_subset(cache, k)
        assert feats.shape == (10 * k, 384)
        assert np.array_equal(np.sort(labels.numpy()), np.sort(data.animal_train_subset(k).labels))
    f5, _ = vit.k_subset(cache, 5)
    f10, _ = vit.k_subset(cache, 10)
    assert all(any(torch.equal(r, s) for s in f10) for r in f5)  # nested
    with pytest.raises(InputError):
        vit.k_subset(cache, 101)


def test_feature_cache_slice_is_live(model):
    cache = vit.load_feature_cache()
    train = data.animal_train_subset(100)
    live = vit.cls_features(model, train.images[:4], size=int(cache["size"]), progress=False)
    cached = torch.from_numpy(cache["train"][:4].astype(np.float32))
    assert float((live - cached).abs().max() / live.abs().max()) < 1e-2


def test_small_vit_trains():
    net = vit.SmallViT()
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    sub = data.animal_train_subset(2)
    _, hist, acc = vit.train_small_vit(sub.images, sub.labels, sub.images, sub.labels, epochs=2, progress=False)
    assert len(hist.train_loss) == 2 and 0.0 <= acc <= 1.0


def test_preprocess_shapes():
    img = np.zeros((300, 451, 3), np.uint8)
    x = vit.preprocess_photo(img, 112)
    assert x.shape == (1, 3, 112, 112)
    assert vit.photo_pixels(x).shape == (112, 112, 3)
    assert vit.preprocess_gray(np.zeros((2, 28, 28), np.uint8), 56).shape == (2, 3, 56, 56)
    with pytest.raises(InputError):
        vit.preprocess_photo(img, 100)


def test_widget_demo_updates():
    import matplotlib

    matplotlib.use("Agg")
    w = vit.widget_demo()
    slider = w.children[0].children[1]
    info = w.children[1]
    assert info.value.startswith("256 patch tokens")
    slider.value = 28
    assert info.value.startswith("64 patch tokens")


def test_dinov2_names_match_either_transformers_naming():
    """The ONNX conversion names attention weights as transformers 5 does; 4.x names them
    ``attention.attention.query``: the loader renames to whatever the installed model uses."""
    t = torch.zeros(1)
    state = {"encoder.layer.0.attention.q_proj.weight": t, "encoder.layer.0.attention.o_proj.bias": t,
             "embeddings.cls_token": t}
    v4 = {"encoder.layer.0.attention.attention.query.weight", "encoder.layer.0.attention.output.dense.bias",
          "embeddings.cls_token"}
    assert set(vit.match_parameter_names(state, v4)) == v4
    assert set(vit.match_parameter_names(state, set(state))) == set(state)


# ---------------------------------------------------------------- fine-tuning the last block(s)


@pytest.fixture(scope="module")
def few_images():
    test = data.animal_test_set(per_class=2)
    return test.images, test.labels  # 20 images, 2 per class


def test_block_inputs_and_cls_path_match_the_full_model(model, few_images):
    images, _ = few_images
    with torch.no_grad():
        ref = model(pixel_values=vit.preprocess_gray(images[:6])).last_hidden_state[:, 0]
        for n_last in (1, 2):
            tokens = vit.block_inputs(model, images[:6], n_last=n_last, batch_size=4, progress=False)
            assert tokens.shape == (6, 65, 384)
            clf = vit.LastBlocksClassifier(model, n_last=n_last)
            assert torch.allclose(clf.features(tokens), ref, atol=1e-4)
        # the CLS-only path of one block equals the full block's CLS output
        full = vit.block_output(model.encoder.layer[-1](tokens))[:, 0]  # tokens entering block 11 here
        assert torch.allclose(vit.cls_block_output(model.encoder.layer[-1], tokens), full, atol=1e-4)
    with pytest.raises(InputError):
        vit.block_inputs(model, images[:2], n_last=0)


def test_head_from_probe_reproduces_the_probe(model, few_images):
    images, labels = few_images
    tokens = vit.block_inputs(model, images, progress=False)
    clf = vit.LastBlocksClassifier(model)
    with torch.no_grad():
        feats = clf.features(tokens)
    from course_lib.training import fit_linear_probe

    probe = fit_linear_probe(feats, torch.as_tensor(labels), num_classes=10)
    clf.init_head_from_probe(probe)
    with torch.no_grad():
        assert torch.allclose(clf(tokens), probe(feats), atol=1e-3)
    # trainable: the copied block, final LayerNorm and head; the frozen model is untouched
    assert sum(p.numel() for p in clf.parameters() if p.requires_grad) == sum(p.numel() for p in clf.parameters())
    assert 1.7e6 < sum(p.numel() for p in clf.parameters()) < 1.9e6
    assert not any(p.requires_grad for p in model.parameters())


def test_finetune_last_blocks_learns_and_leaves_the_model_alone(model, few_images):
    images, labels = few_images
    tokens = vit.block_inputs(model, images, progress=False)
    before = model.encoder.layer[-1].mlp.fc1.weight.clone()
    y = torch.as_tensor(labels)
    clf, hist = vit.finetune_last_blocks(model, tokens, y, lr=3e-4, epochs=4, batch_size=8, seed=0, progress=False)
    assert not clf.training and len(hist.train_loss) == 4
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert not torch.equal(clf.blocks[0].mlp.fc1.weight, before)
    assert torch.equal(model.encoder.layer[-1].mlp.fc1.weight, before)
    from course_lib.training import evaluate

    _, acc = evaluate(clf, vit.token_loader(tokens, y))
    assert acc > 0.5  # 20 training images, 10 classes
    # seeded: the same call gives the same weights
    again, _ = vit.finetune_last_blocks(model, tokens, y, lr=3e-4, epochs=4, batch_size=8, seed=0, progress=False)
    assert torch.allclose(again.head.weight, clf.head.weight)
    with pytest.raises(InputError):
        vit.finetune_last_blocks(model, tokens, y[:-1], progress=False)
