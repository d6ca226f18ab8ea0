"""Lesson 03: the course's own ELMo-shaped biLSTM language model, ScalarMix and layer probes.

No ELMo weights exist offline, so ``scripts/pretrain_bilm.py`` pretrains a small biLM on the
course corpus (``course_lib.corpus``) and commits it under ``data/bilm/`` (asset ``"bilm"``).

Interface (also used by lesson 04, which takes the FORWARD stack as its language model)::

    from course_lib.elmo import load_bilm
    lm = load_bilm()                    # BiLM in eval mode, float32, on the CPU (or device=...)
    lm.vocab, lm.stoi                   # list of words (id -> word), dict word -> id
    lm.pad_id, lm.unk_id, lm.eos_id     # "<pad>" = 0, "<unk>" = 1, "<eos>" = 2 (sentence boundary)
    toks = lm.tokenize("The bank of the river.")   # course_lib.corpus.tokenize
    ids = lm.encode(toks)               # LongTensor [eos, w1, ..., wn, eos] (boundaries added)
    ids = lm.encode_batch([toks, ...])  # (padded ids (B, T), lengths (B,))

    logits = lm.forward_lm(ids)         # (B, T, V): logits[:, t] predicts ids[:, t + 1]
    states = lm.forward_states(ids)     # list of (B, T, P) tensors, one per forward LSTM layer
    logits = lm.backward_lm(ids, lengths)   # logits[:, t] predicts ids[:, t - 1]
    layers = lm.layer_outputs(ids, lengths) # (L + 1, B, T, 2P): layer 0 = [e; e], layer l = [f_l; b_l]
    lm.perplexity(sentences, "forward")     # held-out perplexity of token lists

    lm.embedding        # nn.Embedding (V, P), tied to the softmax of both directions
    lm.forward_stack    # nn.ModuleList of single-layer nn.LSTM (proj_size=P); residual from layer 2 on
    lm.backward_stack   # the same for the backward direction
    lm.decoder_bias     # the softmax bias (logits = h @ embedding.weight.T + decoder_bias)

The forward stack alone (``embedding`` -> ``forward_stack`` -> tied softmax) is an ordinary
next-token LSTM language model: fine-tune it with ``forward_lm`` and a shifted cross-entropy.

Layer features, probes and the scalar mix (ELMo_k = gamma * sum_l softmax(s)_l h_{k,l}):
:class:`ScalarMix`, :func:`scalar_mix`, :func:`bilm_token_features`,
:func:`minilm_token_features`, :func:`sentence_means`, :func:`probe_layers`,
:func:`probe_layer_correct`, :func:`bootstrap_layer_accuracy`,
:func:`fit_scalar_mix_probe`, :func:`mix_probe_accuracy`, :func:`mix_widget`, :func:`widget_demo`.

The package: :mod:`~course_lib.elmo.bilm` (the model, save and load),
:mod:`~course_lib.elmo.features` (scalar mix, layer features, POS tags),
:mod:`~course_lib.elmo.probes` (probes, bootstrap, sense similarity) and
:mod:`~course_lib.elmo.widget` (the scalar-mix explorer).
"""

from course_lib.elmo.bilm import (
    EOS,
    PAD,
    SPECIALS,
    UNK,
    BiLM,
    BiLMConfig,
    load_bilm,
    load_bilm_from,
    reverse_padded,
    save_bilm,
)
from course_lib.elmo.features import (
    UNIVERSAL_TAGS,
    ScalarMix,
    bilm_token_features,
    brown_to_universal,
    minilm_sentence_features,
    minilm_token_features,
    scalar_mix,
    sentence_means,
)
from course_lib.elmo.probes import (
    MixProbe,
    bootstrap_layer_accuracy,
    cosine_matrix,
    find_word_vectors,
    fit_scalar_mix_probe,
    mix_probe_accuracy,
    nearest_sense_accuracy,
    probe_layer_correct,
    probe_layers,
    sense_separation,
)
from course_lib.elmo.widget import mix_widget, widget_demo

__all__ = [
    "EOS", "PAD", "SPECIALS", "UNIVERSAL_TAGS", "UNK",
    "BiLM", "BiLMConfig", "MixProbe", "ScalarMix",
    "bilm_token_features", "bootstrap_layer_accuracy", "brown_to_universal", "cosine_matrix",
    "find_word_vectors", "fit_scalar_mix_probe", "load_bilm", "load_bilm_from", "minilm_sentence_features",
    "minilm_token_features", "mix_probe_accuracy", "mix_widget", "nearest_sense_accuracy",
    "probe_layer_correct", "probe_layers", "reverse_padded", "save_bilm", "scalar_mix", "sense_separation", "sentence_means",
    "widget_demo",
]  # fmt: skip
