"""Lesson 09's accounting: storage for N tasks served from one base (:func:`footprint`), a
training-compute estimate (:func:`training_flops`), the published figures the lesson compares
with (:data:`PUBLISHED`) and the chapter's comparison table (:data:`CHAPTER_CLAIMS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from course_lib.errors import InputError
from course_lib.models import minilm_path
from course_lib.peft import lora_parameter_count, minilm_shapes


def footprint(base_bytes: int, adapter_bytes: int, full_bytes: int, n_tasks: int) -> dict[str, int]:
    """Bytes to serve ``n_tasks`` tasks: one base + n adapters vs n full fine-tuned copies."""
    if n_tasks < 1:
        raise InputError(f"n_tasks must be at least 1, got {n_tasks}")
    return {"shared": base_bytes + n_tasks * adapter_bytes, "copies": n_tasks * full_bytes}



def footprint_text(base_bytes: int, adapter_bytes: int, full_bytes: int, n_tasks: int) -> str:
    """What the slider widget prints for ``n_tasks`` tasks."""
    f = footprint(base_bytes, adapter_bytes, full_bytes, n_tasks)
    return (f"N = {n_tasks} tasks: one base + {n_tasks} adapters = {f['shared'] / 2**20:,.1f} MB; "
            f"{n_tasks} full copies = {f['copies'] / 2**20:,.1f} MB ({f['copies'] / f['shared']:.1f}x)")


# ---------------------------------------------------------------- compute


def tokens_seen(enc: dict[str, torch.Tensor], epochs: int) -> int:
    """Real (non-padding) tokens a training run over ``enc`` for ``epochs`` epochs processes."""
    return int(enc["attention_mask"].sum()) * int(epochs)


def training_flops(n_params: int, n_tokens: int) -> float:
    """The usual estimate of training compute, about 6 FLOPs per parameter per token (2 forward,
    4 backward; Kaplan et al. 2020). An order of magnitude, not a measurement: attention's
    own cost and the backward pass LoRA skips for frozen weights are ignored."""
    return 6.0 * float(n_params) * float(n_tokens)


#: Published figures the lesson compares with, each with its source. ``None`` where the
#: source gives no figure; the lesson says "not published" there.
PUBLISHED = {
    "bert_base_params": (110e6, "Devlin et al. 2019 (BERT), section 3: BERT-BASE, 110M parameters"),
    "bert_base_hardware": ("4 Cloud TPUs in Pod configuration (16 TPU chips), 4 days",
                           "Devlin et al. 2019, appendix A.2"),
    "bert_base_steps": (1_000_000, "Devlin et al. 2019, appendix A.2: 1,000,000 steps"),
    "bert_base_tokens_per_batch": (128_000, "Devlin et al. 2019, appendix A.2: 256 sequences x 512 tokens = "
                                   "128,000 tokens per batch"),
    "minilm_pairs": ("over 1 billion sentence pairs", "all-MiniLM-L6-v2 model card (README.md in the model folder)"),
    "minilm_finetune": ("TPU v3-8, 100k steps, batch 1024, sequences of at most 128 tokens",
                        "all-MiniLM-L6-v2 model card"),
    "minilm_finetune_hours": (None, "all-MiniLM-L6-v2 model card: not published"),
    "minilm_distillation_compute": (None, "nreimers/MiniLM-L6-H384-uncased (the starting point): not published "
                                    "in the model card"),
}


def model_card() -> str:
    """The text of all-MiniLM-L6-v2's model card (README.md in the verified model folder)."""
    return (Path(minilm_path()) / "README.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------- the chapter's comparison table

#: The chapter's qualitative comparison of adaptation methods.
CHAPTER_CLAIMS = {
    "full fine-tuning": {"trained": "all parameters", "accuracy": "best", "memory": "high",
                         "use": "production fine-tuning"},
    "linear probe": {"trained": "a head only", "accuracy": "lower", "memory": "lowest", "use": "quick evaluation"},
    "LoRA": {"trained": "under 1 %", "accuracy": "near full", "memory": "low", "use": "production, multi-task serving"},
    "adapter": {"trained": "a few %", "accuracy": "near full", "memory": "low", "use": "multi-task"},
    "prompt tuning": {"trained": "fewest", "accuracy": "good for very large models", "memory": "very low",
                      "use": "few-shot adaptation, very large models"},
}


def text_table(rows: Sequence[Sequence], header: Sequence[str]) -> str:
    """A fixed-width text table (every cell converted with ``str``)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells[1:]]
    return "\n".join(out)


def shape_sizes(r: int = 4, num_labels: int = 2) -> tuple[int, int, int]:
    """fp32 bytes of MiniLM's weights, of one rank-``r`` LoRA adapter (query and value in 6
    layers) with its head, and of one full fine-tuned copy, from the shapes alone (no model)."""
    shapes = minilm_shapes()
    h, layers = shapes["hidden"], shapes["layers"]
    head = h * num_labels + num_labels
    base = 4 * shapes["encoder_total"]
    adapter = 4 * (lora_parameter_count(h, h, r, n_layers=2 * layers) + head)
    return base, adapter, base + 4 * head

