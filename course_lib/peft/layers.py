"""LoRA and bottleneck adapters, the layers lesson 06 injects into a frozen BERT-style encoder.

* :class:`LoRALinear`: ``y = x W^T + b + (alpha / r) * x A^T B^T`` with ``B = 0`` at the
  start, only ``A`` and ``B`` trained; :func:`inject_lora` puts it into MiniLM's query and
  value projections and :func:`merge_lora` folds ``(alpha / r) B A`` back into ``W``.
* :class:`BottleneckAdapter`: ``x + f(x W_down) W_up`` (Houlsby et al.), inserted after the
  attention block and after the feed-forward block of every layer (:func:`inject_adapters`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from course_lib.errors import InputError
from course_lib.training import set_requires_grad

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
        set_requires_grad(self.base, False)
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
    :func:`course_lib.training.train_only` to freeze the rest of the network.
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
    for layer in bert_layers(encoder):
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


def bert_layers(encoder: nn.Module) -> list[nn.Module]:
    """The transformer layers of a BERT-style encoder (``encoder.encoder.layer``), bottom to top."""
    enc = getattr(encoder, "encoder", None)
    if enc is None or not hasattr(enc, "layer"):
        raise InputError(f"expected a BERT-style encoder with .encoder.layer, got {type(encoder).__name__}")
    return list(enc.layer)

