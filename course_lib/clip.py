"""Lesson 08: a CLIP-style model the course trains itself (LiT: locked image tower, locked text tower).

Two frozen pretrained towers, EfficientNet-Lite0 for images (ImageNet) and MiniLM for text
(mean pooling), each get a linear projection head into one shared space. The heads are trained
with CLIP's symmetric InfoNCE loss and a learnable temperature on image-caption pairs from
emoji names and openclipart titles (``scripts/build_clip_pairs.py`` makes the pairs,
``scripts/train_clip_heads.py`` trains and commits the heads).

Everything a notebook needs: the pairs and their splits (whole concepts held out of training),
tower features, the heads, the loss, zero-shot classifiers with prompt ensembling, retrieval
metrics and the widgets.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
from course_lib.training import softmax_with_temperature

PAIRS_ASSET = "lesson08-clip-pairs"
HEADS_ASSET = "lesson08-clip-heads"
IMAGE_SIZE = 128  # EfficientNet input size (the 48 px pair images are upsampled)
EMBED_DIM = 256
SPLIT_SEED = 8
N_RETRIEVAL_TEST = 250

# Concepts held out of training: no training caption contains any of these words (the class
# word itself, its plural and close synonyms). Test images are those whose caption names exactly
# one held-out concept.
HELDOUT_CONCEPTS: dict[str, tuple[str, ...]] = {
    "cat": ("cat", "cats", "kitten", "kittens", "kitty"),
    "dog": ("dog", "dogs", "puppy", "puppies"),
    "apple": ("apple", "apples"),
    "clock": ("clock", "clocks", "oclock"),
    "tree": ("tree", "trees"),
    "car": ("car", "cars", "automobile", "automobiles"),
    "cake": ("cake", "cakes", "cupcake", "cupcakes"),
    "book": ("book", "books"),
    "moon": ("moon", "moons"),
    "flower": ("flower", "flowers"),
    "phone": ("phone", "phones", "telephone", "telephones"),
    "hat": ("hat", "hats"),
    "camera": ("camera", "cameras"),
    "globe": ("globe", "globes"),
    "airplane": ("airplane", "airplanes", "aeroplane", "plane", "planes"),
}

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


# ---------------------------------------------------------------- pairs and splits


@dataclass(frozen=True)
class Pairs:
    """Image-caption pairs: images N x 48 x 48 x 3 (uint8, on white) and one caption each."""

    images: np.ndarray
    captions: list[str]
    sources: list[str]

    def __len__(self) -> int:
        return len(self.captions)

    def subset(self, idx: Sequence[int] | np.ndarray) -> Pairs:
        idx = np.asarray(idx, dtype=int)
        return Pairs(self.images[idx], [self.captions[i] for i in idx], [self.sources[i] for i in idx])


@lru_cache(maxsize=1)
def load_pairs() -> Pairs:
    """All committed pairs (emoji + openclipart), verified against the data manifest."""
    folder = assets.path(PAIRS_ASSET).parent
    images = np.load(folder / "pairs.npz")["images"]
    meta = json.loads((folder / "pairs.json").read_text())
    images.setflags(write=False)
    return Pairs(images, meta["caption"], meta["source"])


def caption_words(caption: str) -> set[str]:
    """The lower-case alphabetic words of a caption ("bus1 bw" -> {"bus", "bw"})."""
    return set(re.findall(r"[a-z]+", caption.lower()))


def concepts_in(caption: str, concepts: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    """Which held-out concepts a caption mentions (by any of their words)."""
    concepts = HELDOUT_CONCEPTS if concepts is None else concepts
    words = caption_words(caption)
    return [c for c, forms in concepts.items() if words & set(forms)]


@dataclass(frozen=True)
class PairSplit:
    """Indices into :func:`load_pairs`: training pairs, held-out-concept images, retrieval test pairs."""

    train: np.ndarray
    concept_test: np.ndarray
    concept_labels: np.ndarray  # index into concept_names
    concept_names: list[str]
    retrieval_test: np.ndarray


def make_split(captions: Sequence[str], concepts: dict[str, tuple[str, ...]] | None = None,
               n_retrieval: int = N_RETRIEVAL_TEST, seed: int = SPLIT_SEED) -> PairSplit:
    """Hold out whole concepts, then a random set of caption-unique pairs for retrieval.

    Any pair whose caption mentions a held-out concept is removed from training; those that
    mention exactly one concept become its test images. Retrieval pairs have a caption used
    once in the whole set, so their caption never appears in training.
    """
    concepts = HELDOUT_CONCEPTS if concepts is None else concepts
    names = list(concepts)
    mentions = [concepts_in(c, concepts) for c in captions]
    test_idx = [i for i, m in enumerate(mentions) if len(m) == 1]
    labels = [names.index(mentions[i][0]) for i in test_idx]
    free = [i for i, m in enumerate(mentions) if not m]
    counts: dict[str, int] = {}
    for c in captions:
        counts[c] = counts.get(c, 0) + 1
    unique = [i for i in free if counts[captions[i]] == 1]
    rng = np.random.default_rng(seed)
    retrieval = np.sort(rng.choice(unique, size=min(n_retrieval, len(unique)), replace=False))
    train = np.setdiff1d(np.asarray(free), retrieval)
    return PairSplit(train, np.asarray(test_idx), np.asarray(labels), names, retrieval)


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

    ``on_epoch_end(epoch, loss, heads)`` is called after each epoch (e.g. to evaluate)."""
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
            out[c] = float((pred[m] == c).float().mean())
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


# ---------------------------------------------------------------- widgets


def _parse_names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def zero_shot_gallery_widget(heads: ClipHeads, images: np.ndarray, image_feats: torch.Tensor,
                             class_names: str = "cat, dog, apple, clock, tree",
                             template: str = "an icon of a {}", temperature: float | None = None):
    """Type class names (comma separated) and a prompt template: each gallery image shows its
    top prediction and probability. Only the few typed prompts go through MiniLM on a change.
    ``panel.result`` holds the predicted class name of each image."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    from course_lib.widgets import live_panel, log_slider

    img_emb = heads.encode_image(image_feats).detach()
    controls = {
        "names": w.Text(value=class_names, description="classes", continuous_update=False, layout=w.Layout(width="520px")),
        "template": w.Text(value=template, description="template", continuous_update=False, layout=w.Layout(width="520px")),
        "temperature": log_slider("temperature", temperature or heads.temperature, 10**-2.5, 1.0, readout_format=".3f"),
    }

    def render(names: str, template: str, temperature: float) -> list[str]:
        names = _parse_names(names)
        if len(names) < 2:
            raise InputError("type at least two class names, separated by commas")
        probs = softmax_with_temperature(img_emb @ class_embeddings(heads, names, [template]).T, temperature)
        ncols = min(8, len(images))
        nrows = int(np.ceil(len(images) / ncols))
        fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.9 * nrows), squeeze=False)
        predicted = []
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < len(images):
                p, j = probs[i].max(0)
                predicted.append(names[int(j)])
                ax.imshow(images[i])
                ax.set_title(f"{names[int(j)]}\n{float(p):.0%}", fontsize=8)
        fig.tight_layout()
        return predicted

    return live_panel(controls, render, rows=[["names"], ["template"], ["temperature"]])


def temperature_widget(similarities: torch.Tensor, class_names: Sequence[str], image: np.ndarray | None = None,
                       temperature: float = 0.07):
    """A temperature slider over one image's cosine similarities: watch the softmax sharpen.
    ``panel.result`` holds the probabilities drawn last."""
    import matplotlib.pyplot as plt

    from course_lib.widgets import live_panel, log_slider

    sims = torch.as_tensor(similarities).float().flatten()
    if len(sims) != len(class_names):
        raise InputError(f"{len(sims)} similarities for {len(class_names)} class names")

    def render(temperature: float) -> np.ndarray:
        probs = softmax_with_temperature(sims, temperature).numpy()
        ncol = 2 if image is not None else 1
        fig, axes = plt.subplots(1, ncol, figsize=(3.2 * ncol + 2, 2.8), squeeze=False,
                                 gridspec_kw={"width_ratios": [1, 3] if image is not None else [1]})
        if image is not None:
            axes[0, 0].imshow(image)
            axes[0, 0].axis("off")
        ax = axes[0, -1]
        ax.bar(list(class_names), probs * 100, color="tab:blue")
        ax.set(ylabel="probability (%)", ylim=(0, 100), title=f"T = {temperature:.3f}: max {probs.max():.0%}")
        ax.tick_params(axis="x", rotation=30)
        fig.tight_layout()
        return probs

    slider = log_slider("temperature", temperature, 10**-2.5, 10**0.5, readout_format=".3f")
    return live_panel({"temperature": slider}, render)


def widget_demo():
    """A cheap lesson-08 widget for the browser check: the temperature slider over the real
    model's similarities of one emoji to five class names (a few seconds: two small tower calls)."""
    heads, _, _ = load_heads()
    pairs = load_pairs()
    split = make_split(pairs.captions)
    names = ["cat", "dog", "apple", "clock", "tree"]
    i = int(split.concept_test[split.concept_labels == 0][0])
    img = pairs.images[i : i + 1]
    with torch.no_grad():
        emb = heads.encode_image(image_features(img, progress=False))
        sims = (emb @ class_embeddings(heads, names, ["an icon of a {}"]).T)[0]
    return temperature_widget(sims, names, image=img[0], temperature=heads.temperature)
