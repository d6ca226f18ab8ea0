"""Vision Transformers for lesson 07: DINOv2 ViT-S/14 rebuilt offline, its pieces by hand.

Submodules: :mod:`~course_lib.vit.dinov2` (constants, ONNX -> torch conversion, loader),
:mod:`~course_lib.vit.inputs` (ImageNet preprocessing; patchify / patch embedding / CLS token /
position embeddings by hand), :mod:`~course_lib.vit.features` (CLS attention maps, a PCA of
patch features, the feature cache for Animal-MNIST), :mod:`~course_lib.vit.finetune`
(fine-tuning of the last block(s) on cached block inputs), :mod:`~course_lib.vit.scratch` (a
small ViT trained from scratch) and :mod:`~course_lib.vit.widgets` (the lesson's widgets).
"""

from course_lib.vit.dinov2 import (
    HEADS,
    HIDDEN,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LAYERS,
    NATIVE_SIZE,
    ONNX_ASSET,
    ONNX_BACKBONE_OUTPUT,
    PATCH,
    dinov2_config,
    load_dinov2,
    match_parameter_names,
    onnx_backbone_output,
    onnx_to_dinov2_state_dict,
)
from course_lib.vit.features import (
    FEATURE_ASSET,
    attentions,
    cached_features,
    cls_attention_maps,
    cls_features,
    k_subset,
    load_feature_cache,
    mass_in_mask,
    patch_mask_from_silhouette,
    patch_pca,
)
from course_lib.vit.finetune import (
    LastBlocksClassifier,
    block_inputs,
    block_output,
    cls_block_output,
    finetune_last_blocks,
    token_loader,
)
from course_lib.vit.inputs import (
    embed_by_hand,
    interpolate_position_embeddings,
    normalize,
    patchify,
    photo_pixels,
    position_similarity,
    preprocess_gray,
    preprocess_photo,
)
from course_lib.vit.scratch import SmallViT, train_small_vit
from course_lib.vit.widgets import (
    AttentionExplorer,
    draw_patch_grid,
    patch_size_widget,
    widget_demo,
)

__all__ = [
    "FEATURE_ASSET", "HEADS", "HIDDEN", "IMAGENET_MEAN", "IMAGENET_STD", "LAYERS", "NATIVE_SIZE",
    "ONNX_ASSET", "ONNX_BACKBONE_OUTPUT", "PATCH", "AttentionExplorer", "LastBlocksClassifier",
    "SmallViT", "attentions", "block_inputs", "block_output", "cached_features", "cls_attention_maps",
    "cls_block_output", "cls_features", "dinov2_config", "draw_patch_grid", "embed_by_hand",
    "finetune_last_blocks", "interpolate_position_embeddings", "k_subset", "load_dinov2",
    "load_feature_cache", "mass_in_mask", "match_parameter_names", "normalize",
    "onnx_backbone_output", "onnx_to_dinov2_state_dict", "patch_mask_from_silhouette", "patch_pca",
    "patch_size_widget", "patchify", "photo_pixels", "position_similarity", "preprocess_gray",
    "preprocess_photo", "token_loader", "train_small_vit", "widget_demo",
]  # fmt: skip
