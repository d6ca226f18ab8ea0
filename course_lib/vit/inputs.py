"""Lesson 07's inputs: ImageNet preprocessing, and the ViT's input built by hand (patchify, patch
embedding, CLS token, position embeddings)."""

from __future__ import annotations

import numpy as np
import torch
import torchvision.transforms.functional as TF
from torch import nn

from course_lib.data import to_tensor_images
from course_lib.errors import InputError
from course_lib.vit.dinov2 import IMAGENET_MEAN, IMAGENET_STD, PATCH

# ---------------------------------------------------------------- preprocessing


def normalize(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] RGB (N x 3 x H x W) -> ImageNet mean/std normalised (``torchvision``'s normalize)."""
    return TF.normalize(x, IMAGENET_MEAN, IMAGENET_STD)


def preprocess_photo(image: np.ndarray, size: int = 224) -> torch.Tensor:
    """RGB uint8 H x W x 3 -> 1 x 3 x size x size: shorter side resized to ``size``, centre crop, normalised.

    The resize and crop are written by hand because torchvision's ``resize``/``center_crop`` round
    the longer side and the crop offset differently (other pixels for e.g. skimage's chelsea at
    224 px), and the lesson's printed attention numbers were made with this version.
    """
    if size % PATCH:
        raise InputError(f"size must be a multiple of the patch size {PATCH}, got {size}")
    x = torch.as_tensor(np.asarray(image)).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = nn.functional.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - size) // 2, (nw - size) // 2
    return normalize(x[..., top : top + size, left : left + size].clamp(0, 1))


def photo_pixels(x: torch.Tensor) -> np.ndarray:
    """Undo :func:`normalize` for display: 1 x 3 x H x W -> H x W x 3 in [0, 1]."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (x[0] * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()


def preprocess_gray(images: np.ndarray, size: int = 112) -> torch.Tensor:
    """Animal-MNIST uint8 N x 28 x 28 -> N x 3 x size x size, bilinear, ImageNet-normalised."""
    return normalize(to_tensor_images(images, size=size, channels=3))


# ---------------------------------------------------------------- ViT input by hand


def patchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """B x C x H x W -> B x N x (C * patch * patch), patches in row-major order.

    Each row is one patch flattened channel first, then patch row, then column: the
    order of a ``Conv2d`` weight (out, C, p, p), so ``patchify(x) @ W.reshape(D, -1).T``
    is that convolution with stride = kernel = patch.
    """
    b, c, h, w = x.shape
    if h % patch or w % patch:
        raise InputError(f"image {h}x{w} is not divisible into {patch}x{patch} patches")
    x = x.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, (h // patch) * (w // patch), c * patch * patch)


def interpolate_position_embeddings(pos: torch.Tensor, grid_h: int, grid_w: int) -> torch.Tensor:
    """Position embeddings (1 x (1 + G*G) x D) resized to a grid_h x grid_w patch grid (bicubic).

    The CLS position is kept; the G x G grid of patch positions is treated as a D-channel
    image and resampled, as DINOv2 does for inputs smaller or larger than 518 px.
    """
    cls_pos, grid = pos[:, :1], pos[:, 1:]
    g = int(round(grid.shape[1] ** 0.5))
    if (grid_h, grid_w) == (g, g):
        return pos
    grid = grid.reshape(1, g, g, -1).permute(0, 3, 1, 2)
    grid = nn.functional.interpolate(grid, size=(grid_h, grid_w), mode="bicubic", align_corners=False)
    return torch.cat([cls_pos, grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, -1)], dim=1)


def embed_by_hand(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The transformer's input tokens built by hand from the model's parameters.

    patchify -> linear patch embedding -> prepend the CLS token -> add position embeddings.
    Returns B x (1 + N) x D, to compare with ``model.embeddings(x)``.
    """
    emb = model.embeddings
    weight = emb.patch_embeddings.projection.weight  # D x C x p x p
    bias = emb.patch_embeddings.projection.bias
    patches = patchify(x, weight.shape[-1])
    tokens = patches @ weight.reshape(weight.shape[0], -1).T + bias
    cls = emb.cls_token.expand(x.shape[0], -1, -1)
    tokens = torch.cat([cls, tokens], dim=1)
    gh, gw = x.shape[-2] // PATCH, x.shape[-1] // PATCH
    return tokens + interpolate_position_embeddings(emb.position_embeddings, gh, gw)


def position_similarity(model: nn.Module) -> torch.Tensor:
    """Cosine similarity of each patch position embedding with every other: G x G x G x G."""
    grid = model.embeddings.position_embeddings[0, 1:]
    g = int(round(grid.shape[0] ** 0.5))
    z = nn.functional.normalize(grid, dim=-1)
    return (z @ z.T).reshape(g, g, g, g)


