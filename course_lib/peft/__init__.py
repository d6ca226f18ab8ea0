"""Parameter-efficient fine-tuning written from scratch (lesson 06).

Everything here is plain PyTorch so that each method can be read in a few lines:

* :mod:`~course_lib.peft.layers`: :class:`LoRALinear` (``y = x W^T + b + (alpha / r) x A^T B^T``,
  ``B = 0`` at the start; :func:`inject_lora`, :func:`merge_lora`) and
  :class:`BottleneckAdapter` (``x + f(x W_down) W_up``, Houlsby et al.; :func:`inject_adapters`);
* :mod:`~course_lib.peft.prompts`: :class:`PromptTuningClassifier` (learned virtual tokens
  prepended to the input embeddings) and prefix tuning (:class:`PrefixTuningClassifier`:
  learned keys and values in every attention layer);
* :mod:`~course_lib.peft.methods`: linear probing, full fine-tuning and the methods above,
  built by :func:`build_method` on the course's one classifier
  (:class:`course_lib.models.MeanPoolClassifier`) so that they differ only in what trains,
  and their parameter accounting;
* :mod:`~course_lib.peft.table`: training one method and measuring its row of the table;
* :mod:`~course_lib.peft.reference`: the Hugging Face ``peft`` library, to check the course's
  LoRA and prefix tuning numerically;
* :mod:`~course_lib.peft.widgets`: the lesson's widgets and plots.

The package is named ``course_lib.peft``; ``import peft`` (absolute, as everywhere in
``course_lib``) still reaches the real Hugging Face ``peft`` package.
"""

from course_lib.models import mean_pool
from course_lib.peft.layers import (
    LORA_TARGETS,
    BottleneckAdapter,
    LoRALinear,
    adapter_parameter_count,
    bert_layers,
    inject_adapters,
    inject_lora,
    lora_layers,
    lora_parameter_count,
    merge_lora,
)
from course_lib.peft.methods import (
    DEFAULT_LR,
    METHODS,
    VARIANTS,
    build_method,
    minilm_shapes,
    parameter_report,
    probe_into_head,
    total_by_method,
    trainable_by_method,
)
from course_lib.peft.prompts import (
    PrefixSelfAttention,
    PrefixTuningClassifier,
    PromptTuningClassifier,
    inject_prefix,
    prefix_from_words,
)
from course_lib.peft.reference import (
    copy_lora_weights_to_peft,
    peft_prefix_output,
    peft_reference_lora,
    peft_reference_prefix,
    prefix_as_cache_output,
)
from course_lib.peft.table import (
    MethodResult,
    format_table,
    load_committed_table,
    load_prefix_sweep,
    peak_rss_mb,
    pooled_features,
    result_row,
    run_method,
    training_memory,
)
from course_lib.peft.widgets import (
    lora_count_text,
    lora_trainer,
    method_picker,
    plot_memory,
    plot_tradeoff,
    widget_demo,
)

__all__ = [
    "DEFAULT_LR",
    "LORA_TARGETS",
    "METHODS",
    "VARIANTS",
    "BottleneckAdapter",
    "LoRALinear",
    "MethodResult",
    "PrefixSelfAttention",
    "PrefixTuningClassifier",
    "PromptTuningClassifier",
    "adapter_parameter_count",
    "bert_layers",
    "build_method",
    "copy_lora_weights_to_peft",
    "format_table",
    "inject_adapters",
    "inject_lora",
    "inject_prefix",
    "load_committed_table",
    "load_prefix_sweep",
    "lora_count_text",
    "lora_layers",
    "lora_parameter_count",
    "lora_trainer",
    "mean_pool",
    "merge_lora",
    "method_picker",
    "minilm_shapes",
    "parameter_report",
    "peak_rss_mb",
    "peft_prefix_output",
    "peft_reference_lora",
    "peft_reference_prefix",
    "plot_memory",
    "plot_tradeoff",
    "pooled_features",
    "prefix_as_cache_output",
    "prefix_from_words",
    "probe_into_head",
    "result_row",
    "run_method",
    "total_by_method",
    "trainable_by_method",
    "training_memory",
    "widget_demo",
]
