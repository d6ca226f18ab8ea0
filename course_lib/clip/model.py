"""The two frozen towers (EfficientNet-Lite0, MiniLM), the trained projection heads with CLIP's
loss, and zero-shot classification and retrieval in the shared space."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import assets
from course_lib.errors import InputError
from course_lib.models import (
    imagenet_preprocess,
    load_efficientnet_lite0,
    load_minilm,
    load_minilm_tokenizer,
    mean_pool,
)
from course_lib.training import accuracy

HEADS_ASSET = "lesson08-clip-heads"
IMAGE_SIZE = 128  # EfficientNet input size (the 48 px pair images are upsampled)
EMBED_DIM = 256

TEMPLATES: list[str] = [
    "{}",
    "a {}",
    "a picture of a {}",
    "an icon of a {}",
    "a drawing of a {}",
    "clip art of a {}",
    "an emoji of a {}",
    "a cartoon {}",
]


# ---------------------------------------------------------------- frozen towers


@lru_cache(maxsize=1)
def _image_tower() -> nn.Module:
    return load_efficientnet_lite0(pretrained=True).eval()


@lru_cache(maxsize=1)
def _text_tower():
    return load_minilm_tokenizer(), load_minilm(pretrained=True).eval()


@torch.no_grad()
def image_features(images: np.ndarray, batch_size: int = 128, progress: bool = True, size: int = IMAGE_SIZE) -> torch.Tensor:
    """Frozen EfficientNet-Lite0 features (N x 1280, global average pool) of RGB uint8 images.

    Images are resized to ``size`` and mapped to [-1, 1]; grey images (N x H x W) get 3 channels.
    """

    images = np.asarray(images)
    if images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=-1)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(f"image_features() wants N x H x W x 3 RGB images, got shape {images.shape}")
    model = _image_tower()
    out = []
    starts = range(0, len(images), batch_size)
    for s in tqdm(starts, desc="image features", disable=not progress or len(starts) < 2, leave=False):
        x = imagenet_preprocess(images[s : s + batch_size].copy(), size=size, resize=None)  # copy: writable
        out.append(model._avg_pooling(model.extract_features(x)).flatten(1))
    return torch.cat(out) if out else torch.zeros(0, 1280)


@torch.no_grad()
def text_features(texts: Sequence[str], batch_size: int = 256, progress: bool = True) -> torch.Tensor:
    """Frozen MiniLM sentence embeddings (N x 384): mean pooling, then L2 normalisation."""
    texts = list(texts)
    if not texts:
        raise InputError("text_features() needs at least one text")
    tok, model = _text_tower()
    out = []
    starts = range(0, len(texts), batch_size)
    for s in tqdm(starts, desc="text features", disable=not progress or len(starts) < 2, leave=False):
        enc = tok(texts[s : s + batch_size], padding=True, truncation=True, max_length=32, return_tensors="pt")
        hidden = model(**enc).last_hidden_state
        out.append(nn.functional.normalize(mean_pool(hidden, enc["attention_mask"]), dim=-1))
    return torch.cat(out)


# ---------------------------------------------------------------- heads, loss, training


class ClipHeads(nn.Module):
    """The trainable part: a linear head per tower into a shared space, and a temperature.

    Image features are standardised (statistics of the training set, kept as buffers) before
    their head. ``logit_scale`` is log(1 / temperature), as in CLIP, initialised to 1/0.07.
    """

    def __init__(self, image_dim: int = 1280, text_dim: int = 384, embed_dim: int = EMBED_DIM,
                 image_mean: torch.Tensor | None = None, image_std: torch.Tensor | None = None):
        super().__init__()
        self.image_proj = nn.Linear(image_dim, embed_dim)
        self.text_proj = nn.Linear(text_dim, embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.register_buffer("image_mean", torch.zeros(image_dim) if image_mean is None else image_mean.clone())
        self.register_buffer("image_std", torch.ones(image_dim) if image_std is None else image_std.clone())

    def encode_image(self, feats: torch.Tensor) -> torch.Tensor:
        z = (feats.float() - self.image_mean) / self.image_std
        return nn.functional.normalize(self.image_proj(z), dim=-1)

    def encode_text(self, feats: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.text_proj(feats.float()), dim=-1)

    @property
    def temperature(self) -> float:
        return float(1 / self.logit_scale.detach().exp())

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
        """Logits per image (N_images x N_texts): scaled cosine similarities."""
        scale = self.logit_scale.clamp(max=math.log(100)).exp()
        return scale * self.encode_image(image_feats) @ self.encode_text(text_feats).T


def clip_loss(logits_per_image: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE: the i-th image matches the i-th text; mean of both directions."""
    if logits_per_image.ndim != 2 or logits_per_image.shape[0] != logits_per_image.shape[1]:
        raise InputError(f"clip_loss() wants a square N x N matrix of logits, got {tuple(logits_per_image.shape)}")
    target = torch.arange(len(logits_per_image), device=logits_per_image.device)
    return (nn.functional.cross_entropy(logits_per_image, target)
            + nn.functional.cross_entropy(logits_per_image.T, target)) / 2


DEFAULT_TRAIN_CONFIG = {"epochs": 20, "batch_size": 256, "lr": 1e-3, "weight_decay": 0.1, "seed": 0, "embed_dim": EMBED_DIM}


def train_heads(image_feats: torch.Tensor, text_feats: torch.Tensor, epochs: int = 20, batch_size: int = 256,
                lr: float = 1e-3, weight_decay: float = 0.1, seed: int = 0, embed_dim: int = EMBED_DIM,
                progress: bool = True, on_epoch_end: Callable[[int, float, ClipHeads], None] | None = None) -> tuple[ClipHeads, list[float]]:
    """Train :class:`ClipHeads` on paired features with AdamW; return the heads and the loss per epoch.

    ``on_epoch_end(epoch, loss, heads)`` is called after each epoch (e.g. to evaluate). The
    lesson's own loop, not :func:`course_lib.training.fit`: the loss is CLIP's symmetric
    contrastive loss over the whole batch of pairs, with no labels to classify."""
    if len(image_feats) != len(text_feats):
        raise InputError(f"{len(image_feats)} image features but {len(text_feats)} text features: they must pair up")
    if len(image_feats) < 2:
        raise InputError("contrastive training needs at least 2 pairs")
    torch.manual_seed(seed)
    heads = ClipHeads(image_feats.shape[1], text_feats.shape[1], embed_dim,
                      image_feats.mean(0), image_feats.std(0).clamp_min(1e-6))
    opt = torch.optim.AdamW(heads.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for epoch in tqdm(range(epochs), desc="train heads", disable=not progress, leave=False):
        order = torch.randperm(len(image_feats), generator=gen)
        total, seen = 0.0, 0
        for s in range(0, len(order), batch_size):
            b = order[s : s + batch_size]
            if len(b) < 2:
                continue
            loss = clip_loss(heads(image_feats[b], text_feats[b]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
            seen += len(b)
        losses.append(total / seen)
        if on_epoch_end is not None:
            heads.eval()
            on_epoch_end(epoch, losses[-1], heads)
            heads.train()
    return heads.eval(), losses


def load_heads() -> tuple[ClipHeads, dict, dict]:
    """The committed heads (verified), with their training config and log."""
    root = assets.path(HEADS_ASSET).parent
    config = json.loads((root / "clip_heads_config.json").read_text())
    log = json.loads((root / "clip_heads_log.json").read_text())
    state = {k: v.float() for k, v in torch.load(root / "clip_heads.pt", map_location="cpu", weights_only=True).items()}
    heads = ClipHeads(state["image_proj.weight"].shape[1], state["text_proj.weight"].shape[1], state["image_proj.weight"].shape[0])
    heads.load_state_dict(state)
    return heads.eval(), config, log


# ---------------------------------------------------------------- zero-shot and retrieval


@torch.no_grad()
def class_embeddings(heads: ClipHeads, class_names: Sequence[str], templates: Sequence[str] = ("{}",),
                     encode: Callable[[Sequence[str]], torch.Tensor] | None = None) -> torch.Tensor:
    """One unit vector per class in the shared space: the normalised mean over prompt templates.

    With one template this is the plain zero-shot classifier; with several, prompt ensembling.
    """
    if not class_names:
        raise InputError("class_embeddings() needs at least one class name")
    if not templates:
        raise InputError("class_embeddings() needs at least one template")
    for t in templates:
        if "{}" not in t:
            raise InputError(f"a prompt template needs a '{{}}' where the class name goes, got {t!r}")
    encode = encode or (lambda texts: text_features(texts, progress=False))
    prompts = [t.format(c) for c in class_names for t in templates]
    z = heads.encode_text(encode(prompts)).view(len(class_names), len(templates), -1)
    return nn.functional.normalize(z.mean(1), dim=-1)


@torch.no_grad()
def zero_shot_logits(heads: ClipHeads, image_feats: torch.Tensor, class_emb: torch.Tensor) -> torch.Tensor:
    """Scaled cosine similarity of each image to each class embedding (N x C)."""
    return heads.logit_scale.exp() * heads.encode_image(image_feats) @ class_emb.T


def recall_at_k(similarity: torch.Tensor, k: int) -> float:
    """Fraction of queries (rows) whose true match (the same index) is among the top-k columns."""
    if similarity.shape[0] != similarity.shape[1]:
        raise InputError("recall_at_k() wants a square query x candidate matrix (pair i matches i)")
    k = min(k, similarity.shape[1])
    top = similarity.topk(k, dim=1).indices
    return float((top == torch.arange(len(similarity)).unsqueeze(1)).any(1).float().mean())


def per_class_accuracy(pred: torch.Tensor, labels: torch.Tensor, num_classes: int) -> np.ndarray:
    """Accuracy of each class (NaN for a class with no examples)."""
    out = np.full(num_classes, np.nan)
    for c in range(num_classes):
        m = labels == c
        if m.any():
            out[c] = accuracy(pred[m], labels[m])
    return out


def k_shot_indices(labels: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: k random examples per class for training, the rest for testing."""
    rng = np.random.default_rng(seed)
    train = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) <= k:
            raise InputError(f"class {c} has only {len(idx)} examples: cannot take {k} and keep a test set")
        train.extend(rng.choice(idx, size=k, replace=False))
    train = np.sort(np.asarray(train))
    return train, np.setdiff1d(np.arange(len(labels)), train)
