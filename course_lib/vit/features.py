"""Lesson 07's attention maps and features: CLS attention per layer and head, attention mass
inside an object, a PCA of patch tokens, CLS features and the committed feature cache."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import assets
from course_lib.errors import InputError
from course_lib.vit.dinov2 import HIDDEN, PATCH
from course_lib.vit.inputs import photo_pixels, preprocess_gray, preprocess_photo

FEATURE_ASSET = "lesson07-dinov2-cls-112"

# ---------------------------------------------------------------- attention, features


@torch.no_grad()
def attentions(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Every layer's attention weights for one image: layers x heads x (1+N) x (1+N)."""
    out = model(pixel_values=x, output_attentions=True)
    if out.attentions is None or out.attentions[0] is None:
        raise InputError('no attention weights: load the model with attn_implementation="eager"')
    return torch.stack([a[0] for a in out.attentions])


def cls_attention_maps(att: torch.Tensor, grid: int) -> torch.Tensor:
    """From layers x heads x T x T weights: the CLS token's attention to the patches, layers x heads x grid x grid."""
    return att[..., 0, 1:].reshape(*att.shape[:-2], grid, grid)


def mass_in_mask(att_map: torch.Tensor, mask: torch.Tensor) -> float:
    """Fraction of an attention map's total weight that falls inside a boolean patch mask."""
    att_map = att_map.float()
    return float(att_map[mask].sum() / att_map.sum())


def patch_mask_from_silhouette(image: np.ndarray, size: int = 224, threshold: float = 0.5) -> torch.Tensor:
    """A light-object-on-dark silhouette (uint8 RGB, e.g. skimage's horse) -> boolean patch grid,
    True where more than ``threshold`` of the patch's pixels belong to the object."""
    x = preprocess_photo(image, size)
    pix = torch.as_tensor(photo_pixels(x)).mean(-1)  # H x W in [0, 1]
    light = (pix > 0.5).float()
    g = size // PATCH
    cover = light.reshape(g, PATCH, g, PATCH).mean(dim=(1, 3))
    return cover > threshold


def patch_pca(tokens: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Project patch tokens (N x D) on their first ``k`` principal components: N x k."""
    z = tokens.float() - tokens.float().mean(0)
    _, _, v = torch.linalg.svd(z, full_matrices=False)
    proj = z @ v[:k].T
    # fix each component's sign so that the largest-magnitude entry is positive (deterministic)
    sign = torch.sign(proj.gather(0, proj.abs().argmax(0, keepdim=True)))
    return proj * sign


@torch.no_grad()
def cls_features(
    model: nn.Module, images: np.ndarray, size: int = 112, batch_size: int = 64, progress: bool = True
) -> torch.Tensor:
    """CLS features (after the final LayerNorm) of Animal-MNIST images: N x 384."""
    feats = []
    for i in tqdm(range(0, len(images), batch_size), desc=f"DINOv2 {size}px", disable=not progress, leave=False):
        x = preprocess_gray(images[i : i + batch_size], size)
        feats.append(model(pixel_values=x).last_hidden_state[:, 0])
    return torch.cat(feats) if feats else torch.zeros(0, HIDDEN)


def load_feature_cache() -> dict[str, np.ndarray]:
    """The committed DINOv2 CLS features of Animal-MNIST at 112 px (fp16; see scripts/lesson07_features.py).

    Keys: ``test`` (2000 x 384), ``test_labels``, ``train`` (the k=100 training subset,
    1000 x 384), ``train_labels``, ``train_rank`` (an image belongs to the k-subset iff rank < k).
    """
    with np.load(assets.path(FEATURE_ASSET)) as z:
        return {k: z[k] for k in z.files}


def cached_features(split: str = "train", standardize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, labels) of :func:`load_feature_cache`'s ``train`` or ``test`` split as float32 /
    int64 tensors; ``standardize`` centres and scales both splits with the training split's
    statistics (the exercises' small heads train on these)."""
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    cache = load_feature_cache()
    x = torch.tensor(cache[split], dtype=torch.float32)
    if standardize:
        train = torch.tensor(cache["train"], dtype=torch.float32)
        x = (x - train.mean(0)) / train.std(0)
    return x, torch.tensor(cache[f"{split}_labels"], dtype=torch.long)


def k_subset(cache: dict[str, np.ndarray], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, labels) of the nested k-per-class training subset from the cache."""
    keep = cache["train_rank"] < k
    if k < 1 or k > int(cache["train_rank"].max()) + 1:
        raise InputError(f"the feature cache holds k from 1 to {int(cache['train_rank'].max()) + 1}, got {k}")
    return torch.from_numpy(cache["train"][keep].astype(np.float32)), torch.from_numpy(cache["train_labels"][keep].astype(np.int64))


