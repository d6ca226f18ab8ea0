"""Lesson 05: fine-tuning an encoder (MiniLM, BERT-style) and a decoder (SmolLM2, GPT-style).

* :mod:`~course_lib.transformers_ft.data`: stratified subsets, the validation split, the
  committed results, and the lesson's batches (:func:`text_loader`, :func:`shuffled_loader`);
* :mod:`~course_lib.transformers_ft.encoder`: poolings (mean, [CLS], last token), frozen MiniLM
  features, :func:`freeze_minilm` and :func:`finetune_minilm` (on the course's one classifier,
  :class:`course_lib.models.MeanPoolClassifier`);
* :mod:`~course_lib.transformers_ft.decoder`: the SmolLM2 loader, generation, per-token
  language-model loss, last-token features, zero-shot and few-shot scoring, and a last-block
  fine-tune on cached hidden states;
* :mod:`~course_lib.transformers_ft.words`: in-context learning on a word task;
* :mod:`~course_lib.transformers_ft.widgets`: the lesson's widgets.
"""

from course_lib.models import mean_pool
from course_lib.transformers_ft.data import (
    CACHE_DIR,
    committed_results,
    length_order,
    minilm_tokenizer,
    polarity_validation,
    shuffled_loader,
    subset,
    text_loader,
)
from course_lib.transformers_ft.decoder import (
    LABEL_WORDS,
    PROBE_SMOLLM2,
    PROMPT,
    SMOLLM2_GGUF,
    DecoderFeatures,
    LastBlockClassifier,
    cached_state_batches,
    chat_prompt,
    decoder_features,
    few_shot_prefix,
    generate,
    label_token_ids,
    load_smollm2,
    predict_last_block,
    smollm2_dir,
    token_losses,
    train_last_block,
    zero_shot_predict,
)
from course_lib.transformers_ft.encoder import (
    POOLINGS,
    PROBE_MINILM,
    FinetuneResult,
    cls_pool,
    describe_freezing,
    finetune_minilm,
    freeze_minilm,
    last_token_index,
    last_token_pool,
    minilm_encoder,
    minilm_features,
    minilm_layers,
    minilm_parameter_table,
    trainable_minilm,
)
from course_lib.transformers_ft.widgets import finetune_widget, prompt_widget, widget_demo
from course_lib.transformers_ft.words import (
    ANTONYM_HEADER,
    ANTONYMS,
    GreedyCheck,
    greedy_continues,
    pair_prompt,
    pairs_prefix,
)

__all__ = [
    "ANTONYMS", "ANTONYM_HEADER", "CACHE_DIR", "LABEL_WORDS", "POOLINGS", "PROBE_MINILM", "PROBE_SMOLLM2", "PROMPT",
    "SMOLLM2_GGUF", "DecoderFeatures", "FinetuneResult", "GreedyCheck", "LastBlockClassifier",
    "cached_state_batches", "chat_prompt", "cls_pool", "committed_results", "decoder_features", "describe_freezing",
    "few_shot_prefix", "finetune_minilm", "finetune_widget", "freeze_minilm", "generate", "greedy_continues",
    "label_token_ids", "last_token_index", "last_token_pool", "length_order", "load_smollm2", "mean_pool",
    "minilm_encoder", "minilm_features", "minilm_layers", "minilm_parameter_table", "minilm_tokenizer",
    "pair_prompt", "pairs_prefix", "polarity_validation", "predict_last_block", "prompt_widget", "shuffled_loader",
    "smollm2_dir", "subset", "text_loader", "token_losses", "train_last_block", "trainable_minilm",
    "widget_demo", "zero_shot_predict",
]  # fmt: skip
