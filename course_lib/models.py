"""Loaders for the pretrained models: verified, offline, with their preprocessing.

Every loader reads a file checked by :mod:`course_lib.assets`; none downloads.
"""

from __future__ import annotations

import copy
import os
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from course_lib import assets
from course_lib.device import model_device
from course_lib.errors import AssetError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _quiet_transformers() -> None:
    """No 'Loading weights' progress bars or advice logs: notebook outputs stay stable."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

# ---------------------------------------------------------------- EfficientNet-Lite0

EFFICIENTNET_STAGES = ["stem", "stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "stage7", "head"]


def _efficientnet_class():
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise AssetError(
            "The package 'efficientnet-lite-pytorch' is not installed. Install it with: "
            "pip install efficientnet-lite-pytorch==0.1.0   (or: python3 course.py setup)"
        ) from None
    return EfficientNet


@lru_cache(maxsize=1)
def _efficientnet_state() -> dict[str, torch.Tensor]:
    return torch.load(assets.path("efficientnet-lite0"), map_location="cpu", weights_only=True)


def load_efficientnet_lite0(pretrained: bool = True, num_classes: int = 1000, seed: int = 0) -> nn.Module:
    """EfficientNet-Lite0 with ImageNet weights (``pretrained``) or the same network at random init.

    With ``num_classes != 1000`` the ImageNet classifier is replaced by a fresh linear head.
    """
    net_cls = _efficientnet_class()
    torch.manual_seed(seed)
    model = net_cls.from_name("efficientnet-lite0")
    if pretrained:
        model.load_state_dict(copy.deepcopy(_efficientnet_state()))
    if num_classes != 1000:
        model._fc = nn.Linear(model._fc.in_features, num_classes)
    return model.eval()


def efficientnet_stage_of(param_name: str, model: nn.Module | None = None) -> str:
    """Which of :data:`EFFICIENTNET_STAGES` (or 'classifier') a parameter belongs to."""
    if param_name.startswith(("_conv_stem", "_bn0")):
        return "stem"
    if param_name.startswith(("_conv_head", "_bn1")):
        return "head"
    if param_name.startswith("_fc"):
        return "classifier"
    if param_name.startswith("_blocks."):
        idx = int(param_name.split(".")[1])
        return f"stage{efficientnet_block_stage()[idx]}"
    return "other"


@lru_cache(maxsize=1)
def efficientnet_block_stage() -> tuple[int, ...]:
    """Stage number (1..7) of each of Lite0's 16 MBConv blocks."""
    repeats = [1, 2, 2, 3, 3, 4, 1]
    return tuple(s + 1 for s, r in enumerate(repeats) for _ in range(r))


def imagenet_preprocess(images: np.ndarray | torch.Tensor, size: int = 224, resize: int | None = 256) -> torch.Tensor:
    """RGB uint8 (H x W x 3, or N x H x W x 3) -> EfficientNet-Lite input: resize, centre-crop, x*2-1."""
    x = torch.as_tensor(np.asarray(images))
    if x.ndim == 3:
        x = x.unsqueeze(0)
    x = x.permute(0, 3, 1, 2).float() / 255.0
    if resize:
        h, w = x.shape[-2:]
        scale = resize / min(h, w)
        x = nn.functional.interpolate(
            x, size=(round(h * scale), round(w * scale)), mode="bilinear", antialias=True, align_corners=False
        )
        h, w = x.shape[-2:]
        top, left = (h - size) // 2, (w - size) // 2
        x = x[..., top : top + size, left : left + size]
    else:
        x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x * 2 - 1


@lru_cache(maxsize=1)
def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet class names, in output order: torchvision's ``_IMAGENET_CATEGORIES``,
    read from its file and checked by the asset registry (``"imagenet-classes"``)."""
    return assets.verified_list("imagenet-classes")


@torch.no_grad()
def imagenet_top5(model: nn.Module, images: dict[str, np.ndarray]) -> dict[str, list[tuple[str, float]]]:
    """Top-5 ImageNet classes with probabilities for each named RGB photo."""
    model.eval()
    names = imagenet_classes()
    device = model_device(model)
    out = {}
    for key, img in images.items():
        probs = model(imagenet_preprocess(img).to(device)).softmax(-1)[0].cpu()
        top = probs.topk(5)
        out[key] = [(names[i], float(p)) for p, i in zip(top.values, top.indices, strict=True)]
    return out


# ---------------------------------------------------------------- MiniLM (BERT encoder)


def minilm_path() -> str:
    """Verified local folder of all-MiniLM-L6-v2 (a normal Hugging Face model folder)."""
    return str(assets.path("minilm"))


def load_minilm_tokenizer():
    """MiniLM's WordPiece tokenizer (BERT uncased vocabulary)."""
    from transformers import AutoTokenizer

    _quiet_transformers()
    return AutoTokenizer.from_pretrained(minilm_path())


def load_minilm(num_labels: int | None = None, pretrained: bool = True, seed: int = 0):
    """MiniLM as a bare encoder (``num_labels=None``) or with a sequence-classification head.

    ``pretrained=False`` gives the same architecture at random init (the scratch baseline).
    """
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    _quiet_transformers()
    torch.manual_seed(seed)
    path = minilm_path()
    if num_labels is None:
        if pretrained:
            return AutoModel.from_pretrained(path)
        return AutoModel.from_config(AutoConfig.from_pretrained(path))
    if pretrained:
        return AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels)
    return AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(path, num_labels=num_labels))


class MeanPoolClassifier(nn.Module):
    """The course's one sentence classifier on a BERT-style encoder: the encoder (in
    ``.encoder``), mean pooling over real tokens (:func:`mean_pool`), and one linear ``.head``.

    ``seed`` seeds the head's initialisation; ``None`` draws it from the current random state
    (right after loading the encoder, which seeds itself).
    """

    def __init__(self, encoder: nn.Module, num_labels: int = 2, seed: int | None = None):
        super().__init__()
        self.encoder = encoder
        if seed is not None:
            torch.manual_seed(seed)
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The pooled sentence vectors, [B, hidden]."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(out.last_hidden_state, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_) -> torch.Tensor:
        return self.head(self.embed(input_ids, attention_mask))

    def layer_groups(self) -> list[nn.Module]:
        """Bottom -> top: the embeddings, each transformer block, the head."""
        return [self.encoder.embeddings, *self.encoder.encoder.layer, self.head]


def minilm_classifier(pretrained: bool = True, num_labels: int = 2, seed: int = 0, head_seed: int | None = None) -> MeanPoolClassifier:
    """MiniLM (pretrained, or the same architecture at random init) in a
    :class:`MeanPoolClassifier`. BERT's pooler is dropped: mean pooling never uses it, and a
    parameter that cannot learn should not be counted as trainable."""
    encoder = load_minilm(pretrained=pretrained, seed=seed)
    encoder.pooler = None
    return MeanPoolClassifier(encoder, num_labels, seed=head_seed)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The course's one mean pooling: the average of the hidden states over real tokens,
    ``[B, T, H] x [B, T] -> [B, H]`` (how all-MiniLM-L6-v2 makes its sentence vectors).

    Padding positions (mask 0) are ignored; a row with no real token gives zeros.
    """
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)


# ---------------------------------------------------------------- GloVe


@lru_cache(maxsize=1)
def load_glove():
    """GloVe 6B 50d as gensim ``KeyedVectors`` (400,000 words)."""
    import pyarrow.parquet as pq
    from gensim.models import KeyedVectors

    folder = assets.path("glove-6b-50d")
    vectors = np.load(folder / "glove_6B_50d_emb.npy")
    words = pq.read_table(folder / "glove_6B_index.parquet").column("index").to_pylist()
    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(words, vectors)
    return kv
