"""Lesson 06's comparison table: train one method and measure its row (:func:`run_method`:
parameters, accuracy, time, the training memory counted tensor by tensor by
:func:`training_memory`), format it, and read the committed n = 500 results.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import assets
from course_lib.models import MeanPoolClassifier
from course_lib.peft.methods import DEFAULT_LR, build_method, parameter_report, probe_into_head
from course_lib.seed import seed_everything
from course_lib.textdata import batches, reshuffled
from course_lib.training import evaluate, fit, fit_linear_probe

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
        loader = reshuffled(train_enc, train_labels, batch_size, seed=seed)
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



def load_committed_table(path=None) -> dict:
    """The n = 500 table and rank sweep that scripts/lesson06_table.py committed (checksum
    verified through the asset registry, entry ``lesson06-table``)."""
    path = Path(path) if path else assets.path("lesson06-table")
    return json.loads(path.read_text())


def load_prefix_sweep() -> dict:
    """Prefix tuning's learning-rate sweep on validation sentences (scripts/prefix_lr_sweep.py;
    checksum verified through the asset registry, entry ``lesson06-prefix-lr``)."""
    return json.loads(assets.path("lesson06-prefix-lr").read_text())


