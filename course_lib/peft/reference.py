"""The Hugging Face ``peft`` library's LoRA and prefix tuning, used to check the course's own
(lesson 06), and transformers' key/value cache as the reference for prefix attention.

The course's package is ``course_lib.peft``; ``import peft`` (absolute, as everywhere in
``course_lib``) still reaches the real library. It is imported inside the functions: it is
needed only for these checks, and importing it is slow.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence

import torch
from torch import nn

from course_lib.errors import InputError
from course_lib.peft.layers import LORA_TARGETS, LoRALinear
from course_lib.peft.prompts import PrefixSelfAttention


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

