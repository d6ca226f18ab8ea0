"""One base, many tasks (lesson 09): :class:`TaskServer` loads the base once, injects LoRA
slots once and swaps each task's LoRA weights and head in at inference; :func:`state_nbytes`
and :func:`resident_nbytes` measure what storing and serving them costs.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from course_lib.errors import InputError
from course_lib.models import MeanPoolClassifier
from course_lib.peft import LoRALinear, inject_lora
from course_lib.textdata import batches, encode

#: The method names of a server's entries (the lesson serves each task both ways).
PROBE = "linear probe"
LORA = "LoRA"


@dataclass
class _Entry:
    classes: tuple[str, ...]
    head: nn.Module
    lora: dict[str, torch.Tensor] | None = None


@dataclass
class TaskServer:
    """One base encoder, loaded once, serving many (task, method) pairs.

    LoRA slots of rank ``r`` are injected into the base's query and value projections once.
    A LoRA task stores only its A and B tensors and its head; :meth:`use` copies its A and B
    into the slots. A probe stores only its head and serves with every B at zero, which leaves
    the base's outputs exactly as they were. The base's own weights never change.
    """

    encoder: nn.Module
    tokenizer: object
    r: int = 4
    alpha: float = 8.0
    max_length: int = 40
    entries: dict[tuple[str, str], _Entry] = field(default_factory=dict)
    active: tuple[str, str] | None = None

    def __post_init__(self):
        self.model = MeanPoolClassifier(self.encoder, num_labels=1)  # its head is never used: each entry brings its own
        inject_lora(self.model.encoder, r=self.r, alpha=self.alpha)
        self.model.requires_grad_(False).eval()
        self.slots = {f"encoder.{n}": p for n, p in self.model.encoder.named_parameters(prefix="") if n.endswith((".A", ".B"))}

    def add(self, task: str, method: str, classes: Sequence[str], head: nn.Module, lora: Mapping[str, torch.Tensor] | None = None):
        """Register a task's head (and, for LoRA, its A and B tensors, named as in the trained model)."""
        lora_part = None
        if lora is not None:
            lora_part = {n: t.detach().clone() for n, t in lora.items() if n in self.slots}
            missing = set(self.slots) - set(lora_part)
            misfit = [n for n, t in lora_part.items() if t.shape != self.slots[n].shape]
            if missing or misfit:
                raise InputError(f"the LoRA state lacks {len(missing)} and misfits {len(misfit)} of the server's "
                                 f"{len(self.slots)} slots (rank {self.r} on query and value expected)")
        self.entries[(task, method)] = _Entry(tuple(classes), head.eval().requires_grad_(False), lora_part)
        self.active = None

    @torch.no_grad()
    def use(self, task: str, method: str) -> None:
        """Swap the (task, method) pair's LoRA weights into the base (B = 0 for a probe)."""
        if (task, method) not in self.entries:
            raise InputError(f"no {method!r} registered for task {task!r}; have {sorted(self.entries)}")
        if self.active == (task, method):
            return
        lora = self.entries[(task, method)].lora
        for name, slot in self.slots.items():
            if lora is None:
                if name.endswith(".B"):
                    slot.zero_()
            else:
                slot.copy_(lora[name])
        self.active = (task, method)

    @torch.no_grad()
    def _embed(self, texts: Sequence[str] | str) -> torch.Tensor:
        texts = [texts] if isinstance(texts, str) else list(texts)
        enc = encode(texts, self.tokenizer, self.max_length)
        return torch.cat([self.model.embed(b["input_ids"], b["attention_mask"])
                          for b in batches(enc, batch_size=64)])

    @torch.no_grad()
    def features(self, texts: Sequence[str] | str) -> torch.Tensor:
        """Mean-pooled features of the base itself (every LoRA B at zero): what probes use."""
        if self.active != ("", "base"):
            for name, slot in self.slots.items():
                if name.endswith(".B"):
                    slot.zero_()
            self.active = ("", "base")
        return self._embed(texts)

    @torch.no_grad()
    def logits(self, task: str, method: str, texts: Sequence[str] | str) -> torch.Tensor:
        """Logits of ``texts`` for one (task, method): swap its weights in, embed, apply its head."""
        self.use(task, method)
        return self.entries[(task, method)].head(self._embed(texts))

    def predict(self, task: str, method: str, text: str) -> list[tuple[str, float]]:
        """Class probabilities for one sentence, most likely first."""
        probs = self.logits(task, method, [text]).softmax(-1)[0]
        classes = self.entries[(task, method)].classes
        return sorted(zip(classes, probs.tolist(), strict=True), key=lambda cp: -cp[1])

    def base_state(self) -> dict[str, torch.Tensor]:
        """The base's own weights (the LoRA slots excluded), named as in the plain encoder."""
        wrapped = [n for n, m in self.model.encoder.named_modules() if isinstance(m, LoRALinear)]
        out = {}
        for name, t in self.model.encoder.state_dict().items():
            if name.endswith((".A", ".B")):
                continue
            for path in wrapped:
                name = name.replace(f"{path}.base.", f"{path}.")
            out[name] = t
        return out

    def task_state(self, task: str, method: str) -> dict[str, torch.Tensor]:
        """What one (task, method) adds to the base: its LoRA tensors (if any) and its head."""
        e = self.entries[(task, method)]
        head = {f"head.{n}": t for n, t in e.head.state_dict().items()}
        return {**(e.lora or {}), **head}


# ---------------------------------------------------------------- storage and memory


def state_nbytes(state: Mapping[str, torch.Tensor]) -> int:
    """Bytes of a state dict as ``torch.save`` writes it (the file one would ship)."""
    buf = io.BytesIO()
    torch.save({k: v.detach().contiguous() for k, v in state.items()}, buf)
    return buf.getbuffer().nbytes


def resident_nbytes(*objects) -> int:
    """Bytes of every distinct tensor storage reachable from ``objects`` (modules, tensors, dicts,
    lists, :class:`TaskServer`), each storage counted once: what they hold in memory."""
    seen: dict[int, int] = {}

    def visit(obj):
        if isinstance(obj, torch.Tensor):
            s = obj.untyped_storage()
            seen[s.data_ptr()] = s.nbytes()
        elif isinstance(obj, nn.Module):
            for t in list(obj.parameters()) + list(obj.buffers()):
                visit(t)
        elif isinstance(obj, Mapping):
            for v in obj.values():
                visit(v)
        elif isinstance(obj, list | tuple):
            for v in obj:
                visit(v)
        elif isinstance(obj, TaskServer):
            visit(obj.model)
            for e in obj.entries.values():
                visit(e.head)
                visit(e.lora or {})

    for o in objects:
        visit(o)
    return sum(seen.values())

