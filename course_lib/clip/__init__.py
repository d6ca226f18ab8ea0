"""Lesson 08: a CLIP-style model the course trains itself (LiT: locked image tower, locked text tower).

Two frozen pretrained towers, EfficientNet-Lite0 for images (ImageNet) and MiniLM for text
(mean pooling), each get a linear projection head into one shared space. The heads are trained
with CLIP's symmetric InfoNCE loss and a learnable temperature on image-caption pairs from
emoji names and openclipart titles (``scripts/build_clip_pairs.py`` makes the pairs,
``scripts/train_clip_heads.py`` trains and commits the heads).

Everything a notebook needs: the pairs and their splits (whole concepts held out of training),
tower features, the heads, the loss, zero-shot classifiers with prompt ensembling, retrieval
metrics and the widgets.

The package: :mod:`~course_lib.clip.pairs` (the pairs and their split),
:mod:`~course_lib.clip.model` (towers, heads, loss, zero-shot, retrieval) and
:mod:`~course_lib.clip.widget` (the widgets).
"""

from course_lib.clip.model import (
    DEFAULT_TRAIN_CONFIG,
    EMBED_DIM,
    HEADS_ASSET,
    IMAGE_SIZE,
    TEMPLATES,
    ClipHeads,
    class_embeddings,
    clip_loss,
    image_features,
    k_shot_indices,
    load_heads,
    per_class_accuracy,
    recall_at_k,
    text_features,
    train_heads,
    zero_shot_logits,
)
from course_lib.clip.pairs import (
    HELDOUT_CONCEPTS,
    N_RETRIEVAL_TEST,
    PAIRS_ASSET,
    SPLIT_SEED,
    Pairs,
    PairSplit,
    caption_words,
    concepts_in,
    load_pairs,
    make_split,
)
from course_lib.clip.widget import temperature_widget, widget_demo, zero_shot_gallery_widget

# the kit's own functions, at the dotted paths the grader's answer list names (course_lib.grading.answers)
from course_lib.models import mean_pool
from course_lib.training import softmax_with_temperature

__all__ = [
    "DEFAULT_TRAIN_CONFIG", "EMBED_DIM", "HEADS_ASSET", "HELDOUT_CONCEPTS", "IMAGE_SIZE", "N_RETRIEVAL_TEST",
    "PAIRS_ASSET", "SPLIT_SEED", "TEMPLATES",
    "ClipHeads", "PairSplit", "Pairs",
    "caption_words", "class_embeddings", "clip_loss", "concepts_in", "image_features", "k_shot_indices",
    "load_heads", "load_pairs", "make_split", "mean_pool", "per_class_accuracy", "recall_at_k", "softmax_with_temperature",
    "temperature_widget", "text_features", "train_heads", "widget_demo", "zero_shot_gallery_widget", "zero_shot_logits",
]  # fmt: skip
