"""Lesson 01 (scratch vs transfer): freezing by block, parameter groups, feature caching,
fine-tuning runs, baselines from scratch, and the lesson's widgets.

Everything a notebook cell of lesson 01 does that is more than a few lines lives here, as
plain functions (tested in ``tests/test_vision.py``); the widgets only wire them together.

The network is EfficientNet-Lite0 (:func:`course_lib.models.load_efficientnet_lite0`). Its
parameters fall into ten *blocks*: ``stem``, ``stage1`` .. ``stage7``, ``head`` (the last
1x1 convolution and its batch norm) and ``classifier`` (the linear layer on top).

Submodules: :mod:`~course_lib.vision.blocks` (blocks, freezing, rates),
:mod:`~course_lib.vision.features` (inputs, feature cache, probe),
:mod:`~course_lib.vision.finetune` (fine-tuning runs, batch norm),
:mod:`~course_lib.vision.scratch` (baselines from scratch), :mod:`~course_lib.vision.widgets`.
"""

from course_lib.vision.blocks import (
    BACKBONE_BLOCKS,
    BLOCKS,
    DEFAULT_SIZE,
    NUM_CLASSES,
    ParamSummary,
    block_of,
    freeze_all_but_classifier,
    parameter_groups,
    parameter_summary,
    replace_classifier,
    top_blocks,
    train_blocks,
)
from course_lib.vision.features import (
    PROBE_MAX_ITER,
    AugmentedLoader,
    clear_feature_cache,
    efficientnet_inputs,
    extract_features,
    first_k_per_class,
    fit_probe,
    probe_accuracy,
    probe_logits,
    small_cnn_inputs,
)
from course_lib.vision.finetune import (
    DEFAULT_UNFREEZE_PHASES,
    RunResult,
    accuracy_with_batch_stats,
    epochs_for,
    finetune_efficientnet,
    gradual_unfreeze,
    optimizer_steps,
    reestimate_batchnorm,
    steps_budget,
)
from course_lib.vision.scratch import (
    SCRATCH_RECIPE,
    SmallCNN,
    choose_lr,
    train_from_scratch,
    train_small_cnn,
    validation_split,
)
from course_lib.vision.widgets import (
    freeze_panel,
    lr_sliders,
    probe_slider,
    train_panel,
    widget_demo,
)

__all__ = [
    "BACKBONE_BLOCKS", "BLOCKS", "DEFAULT_SIZE", "DEFAULT_UNFREEZE_PHASES", "NUM_CLASSES",
    "PROBE_MAX_ITER", "SCRATCH_RECIPE", "AugmentedLoader", "ParamSummary", "RunResult", "SmallCNN",
    "accuracy_with_batch_stats", "block_of", "choose_lr", "clear_feature_cache", "efficientnet_inputs",
    "epochs_for", "extract_features", "finetune_efficientnet", "first_k_per_class", "fit_probe",
    "freeze_all_but_classifier", "freeze_panel", "gradual_unfreeze", "lr_sliders", "optimizer_steps",
    "parameter_groups", "parameter_summary", "probe_accuracy", "probe_logits", "probe_slider",
    "reestimate_batchnorm", "replace_classifier", "small_cnn_inputs", "steps_budget", "top_blocks",
    "train_blocks", "train_from_scratch", "train_panel", "train_small_cnn", "validation_split",
    "widget_demo",
]  # fmt: skip
