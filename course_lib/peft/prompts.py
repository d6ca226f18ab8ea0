"""Prompt tuning and prefix tuning on a frozen MiniLM (lesson 06), both built on the course's
one sentence classifier, :class:`course_lib.models.MeanPoolClassifier`.

* :class:`PromptTuningClassifier`: learned virtual tokens prepended to the input embeddings.
* :class:`PrefixSelfAttention` / :class:`PrefixTuningClassifier`: learned keys and values
  prepended inside every attention layer (:func:`inject_prefix`, :func:`prefix_from_words`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from course_lib.errors import InputError
from course_lib.models import MeanPoolClassifier, mean_pool
from course_lib.peft.layers import bert_layers
from course_lib.training import train_only


class PromptTuningClassifier(MeanPoolClassifier):
    """Prompt tuning (Lester et al. 2021): ``n_virtual`` learned vectors are prepended to the
    word embeddings of every input; the encoder stays frozen. Position and segment embeddings
    and the embedding LayerNorm are then applied by the encoder as for real tokens. The pooled
    output averages the real tokens only."""

    def __init__(self, encoder: nn.Module, num_labels: int = 2, n_virtual: int = 20, seed: int = 0):
        super().__init__(encoder, num_labels)
        if int(n_virtual) < 1:
            raise InputError(f"n_virtual must be at least 1, got {n_virtual}")
        words = encoder.embeddings.word_embeddings.weight
        gen = torch.Generator().manual_seed(seed)
        # initialise from the embeddings of random vocabulary words (a common, stable choice)
        low = 1000 if words.shape[0] > 2000 else 0  # skip BERT's [unused] and special tokens
        idx = torch.randint(low, words.shape[0], (int(n_virtual),), generator=gen)
        self.prompt = nn.Parameter(words.detach()[idx].clone())

    @property
    def n_virtual(self) -> int:
        return self.prompt.shape[0]

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        words = self.encoder.embeddings.word_embeddings(input_ids)
        batch = input_ids.shape[0]
        prompt = self.prompt.unsqueeze(0).expand(batch, -1, -1)
        embeds = torch.cat([prompt, words], dim=1)
        ones = attention_mask.new_ones(batch, self.n_virtual)
        mask = torch.cat([ones, attention_mask], dim=1)
        out = self.encoder(inputs_embeds=embeds, attention_mask=mask)
        return mean_pool(out.last_hidden_state[:, self.n_virtual :], attention_mask)


class PrefixSelfAttention(nn.Module):
    """One BERT layer's self-attention with learned key and value prefixes (prefix tuning).

    Prefix tuning (Li & Liang, 2021) prepends ``n_prefix`` trainable vectors to the **keys and
    values of every layer**, so each real token can attend to them; nothing is added to the
    input sequence and the layer's own query, key and value projections stay frozen. Prompt
    tuning, by contrast, prepends vectors to the *input embeddings* only, which the frozen
    network then transforms layer by layer. This module reuses the wrapped layer's projections
    and its dropout, accepts the attention masks transformers passes (a boolean "may attend"
    mask or an additive float mask, any broadcastable shape) and returns
    ``(context, attention probabilities)`` like the module it replaces.
    """

    def __init__(self, attention: nn.Module, prefix_key: torch.Tensor, prefix_value: torch.Tensor):
        super().__init__()
        self.query, self.key, self.value = attention.query, attention.key, attention.value
        self.heads = int(attention.num_attention_heads)
        self.head_dim = int(attention.attention_head_size)
        self.dropout = attention.dropout if isinstance(getattr(attention, "dropout", None), nn.Module) else nn.Identity()
        like = {"device": self.key.weight.device, "dtype": self.key.weight.dtype}
        self.prefix_key = nn.Parameter(prefix_key.detach().clone().to(**like))
        self.prefix_value = nn.Parameter(prefix_value.detach().clone().to(**like))

    @property
    def n_prefix(self) -> int:
        return self.prefix_key.shape[0]

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, *args, **kwargs):
        b, t, _ = hidden_states.shape

        def heads(x: torch.Tensor) -> torch.Tensor:  # B x N x hidden -> B x heads x N x head_dim
            return x.view(b, -1, self.heads, self.head_dim).transpose(1, 2)

        q = heads(self.query(hidden_states))
        k = heads(torch.cat([self.prefix_key.expand(b, -1, -1), self.key(hidden_states)], dim=1))
        v = heads(torch.cat([self.prefix_value.expand(b, -1, -1), self.value(hidden_states)], dim=1))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        if attention_mask is not None:  # every query may attend to every prefix position
            pad_shape = (*attention_mask.shape[:-1], self.n_prefix)
            if attention_mask.dtype == torch.bool:
                mask = torch.cat([attention_mask.new_ones(pad_shape), attention_mask], dim=-1)
                scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
            else:
                scores = scores + torch.cat([attention_mask.new_zeros(pad_shape), attention_mask], dim=-1)
        probs = self.dropout(scores.softmax(-1))
        context = (probs @ v).transpose(1, 2).reshape(b, t, self.heads * self.head_dim)
        return context, probs


@torch.no_grad()
def prefix_from_words(encoder: nn.Module, n_prefix: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Initial (key, value) prefixes for every layer: the frozen layers' own keys and values of
    ``n_prefix`` random vocabulary words run through the encoder (Li & Liang found initialising
    from real words' activations more stable than random vectors)."""
    words = encoder.embeddings.word_embeddings.weight
    gen = torch.Generator().manual_seed(seed)
    low = 1000 if words.shape[0] > 2000 else 0  # skip BERT's [unused] and special tokens
    ids = torch.randint(low, words.shape[0], (1, int(n_prefix)), generator=gen).to(words.device)
    hidden = encoder(input_ids=ids, output_hidden_states=True).hidden_states  # input of each layer
    return [(layer.attention.self.key(h)[0], layer.attention.self.value(h)[0])
            for layer, h in zip(bert_layers(encoder), hidden, strict=False)]


def inject_prefix(encoder: nn.Module, n_prefix: int = 10, seed: int = 0,
                  init: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> list[PrefixSelfAttention]:
    """Replace every layer's self-attention of a BERT encoder by a :class:`PrefixSelfAttention`.

    ``init`` gives each layer's (key, value) prefix (``n_prefix`` x hidden); by default
    :func:`prefix_from_words`. Returns the new modules; their prefixes are the only new
    parameters (2 x n_prefix x hidden per layer).
    """
    if int(n_prefix) < 1:
        raise InputError(f"n_prefix must be at least 1, got {n_prefix}")
    init = init or prefix_from_words(encoder, n_prefix, seed)
    out = []
    for layer, (k, v) in zip(bert_layers(encoder), init, strict=True):
        module = PrefixSelfAttention(layer.attention.self, k, v)
        layer.attention.self = module
        out.append(module)
    return out


class PrefixTuningClassifier(MeanPoolClassifier):
    """Prefix tuning on a frozen MiniLM: learned key/value prefixes in every layer, mean pooling
    over the real tokens, a linear head. Only the prefixes and the head train."""

    def __init__(self, encoder: nn.Module, num_labels: int = 2, n_prefix: int = 10, seed: int = 0):
        super().__init__(encoder, num_labels)
        self.prefixes = inject_prefix(self.encoder, n_prefix, seed)
        train_only(self, ["prefix_key", "prefix_value", "head."])

