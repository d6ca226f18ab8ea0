"""Lesson 07's fine-tuning of DINOv2's last block(s) on cached block inputs: the inputs of the
last blocks, a CLS-only last block, the classifier, its training recipe and evaluation loader."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from course_lib.device import model_device
from course_lib.errors import InputError
from course_lib.schedules import warmup_cosine
from course_lib.training import fit, set_requires_grad
from course_lib.vit.dinov2 import HEADS, HIDDEN, PATCH
from course_lib.vit.inputs import preprocess_gray

# ---------------------------------------------------------------- fine-tuning the last block(s)


def block_output(out) -> torch.Tensor:
    """A ``Dinov2Layer``'s hidden states (transformers 4.x returns a tuple, 5.x a tensor)."""
    return out[0] if isinstance(out, tuple) else out


@torch.no_grad()
def block_inputs(
    model: nn.Module, images: np.ndarray, n_last: int = 1, size: int = 112, batch_size: int = 64, progress: bool = True
) -> torch.Tensor:
    """The token sequences that enter DINOv2's last ``n_last`` blocks, for Animal-MNIST images.

    Runs the embeddings and the first ``LAYERS - n_last`` (frozen) blocks once; returns
    N x (1 + (size / 14)^2) x 384 on the model's device (65 tokens at 112 px). Fine-tuning the
    last blocks on these (:func:`finetune_last_blocks`) costs a fraction of a full forward pass.
    """
    layers = model.encoder.layer
    if not 1 <= n_last <= len(layers):
        raise InputError(f"n_last must be between 1 and {len(layers)}, got {n_last}")
    dev = model_device(model)
    out = []
    for i in tqdm(range(0, len(images), batch_size), desc=f"DINOv2 blocks 1-{len(layers) - n_last}", disable=not progress, leave=False):
        h = model.embeddings(preprocess_gray(images[i : i + batch_size], size).to(dev))
        for layer in layers[: len(layers) - n_last]:
            h = block_output(layer(h))
        out.append(h)
    return torch.cat(out) if out else torch.zeros(0, 1 + (size // PATCH) ** 2, HIDDEN, device=dev)


def _attention_linears(block: nn.Module) -> tuple[nn.Linear, nn.Linear, nn.Linear, nn.Linear]:
    """(query, key, value, output) projections of a ``Dinov2Layer`` in transformers 5.x or 4.x naming."""
    att = block.attention
    if hasattr(att, "q_proj"):
        return att.q_proj, att.k_proj, att.v_proj, att.o_proj
    return att.attention.query, att.attention.key, att.attention.value, att.output.dense


def cls_block_output(block: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """A DINOv2 block's output at the CLS token only: B x (1 + N) x D -> B x D.

    Exactly ``block(h)[:, 0]``, at a fraction of the cost: keys and values are needed for every
    token, but the query, the attention output, the residuals and the MLP only for the CLS
    token. A classifier that reads the final CLS token needs nothing else from the last block.
    """
    q_lin, k_lin, v_lin, o_lin = _attention_linears(block)
    x = block.norm1(h)
    b, t, d = x.shape
    hd = d // HEADS
    q = q_lin(x[:, :1]).view(b, 1, HEADS, hd).transpose(1, 2)
    k = k_lin(x).view(b, t, HEADS, hd).transpose(1, 2)
    v = v_lin(x).view(b, t, HEADS, hd).transpose(1, 2)
    att = torch.softmax(q @ k.transpose(-1, -2) * hd**-0.5, dim=-1) @ v  # B x heads x 1 x hd
    cls = h[:, 0] + block.layer_scale1(o_lin(att.transpose(1, 2).reshape(b, d)))
    return cls + block.layer_scale2(block.mlp(block.norm2(cls)))


class LastBlocksClassifier(nn.Module):
    """Trainable copies of DINOv2's last ``n_last`` blocks and its final LayerNorm, plus a linear
    head on the final CLS token, run on cached :func:`block_inputs`. Before training,
    :meth:`features` equals the frozen model's CLS features (``last_hidden_state[:, 0]``)."""

    def __init__(self, model: nn.Module, n_last: int = 1, num_classes: int = 10, train_blocks: bool = True):
        super().__init__()
        self.blocks = nn.ModuleList(copy.deepcopy(layer) for layer in model.encoder.layer[-n_last:])
        self.norm = copy.deepcopy(model.layernorm)
        set_requires_grad([self.blocks, self.norm], train_blocks)
        self.head = nn.Linear(HIDDEN, num_classes, device=model_device(model))

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """Final CLS features (after the LayerNorm): B x 384."""
        h = tokens
        for block in self.blocks[:-1]:
            h = block_output(block(h))
        return self.norm(cls_block_output(self.blocks[-1], h))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(tokens))

    @torch.no_grad()
    def init_head_from_probe(self, probe: nn.Module) -> None:
        """Start the head as a fitted linear probe (``training.fit_linear_probe``): its
        standardisation is folded into the weights, so before training the classifier predicts
        what the probe predicts ("linear probe, then fine-tune", Kumar et al. 2022)."""
        w = probe.linear.weight / probe.std
        b = probe.linear.bias - w @ probe.mean
        self.head.weight.copy_(w.to(self.head.weight))
        self.head.bias.copy_(b.to(self.head.bias))


def finetune_last_blocks(
    model: nn.Module,
    tokens: torch.Tensor,
    labels: torch.Tensor,
    *,
    n_last: int = 1,
    lr: float = 1e-4,
    epochs: int = 10,
    batch_size: int = 32,
    weight_decay: float = 0.01,
    warmup: float = 0.1,
    probe: nn.Module | None = None,
    num_classes: int = 10,
    seed: int = 0,
    progress: bool = True,
):
    """Fine-tune DINOv2's last ``n_last`` blocks, final LayerNorm and a linear head on cached
    block inputs (``tokens``, from :func:`block_inputs` with the same ``n_last``).

    Recipe: AdamW at one small rate ``lr`` for every trained parameter, linear warm-up over the
    first ``warmup`` fraction of the steps then cosine decay to zero, batches of ``batch_size``
    shuffled with ``seed``. ``probe``: start the head from a fitted linear probe (recommended;
    otherwise the head starts random). The loop is ``training.fit``; batches follow the model's
    device. Returns (classifier in eval mode, history).
    """
    labels = torch.as_tensor(labels, dtype=torch.long)
    if len(tokens) != len(labels) or len(labels) == 0:
        raise InputError(f"need as many token sequences as labels (and at least one): {len(tokens)} vs {len(labels)}")
    torch.manual_seed(seed)
    clf = LastBlocksClassifier(model, n_last=n_last, num_classes=num_classes)
    if probe is not None:
        clf.init_head_from_probe(probe)
    loader = DataLoader(
        TensorDataset(tokens, labels), batch_size=batch_size, shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    opt = torch.optim.AdamW([p for p in clf.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    sched = warmup_cosine(opt, epochs * len(loader), warmup)
    history = fit(clf, loader, epochs=epochs, optimizer=opt, scheduler=sched, progress=progress, desc=f"last {n_last} block(s), lr {lr:g}")
    return clf.eval(), history


def token_loader(tokens: torch.Tensor, labels, batch_size: int = 250):
    """A DataLoader of (cached tokens, labels) for ``training.evaluate`` / ``training.predict``."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    return DataLoader(TensorDataset(tokens, labels), batch_size=batch_size)


