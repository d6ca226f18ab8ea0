"""Parameter-efficient fine-tuning written from scratch (lesson 06).

Everything here is plain PyTorch so that each method can be read in a few lines:

* :class:`LoRALinear`: ``y = x W^T + b + (alpha / r) * x A^T B^T`` with ``B = 0`` at the
  start, only ``A`` and ``B`` trained; :func:`inject_lora` puts it into MiniLM's query and
  value projections and :func:`merge_lora` folds ``(alpha / r) B A`` back into ``W``.
* :class:`BottleneckAdapter`: ``x + f(x W_down) W_up`` (Houlsby et al.), inserted after the
  attention block and after the feed-forward block of every layer (:func:`inject_adapters`).
* :class:`PromptTuningClassifier`: learned virtual tokens prepended to the input embeddings.
* linear probing (frozen encoder, logistic regression on mean-pooled features) and full
  fine-tuning, built by :func:`build_method` with the same head, so the five methods differ
  only in what trains.

The module is named ``course_lib.peft``; ``import peft`` (absolute, as everywhere in
``course_lib``) still reaches the real Hugging Face ``peft`` package, which
:func:`peft_reference_lora` uses to check the course's LoRA numerically.
"""

from __future__ import annotations

import copy
import math
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.errors import InputError
from course_lib.models import mean_pool
from course_lib.training import count_parameters, evaluate, fit, fit_linear_probe

METHODS = ["full fine-tuning", "linear probe", "LoRA", "adapter", "prompt tuning"]
#: Every model :func:`build_method` makes: the table's methods, the from-scratch baseline, and
#: prefix tuning (measured live in lesson 06 beside prompt tuning; not in the committed table).
VARIANTS = [*METHODS, "random init", "prefix tuning"]
#: Learning rates per method (AdamW, no schedule). Prefix tuning's was chosen from 3e-3, 1e-2
#: and 3e-2 on 400 validation sentences from the training pool (n = 200, 5 epochs; see
#: scripts/prefix_lr_sweep.py and data/lesson06/prefix_lr_sweep.json).
DEFAULT_LR = {
    "full fine-tuning": 5e-5,
    "random init": 2e-4,
    "LoRA": 5e-4,
    "adapter": 5e-4,
    "prompt tuning": 1e-2,
    "prefix tuning": 1e-2,
}
LORA_TARGETS = ("query", "value")


# ---------------------------------------------------------------- LoRA


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update (LoRA, Hu et al. 2021).

    ``forward(x) = base(x) + (alpha / r) * dropout(x) A^T B^T``, where ``A`` is r x in
    (random) and ``B`` is out x r (zeros), so at initialisation the layer equals ``base``.
    """

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16.0, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise InputError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        if int(r) < 1:
            raise InputError(f"the rank r must be at least 1, got {r}")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.r = int(r)
        self.alpha = float(alpha)
        self.scaling = self.alpha / self.r
        like = {"device": base.weight.device, "dtype": base.weight.dtype}  # beside the frozen weight
        self.A = nn.Parameter(torch.empty(self.r, base.in_features, **like))
        self.B = nn.Parameter(torch.zeros(base.out_features, self.r, **like))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # the same init as nn.Linear's weight
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """The update ``(alpha / r) B A`` (out x in) that merging adds to ``W``."""
        return self.scaling * (self.B @ self.A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scaling * ((self.dropout(x) @ self.A.T) @ self.B.T)

    @torch.no_grad()
    def merge(self) -> nn.Linear:
        """A plain ``nn.Linear`` with ``W + (alpha / r) B A``: same outputs, no extra parameters."""
        merged = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None)
        merged = merged.to(self.base.weight.device, self.base.weight.dtype)
        merged.weight.copy_(self.base.weight + self.delta_weight())
        if self.base.bias is not None:
            merged.bias.copy_(self.base.bias)
        merged.requires_grad_(False)
        return merged

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, r={self.r}, alpha={self.alpha:g}"


def _named_linears(model: nn.Module, targets: Sequence[str]) -> list[tuple[nn.Module, str, nn.Linear]]:
    """(parent, attribute, linear) for every nn.Linear whose attribute name is in ``targets``."""
    found = []
    for _, parent in model.named_modules():
        for attr, child in parent.named_children():
            if attr in targets and isinstance(child, nn.Linear):
                found.append((parent, attr, child))
    return found


def inject_lora(
    model: nn.Module,
    r: int = 8,
    alpha: float = 16.0,
    targets: Sequence[str] = LORA_TARGETS,
    dropout: float = 0.0,
    seed: int = 0,
) -> list[LoRALinear]:
    """Replace each ``nn.Linear`` named in ``targets`` (MiniLM: query, value) by a LoRALinear.

    Works in place and returns the new layers. It freezes only the wrapped linears; call
    :func:`freeze_all_but` to freeze the rest of the network.
    """
    sites = _named_linears(model, targets)
    if not sites:
        raise InputError(f"no nn.Linear named {list(targets)} in {type(model).__name__}")
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    layers = []
    for parent, attr, linear in sites:
        lora = LoRALinear(linear, r=r, alpha=alpha, dropout=dropout)
        setattr(parent, attr, lora.to(linear.weight.device))
        layers.append(lora)
    torch.random.set_rng_state(gen_state)
    return layers


def lora_layers(model: nn.Module) -> list[LoRALinear]:
    """Every LoRALinear inside ``model``."""
    return [m for m in model.modules() if isinstance(m, LoRALinear)]


@torch.no_grad()
def merge_lora(model: nn.Module) -> int:
    """Replace every LoRALinear in ``model`` by its merged ``nn.Linear`` (in place); return how many."""
    n = 0
    for _, parent in list(model.named_modules()):
        for attr, child in list(parent.named_children()):
            if isinstance(child, LoRALinear):
                setattr(parent, attr, child.merge())
                n += 1
    return n


def lora_parameter_count(in_features: int, out_features: int, r: int, n_layers: int = 1) -> int:
    """Trainable parameters LoRA adds to ``n_layers`` linears of this shape: r (in + out) each."""
    return int(r) * (int(in_features) + int(out_features)) * int(n_layers)


# ---------------------------------------------------------------- bottleneck adapter


class BottleneckAdapter(nn.Module):
    """``x + f(x W_down + b_down) W_up + b_up`` with f = GELU; ``W_up = 0`` at init (identity)."""

    def __init__(self, dim: int, bottleneck: int = 32):
        super().__init__()
        if int(bottleneck) < 1:
            raise InputError(f"the bottleneck size must be at least 1, got {bottleneck}")
        self.down = nn.Linear(dim, int(bottleneck))
        self.up = nn.Linear(int(bottleneck), dim)
        self.act = nn.GELU()
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.act(self.down(x)))


class _AfterAdapter(nn.Module):
    """A frozen sub-layer followed by an adapter: ``adapter(layer(x))``."""

    def __init__(self, layer: nn.Module, adapter: BottleneckAdapter):
        super().__init__()
        self.layer = layer
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.layer(x))


def inject_adapters(encoder: nn.Module, bottleneck: int = 32, seed: int = 0) -> list[BottleneckAdapter]:
    """Insert a BottleneckAdapter after each BERT layer's attention output projection and after
    its feed-forward output projection (before the residual add and LayerNorm, as in Houlsby
    et al. 2019). In place; returns the adapters."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    adapters = []
    for layer in _bert_layers(encoder):
        for block in (layer.attention.output, layer.output):
            dense = block.dense
            adapter = BottleneckAdapter(dense.out_features, bottleneck).to(dense.weight.device)
            block.dense = _AfterAdapter(dense, adapter)
            adapters.append(adapter)
    torch.random.set_rng_state(gen_state)
    return adapters


def adapter_parameter_count(dim: int, bottleneck: int, n_adapters: int = 1) -> int:
    """Parameters of ``n_adapters`` adapters: down (dim*b + b) + up (b*dim + dim) each."""
    return (2 * int(dim) * int(bottleneck) + int(bottleneck) + int(dim)) * int(n_adapters)


def _bert_layers(encoder: nn.Module) -> list[nn.Module]:
    enc = getattr(encoder, "encoder", None)
    if enc is None or not hasattr(enc, "layer"):
        raise InputError(f"expected a BERT-style encoder with .encoder.layer, got {type(encoder).__name__}")
    return list(enc.layer)


# ---------------------------------------------------------------- classifiers


class MeanPoolClassifier(nn.Module):
    """A MiniLM encoder, mean pooling over real tokens, and one linear head (the course's setup)."""

    def __init__(self, encoder: nn.Module, num_labels: int = 2):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(out.last_hidden_state, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_) -> torch.Tensor:
        return self.head(self.embed(input_ids, attention_mask))


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
            for layer, h in zip(_bert_layers(encoder), hidden, strict=False)]


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
    for layer, (k, v) in zip(_bert_layers(encoder), init, strict=True):
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
        freeze_all_but(self, ["prefix_key", "prefix_value", "head."])


@torch.no_grad()
def prefix_as_cache_output(encoder: nn.Module, prefixes: Sequence[PrefixSelfAttention], batch: dict) -> torch.Tensor:
    """``encoder``'s last hidden state with ``prefixes`` passed as transformers' own key/value
    cache (one layer each, the attention mask extended to cover them, positions from 0): the
    reference that :class:`PrefixSelfAttention` must reproduce."""
    from transformers import DynamicCache

    ids, mask = batch["input_ids"], batch["attention_mask"]
    b, t = ids.shape
    cache = DynamicCache()
    for i, m in enumerate(prefixes):
        k, v = (x.detach().view(m.n_prefix, m.heads, m.head_dim).transpose(0, 1).expand(b, -1, -1, -1).contiguous()
                for x in (m.prefix_key, m.prefix_value))
        cache.update(k, v, i)
    full_mask = torch.cat([mask.new_ones(b, prefixes[0].n_prefix), mask], dim=1)
    position_ids = torch.arange(t, device=ids.device).expand(b, -1)
    with warnings.catch_warnings():  # transformers 5.x renames past_key_values to cache; 4.x knows only the old name
        warnings.simplefilter("ignore", FutureWarning)
        return encoder(input_ids=ids, attention_mask=full_mask, past_key_values=cache,
                       position_ids=position_ids).last_hidden_state


def peft_reference_prefix(encoder: nn.Module, prefixes: Sequence[PrefixSelfAttention]):
    """The ``peft`` library's prefix tuning on a copy of ``encoder``, holding the same prefixes.

    peft stores all prefixes in one embedding of shape n_prefix x (layers * 2 * hidden),
    ordered layer by layer, key then value; it passes them to the model as a key/value cache
    and extends the attention mask. Returns the peft model (same call signature as ``encoder``).
    """
    from peft import PrefixTuningConfig, get_peft_model

    n = prefixes[0].n_prefix
    with warnings.catch_warnings():  # peft calls transformers APIs deprecated in 5.x
        warnings.simplefilter("ignore", FutureWarning)
        model = get_peft_model(copy.deepcopy(encoder), PrefixTuningConfig(task_type="FEATURE_EXTRACTION", num_virtual_tokens=n))
    table = torch.stack([t for m in prefixes for t in (m.prefix_key, m.prefix_value)], dim=1)  # n x 2L x hidden
    emb = model.prompt_encoder["default"].embedding.weight
    with torch.no_grad():
        emb.copy_(table.reshape(n, -1).to(emb.device, emb.dtype))
    return model


@torch.no_grad()
def peft_prefix_output(encoder: nn.Module, prefixes: Sequence[PrefixSelfAttention], batch: dict) -> torch.Tensor:
    """Last hidden state of the ``peft`` library's prefix tuning (:func:`peft_reference_prefix`)
    on ``batch``, the real tokens only."""
    model = peft_reference_prefix(encoder, prefixes).eval()
    with warnings.catch_warnings():  # peft passes past_key_values, renamed in transformers 5.x
        warnings.simplefilter("ignore", FutureWarning)
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state


@torch.no_grad()
def probe_into_head(probe: nn.Module, head: nn.Linear) -> nn.Linear:
    """Copy a probe from :func:`course_lib.training.fit_linear_probe` (a float64 linear layer
    behind a fixed standardisation) into a plain ``nn.Linear`` head of the same shape, folding
    the standardisation into its weight and bias: ``head(x)`` then equals ``probe(x)``."""
    head.weight.copy_(probe.linear.weight / probe.std)
    head.bias.copy_(probe.linear.bias - (probe.linear.weight * probe.mean / probe.std).sum(1))
    return head


def freeze_all_but(model: nn.Module, keep: Iterable[str]) -> int:
    """Freeze every parameter whose name contains none of the substrings in ``keep``; return
    the number of trainable parameters left."""
    keep = list(keep)
    for name, p in model.named_parameters():
        p.requires_grad_(any(k in name for k in keep))
    return count_parameters(model)


def build_method(
    method: str,
    r: int = 8,
    alpha: float = 16.0,
    bottleneck: int = 32,
    n_virtual: int = 20,
    seed: int = 0,
    encoder: nn.Module | None = None,
    n_prefix: int = 10,
) -> nn.Module:
    """A MiniLM classifier (2 labels) set up for one of :data:`VARIANTS`.

    Only the parameters the method trains have ``requires_grad``: full fine-tuning and random
    init train everything; the probe trains the head; LoRA trains A, B and the head; the
    adapter trains the adapters, the LayerNorms and the head; prompt tuning trains the
    virtual tokens and the head; prefix tuning trains the key/value prefixes (``n_prefix`` per
    layer) and the head. ``encoder`` replaces the MiniLM loaded from the asset registry
    (the lesson's script passes one rebuilt from a bundle).
    """
    if method not in VARIANTS:
        raise InputError(f"method must be one of {VARIANTS}, got {method!r}")
    if encoder is None:
        from course_lib.models import load_minilm

        encoder = load_minilm(pretrained=method != "random init", seed=seed)
    torch.manual_seed(seed)
    if method == "prompt tuning":
        model = PromptTuningClassifier(encoder, n_virtual=n_virtual, seed=seed)
        freeze_all_but(model, ["prompt", "head."])
    elif method == "prefix tuning":
        model = PrefixTuningClassifier(encoder, n_prefix=n_prefix, seed=seed)
    else:
        model = MeanPoolClassifier(encoder)
    if method in ("full fine-tuning", "random init"):
        model.requires_grad_(True)
    elif method == "linear probe":
        freeze_all_but(model, ["head."])
    elif method == "LoRA":
        inject_lora(model.encoder, r=r, alpha=alpha, seed=seed)
        freeze_all_but(model, [".A", ".B", "head."])
    elif method == "adapter":
        inject_adapters(model.encoder, bottleneck=bottleneck, seed=seed)
        freeze_all_but(model, ["adapter.", "LayerNorm", "head."])
    return model


# ---------------------------------------------------------------- parameter accounting


def parameter_report(model: nn.Module) -> dict[str, int | float]:
    """Trainable and total parameters of ``model`` and the trainable percentage."""
    total, trainable = count_parameters(model, trainable_only=False), count_parameters(model)
    return {"trainable": trainable, "total": total, "percent": 100.0 * trainable / total if total else 0.0}


def minilm_shapes() -> dict[str, int]:
    """MiniLM's sizes (from its config, no weights loaded): hidden, layers, ffn, vocab, total."""
    from transformers import AutoConfig

    from course_lib.models import minilm_path

    cfg = AutoConfig.from_pretrained(minilm_path())
    h, n, ff, v, p = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size, cfg.vocab_size, cfg.max_position_embeddings
    ln = 2 * h
    per_layer = 4 * (h * h + h) + (h * ff + ff) + (ff * h + h) + 2 * ln
    embeddings = (v + p + cfg.type_vocab_size) * h + ln
    pooler = h * h + h
    return {"hidden": h, "layers": n, "ffn": ff, "vocab": v, "encoder_total": embeddings + n * per_layer + pooler}


def trainable_by_method(
    method: str,
    hidden: int = 384,
    layers: int = 6,
    num_labels: int = 2,
    r: int = 8,
    bottleneck: int = 32,
    n_virtual: int = 20,
    encoder_total: int = 22_713_216,
) -> int:
    """Trainable parameters of each method, computed from the shapes alone (no model needed).

    Counts the head (hidden x labels + labels) in every method. LoRA: r (h + h) on query and
    value of each layer. Adapter: two adapters per layer plus every LayerNorm (2 per layer and
    the embeddings'). Prompt tuning: n_virtual x hidden. Full fine-tuning and random init:
    the encoder and the head.
    """
    head = hidden * num_labels + num_labels
    if method in ("full fine-tuning", "random init"):
        return encoder_total + head
    if method == "linear probe":
        return head
    if method == "LoRA":
        return lora_parameter_count(hidden, hidden, r, n_layers=2 * layers) + head
    if method == "adapter":
        layer_norms = (2 * layers + 1) * 2 * hidden
        return adapter_parameter_count(hidden, bottleneck, n_adapters=2 * layers) + layer_norms + head
    if method == "prompt tuning":
        return n_virtual * hidden + head
    raise InputError(f"unknown method {method!r}")


def total_by_method(method: str, **kw) -> int:
    """All parameters of the model each method builds (the frozen ones included)."""
    hidden, layers = kw.get("hidden", 384), kw.get("layers", 6)
    base = kw.get("encoder_total", 22_713_216) + hidden * kw.get("num_labels", 2) + kw.get("num_labels", 2)
    if method == "LoRA":
        return base + lora_parameter_count(hidden, hidden, kw.get("r", 8), n_layers=2 * layers)
    if method == "adapter":
        return base + adapter_parameter_count(hidden, kw.get("bottleneck", 32), n_adapters=2 * layers)
    if method == "prompt tuning":
        return base + kw.get("n_virtual", 20) * hidden
    return base


# ---------------------------------------------------------------- data


def encode(texts: Sequence[str], tokenizer, max_length: int = 32) -> dict[str, torch.Tensor]:
    """Tokenise ``texts`` once, padded to the longest (at most ``max_length``) tokens."""
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def batches(enc: dict[str, torch.Tensor], labels, batch_size: int = 16, shuffle: bool = False, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """Split an encoded set into dict batches with a ``labels`` key, each trimmed of all-padding
    columns (shorter batches train faster)."""
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    n = len(labels)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)) if shuffle else torch.arange(n)
    out = []
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        mask = enc["attention_mask"][idx]
        width = int(mask.sum(1).max())
        out.append({"input_ids": enc["input_ids"][idx, :width], "attention_mask": mask[:, :width], "labels": labels[idx]})
    return out


class EpochBatches:
    """Re-shuffled batches for each epoch (a tiny DataLoader for pre-tokenised tensors)."""

    def __init__(self, enc: dict[str, torch.Tensor], labels, batch_size: int = 16, seed: int = 0):
        self.enc, self.labels, self.batch_size, self.seed, self.epoch = enc, labels, batch_size, seed, 0

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self):
        self.epoch += 1
        return iter(batches(self.enc, self.labels, self.batch_size, shuffle=True, seed=self.seed * 1000 + self.epoch))


# ---------------------------------------------------------------- memory


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def training_memory(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, int]:
    """Bytes one AdamW training step needs, counted tensor by tensor (deterministic):

    * ``weights``: every parameter; ``gradients``: one per trainable parameter;
    * ``optimizer``: AdamW's two moment tensors per trainable parameter;
    * ``activations``: tensors autograd saves for the backward pass during one forward pass
      of ``batch`` (caught with ``torch.autograd.graph.saved_tensors_hooks``; parameters and
      tensors already counted are skipped, each storage is counted once).

    This is the memory a method's training needs beyond the Python process itself; the
    process's peak resident memory (see :func:`peak_rss_mb`) adds the interpreter, the
    libraries and the allocator's slack on top.
    """
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    param_ptrs = {p.untyped_storage().data_ptr() for p in params}
    seen: set[int] = set()
    saved = 0

    def pack(t: torch.Tensor):
        nonlocal saved
        ptr = t.untyped_storage().data_ptr()
        if ptr not in param_ptrs and ptr not in seen:
            seen.add(ptr)
            saved += t.untyped_storage().nbytes()
        return t

    was_training = model.training
    model.train()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logits = model(**inputs)
        if trainable:
            nn.functional.cross_entropy(logits, batch["labels"]).backward()
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    grads = sum(_nbytes(p) for p in trainable)
    out = {
        "weights": sum(_nbytes(p) for p in params),
        "gradients": grads,
        "optimizer": 2 * grads,
        "activations": saved,
    }
    out["total"] = sum(out.values())
    return out


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MB (``getrusage``; Linux reports KB).

    It never goes down, so it measures one method only in a fresh process (the lesson's
    script runs each method in its own subprocess). On Windows, where there is no
    ``resource`` module, psutil's peak working set is used."""
    try:
        import resource
    except ImportError:  # Windows
        import psutil

        info = psutil.Process().memory_info()
        return getattr(info, "peak_wset", info.rss) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # macOS: bytes; Linux: KB


# ---------------------------------------------------------------- training and the table


@dataclass
class MethodResult:
    """One row of the comparison table."""

    method: str
    trainable: int
    total: int
    accuracy: float
    seconds_per_epoch: float
    cpu_seconds_per_epoch: float
    memory_mb: float
    epochs: int
    lr: float | None
    extra: dict = field(default_factory=dict)

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / self.total


@torch.no_grad()
def pooled_features(model: MeanPoolClassifier, batch_list: Sequence[dict], progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean-pooled embeddings and labels for a list of batches (model in eval mode)."""
    model.eval()
    feats, labels = [], []
    for b in tqdm(batch_list, desc="embed", disable=not progress, leave=False):
        feats.append(model.embed(b["input_ids"], b["attention_mask"]))
        labels.append(b["labels"])
    return torch.cat(feats), torch.cat(labels)


def run_method(
    method: str,
    train_enc: dict[str, torch.Tensor],
    train_labels,
    test_batches: Sequence[dict],
    *,
    epochs: int = 3,
    lr: float | None = None,
    batch_size: int = 16,
    r: int = 8,
    alpha: float = 16.0,
    bottleneck: int = 32,
    n_virtual: int = 20,
    seed: int = 0,
    progress: bool = True,
    model: nn.Module | None = None,
    encoder: nn.Module | None = None,
    device: torch.device | str = "cpu",
) -> tuple[MethodResult, nn.Module]:
    """Build (or take) the model for ``method``, train it, and measure one table row.

    The linear probe embeds the training set once (that is its "epoch") and fits logistic
    regression by LBFGS on the cached features. The others train with AdamW at ``lr`` (the
    method's default from :data:`DEFAULT_LR` if None) for ``epochs`` epochs.
    """
    from course_lib.seed import seed_everything

    seed_everything(seed)
    if model is None:
        model = build_method(method, r=r, alpha=alpha, bottleneck=bottleneck, n_virtual=n_virtual, seed=seed, encoder=encoder)
    report = parameter_report(model)
    device = torch.device(device)
    model.to(device)
    train_list = [{k: v.to(device) for k, v in b.items()} for b in batches(train_enc, train_labels, batch_size)]
    memory = training_memory(model, train_list[0])
    if method == "linear probe":
        t0, c0 = time.perf_counter(), time.process_time()
        feats, labels = pooled_features(model, train_list, progress=progress)
        probe = fit_linear_probe(feats.cpu(), labels.cpu(), standardize=True)
        probe_into_head(probe, model.head)
        sec, cpu, used_epochs, used_lr = time.perf_counter() - t0, time.process_time() - c0, 1, None
    else:
        used_lr = lr if lr is not None else DEFAULT_LR[method]
        loader = EpochBatches(train_enc, train_labels, batch_size, seed=seed)
        c0 = time.process_time()
        hist = fit(model, loader, epochs=epochs, lr=used_lr, progress=progress, desc=method, device=device)
        sec, cpu, used_epochs = hist.seconds / epochs, (time.process_time() - c0) / epochs, epochs
    _, acc = evaluate(model, test_batches, device)
    result = MethodResult(
        method=method,
        trainable=report["trainable"],
        total=report["total"],
        accuracy=acc,
        seconds_per_epoch=sec,
        cpu_seconds_per_epoch=cpu,
        memory_mb=memory["total"] / 2**20,
        epochs=used_epochs,
        lr=used_lr,
        extra={"memory": memory},
    )
    return result, model


def format_table(rows: Sequence[dict], highlight: str | None = None, decimals: int = 1) -> str:
    """A fixed-width text table of result rows (dicts with method, percent, accuracy, ...).

    Times are printed as ``12.3 s`` and memory as ``456 MB`` (masked by nbval's sanitizer,
    since they vary from machine to machine); accuracy is rounded to ``decimals`` places (0
    for live training runs, whose last digit can move between CPUs)."""
    head = f"  {'method':<17} {'% trained':>10} {'accuracy':>9} {'train memory':>13} {'time/epoch':>11} {'CPU/epoch':>10}"
    lines = [head, "  " + "-" * (len(head) - 2)]
    for row in rows:
        mark = "->" if highlight is not None and row["method"] == highlight else "  "
        lines.append(
            f"{mark}{row['method']:<17} {row['percent']:>9.3f}% {100 * row['accuracy']:>8.{decimals}f}% "
            f"{row['memory_mb']:>10.0f} MB {row['seconds_per_epoch']:>9.1f} s {row['cpu_seconds_per_epoch']:>8.1f} s"
        )
    return "\n".join(lines)


def result_row(res: MethodResult) -> dict:
    """A MethodResult as a plain dict (JSON-ready)."""
    return {
        "method": res.method,
        "trainable": res.trainable,
        "total": res.total,
        "percent": res.percent,
        "accuracy": res.accuracy,
        "seconds_per_epoch": res.seconds_per_epoch,
        "cpu_seconds_per_epoch": res.cpu_seconds_per_epoch,
        "memory_mb": res.memory_mb,
        "epochs": res.epochs,
        "lr": res.lr,
        "memory": res.extra.get("memory", {}),
    }


# ---------------------------------------------------------------- the peft library, for checking


def peft_reference_lora(encoder: nn.Module, r: int = 8, alpha: float = 16.0, targets: Sequence[str] = LORA_TARGETS):
    """The Hugging Face ``peft`` library's LoRA on a deep copy of ``encoder`` (query, value).

    Returns the peft model; :func:`copy_lora_weights_to_peft` gives it the course's weights."""
    import peft  # the real library: course_lib uses absolute imports only

    if not hasattr(peft, "LoraConfig"):
        raise ImportError("`import peft` did not reach the Hugging Face peft package")
    config = peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets), lora_dropout=0.0, bias="none")
    with warnings.catch_warnings():  # a deprecation notice from inside transformers, not ours
        warnings.simplefilter("ignore", FutureWarning)
        return peft.get_peft_model(copy.deepcopy(encoder), config)


@torch.no_grad()
def copy_lora_weights_to_peft(course_model: nn.Module, peft_model: nn.Module) -> int:
    """Copy every course LoRALinear's A and B into the matching ``lora_A`` / ``lora_B`` of a
    peft model (matched by module path); return how many layers were copied."""
    theirs = {}
    for name, module in peft_model.named_modules():
        if hasattr(module, "lora_A") and isinstance(module.lora_A, nn.ModuleDict) and "default" in module.lora_A:
            key = name.split("base_model.model.", 1)[-1]
            theirs[key] = module
    n = 0
    for name, module in course_model.named_modules():
        if isinstance(module, LoRALinear):
            target = theirs.get(name)
            if target is None:
                raise InputError(f"peft model has no LoRA layer at {name}")
            target.lora_A["default"].weight.copy_(module.A)
            target.lora_B["default"].weight.copy_(module.B)
            n += 1
    return n


# ---------------------------------------------------------------- widgets


def lora_count_text(r: int, alpha: float, hidden: int = 384, layers: int = 6, encoder_total: int = 22_713_216) -> str:
    """What the rank widget shows: LoRA's trainable parameters for rank r (query + value)."""
    lora = lora_parameter_count(hidden, hidden, r, n_layers=2 * layers)
    head = 2 * hidden + 2
    total = encoder_total + head + lora
    return (
        f"r = {r}, alpha = {alpha:g}, scaling alpha/r = {alpha / r:.3g}\n"
        f"per projection: A {r} x {hidden} + B {hidden} x {r} = {2 * r * hidden:,} parameters\n"
        f"query + value in {layers} layers: {lora:,}; with the head: {lora + head:,} "
        f"of {total:,} = {100 * (lora + head) / total:.3f} % trained\n"
        f"after merging: 0 extra parameters ({encoder_total + head:,} in all)"
    )


def _pre(text: str) -> str:
    import html

    return f"<pre style='margin:0'>{html.escape(text)}</pre>"


def _show_pre(text: str) -> str:
    from IPython.display import HTML, display

    display(HTML(_pre(text)))
    return text


def widget_demo():
    """Rank r and alpha sliders that update LoRA's parameter count at once (no model needed);
    ``panel.result`` is the text shown."""
    import ipywidgets as widgets

    from course_lib.widgets import live_panel

    controls = {"r": widgets.IntSlider(value=8, min=1, max=64, description="rank r", continuous_update=False),
                "alpha": widgets.FloatSlider(value=16, min=1, max=64, step=1, description="alpha", continuous_update=False)}
    return live_panel(controls, lambda r, alpha: _show_pre(lora_count_text(r, alpha)))


def method_picker(rows: Sequence[dict]):
    """A dropdown of methods that marks (->) the chosen row of a results table
    (``panel.result`` is the text shown)."""
    import ipywidgets as widgets

    from course_lib.widgets import live_panel

    def show(method: str) -> str:
        row = next(x for x in rows if x["method"] == method)
        return _show_pre(format_table(rows, highlight=method) + f"\n\n{method}: {row['trainable']:,} "
                         f"trainable parameters, {100 * row['accuracy']:.1f} % accuracy")

    return live_panel({"method": widgets.Dropdown(options=[row["method"] for row in rows], description="method")}, show)


def lora_trainer(train_enc: dict[str, torch.Tensor], train_labels, test_batches: Sequence[dict], epochs: int = 2, seed: int = 0):
    """Rank and alpha sliders (parameter count at once) and a Train button that fine-tunes
    MiniLM with LoRA at that rank on the given (small) set, with a progress bar, and reports
    test accuracy (``panel.train.message``; ``panel.train.result`` the run's result). Keep
    the set small: the button should finish in under 30 seconds."""
    import ipywidgets as widgets

    from course_lib.widgets import ActionButton, live_panel, log_slider

    controls = {"r": widgets.IntSlider(value=8, min=1, max=32, description="rank r", continuous_update=False),
                "alpha": widgets.FloatSlider(value=16, min=1, max=64, step=1, description="alpha", continuous_update=False),
                "lr": log_slider("lr", 5e-4, 1e-5, 1e-2)}

    def train(progress) -> str:
        r, alpha, lr = (controls[k].value for k in ("r", "alpha", "lr"))
        res, _ = run_method("LoRA", train_enc, train_labels, test_batches, epochs=epochs, lr=lr, r=r, alpha=alpha, seed=seed)
        button.result = res
        return (f"LoRA r={r}, alpha={alpha:g}, lr={lr:.1e}: {res.trainable:,} trainable ({res.percent:.3f} %), "
                f"test accuracy {100 * res.accuracy:.1f} % ({res.seconds_per_epoch:.1f} s per epoch)")

    button = ActionButton(train)
    panel = live_panel(controls, lambda r, alpha, lr: _show_pre(lora_count_text(r, alpha)), train=button)
    panel.children = [*panel.children, button]
    return panel


def load_committed_table(path=None) -> dict:
    """The n = 500 table and rank sweep that scripts/lesson06_table.py committed (checksum
    verified through the asset registry, entry ``lesson06-table``)."""
    import json
    from pathlib import Path

    from course_lib import assets

    path = Path(path) if path else assets.path("lesson06-table")
    return json.loads(path.read_text())


def load_prefix_sweep() -> dict:
    """Prefix tuning's learning-rate sweep on validation sentences (scripts/prefix_lr_sweep.py;
    checksum verified through the asset registry, entry ``lesson06-prefix-lr``)."""
    import json

    from course_lib import assets

    return json.loads(assets.path("lesson06-prefix-lr").read_text())


def plot_tradeoff(rows: Sequence[dict], title: str = "", ax=None):
    """Accuracy against the percentage of parameters trained (log scale), one point per method."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.8))
    for row in rows:
        ax.scatter(row["percent"], 100 * row["accuracy"], s=40)
        ax.annotate(row["method"], (row["percent"], 100 * row["accuracy"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.axhline(50, color="grey", ls="--", lw=1, label="chance")
    ax.set_xscale("log")
    ax.set(xlabel="parameters trained (%, log scale)", ylabel="test accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax


def plot_memory(rows: Sequence[dict], title: str = "", ax=None):
    """Stacked bars of the training-memory accounting (weights, gradients, AdamW, activations)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.4))
    parts = ["weights", "gradients", "optimizer", "activations"]
    bottom = np.zeros(len(rows))
    names = [row["method"] for row in rows]
    for part in parts:
        vals = np.array([row["memory"][part] / 2**20 for row in rows])
        ax.bar(names, vals, bottom=bottom, label=part)
        bottom += vals
    ax.set(ylabel="MB for one training step", title=title)
    ax.tick_params(axis="x", rotation=15)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax
