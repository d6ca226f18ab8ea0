"""The course's ELMo-shaped biLSTM language model: :class:`BiLM`, its config, save and load.

See :mod:`course_lib.elmo` for the interface; ``scripts/pretrain_bilm.py`` pretrains it.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from course_lib import assets, corpus

PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
SPECIALS = [PAD, UNK, EOS]


# ---------------------------------------------------------------------------- the biLM


@dataclass
class BiLMConfig:
    """Shape of the biLM: token layer (dim ``proj``), ``layers`` LSTMs per direction."""

    vocab_size: int
    proj: int = 200  # token-embedding size = LSTM output (projection) size
    hidden: int = 512  # LSTM cell size, projected down to ``proj`` as in ELMo (no projection if equal)
    layers: int = 2
    dropout: float = 0.1


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reverse each sequence of a right-padded batch (B, T, ...) within its own length."""
    if lengths is None:
        return x.flip(1)
    b, t = x.shape[:2]
    pos = torch.arange(t, device=x.device).unsqueeze(0).expand(b, t)
    lengths = lengths.to(x.device).unsqueeze(1)
    idx = torch.where(pos < lengths, lengths - 1 - pos, pos)
    if x.ndim == 2:
        return x.gather(1, idx)
    return x.gather(1, idx.unsqueeze(-1).expand_as(x))


class BiLM(nn.Module):
    """ELMo's shape: a token layer, forward and backward LSTM stacks, one tied softmax.

    Each LSTM has a cell of ``hidden`` units projected to ``proj`` (LSTMP, as in ELMo);
    layers after the first add a residual connection. Both directions share the token
    embedding and the softmax, whose weight is the token embedding (tied).
    """

    def __init__(self, config: BiLMConfig, vocab: Sequence[str] | None = None):
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.proj, padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=0.05)

        def stack() -> nn.ModuleList:
            return nn.ModuleList(
                nn.LSTM(c.proj, c.hidden, batch_first=True, proj_size=c.proj if c.hidden != c.proj else 0)
                for _ in range(c.layers)
            )

        self.forward_stack = stack()
        self.backward_stack = stack()
        self.decoder_bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.drop = nn.Dropout(c.dropout)
        self.vocab: list[str] = list(vocab) if vocab is not None else [f"w{i}" for i in range(c.vocab_size)]
        if len(self.vocab) != c.vocab_size:
            raise ValueError(f"vocab has {len(self.vocab)} words, config says {c.vocab_size}")
        self.stoi = {w: i for i, w in enumerate(self.vocab)}

    # ---- vocabulary
    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    @property
    def eos_id(self) -> int:
        return 2

    @staticmethod
    def tokenize(text: str) -> list[str]:
        """The course corpus's tokenizer (``course_lib.corpus.tokenize``)."""
        return list(corpus.tokenize(text))

    def ids(self, tokens: Sequence[str]) -> list[int]:
        """Word ids, unknown words -> ``unk_id`` (lower-cased first if the vocab is lower-case)."""
        get = self.stoi.get
        return [get(t, get(t.lower(), self.unk_id)) for t in tokens]

    def encode(self, tokens: Sequence[str] | str, boundaries: bool = True) -> torch.Tensor:
        """One sentence (text or tokens) -> LongTensor of ids, with ``<eos>`` on both sides."""
        if isinstance(tokens, str):
            tokens = self.tokenize(tokens)
        ids = self.ids(tokens)
        if boundaries:
            ids = [self.eos_id, *ids, self.eos_id]
        return torch.tensor(ids, dtype=torch.long)

    def encode_batch(self, sentences: Sequence[Sequence[str] | str], boundaries: bool = True):
        """Sentences -> (right-padded ids (B, T), lengths (B,))."""
        seqs = [self.encode(s, boundaries) for s in sentences]
        lengths = torch.tensor([len(s) for s in seqs])
        ids = nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=self.pad_id)
        return ids, lengths

    # ---- the two stacks
    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    def _run(self, lstms: nn.ModuleList, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, lstm in enumerate(lstms):
            h, _ = lstm(x)
            h = self.drop(h)
            x = h + x if i > 0 else h
            outs.append(x)
        return outs

    def token_layer(self, ids: torch.Tensor) -> torch.Tensor:
        """Layer 0: the context-free token vectors (B, T, P)."""
        return self.embedding(ids.to(self.device))

    def forward_states(self, ids: torch.Tensor) -> list[torch.Tensor]:
        """Hidden states of each forward layer, (B, T, P) each; position t has read ids[:, :t+1]."""
        return self._run(self.forward_stack, self.drop(self.token_layer(ids)))

    def backward_states(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Hidden states of each backward layer; position t has read ids[:, t:length]."""
        rev = reverse_padded(ids.to(self.device), lengths)
        outs = self._run(self.backward_stack, self.drop(self.token_layer(rev)))
        return [reverse_padded(o, lengths) for o in outs]

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """The tied softmax's logits for hidden states h (..., P)."""
        return h @ self.embedding.weight.t() + self.decoder_bias

    def forward_lm(self, ids: torch.Tensor) -> torch.Tensor:
        """Next-token logits (B, T, V) of the forward LM: logits[:, t] predicts ids[:, t + 1]."""
        return self.logits(self.forward_states(ids)[-1])

    def backward_lm(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Previous-token logits of the backward LM: logits[:, t] predicts ids[:, t - 1]."""
        return self.logits(self.backward_states(ids, lengths)[-1])

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy (forward, backward) on an unpadded batch of token chunks (B, T)."""
        ids = ids.to(self.device)
        f = self.forward_states(ids)[-1][:, :-1]
        b = self.backward_states(ids)[-1][:, 1:]
        v = self.config.vocab_size
        lf = nn.functional.cross_entropy(self.logits(f).reshape(-1, v), ids[:, 1:].reshape(-1))
        lb = nn.functional.cross_entropy(self.logits(b).reshape(-1, v), ids[:, :-1].reshape(-1))
        return lf, lb

    def layer_outputs(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """ELMo's layers (L + 1, B, T, 2P): [e; e] for the token layer, then [f_l; b_l]."""
        e = self.token_layer(ids)
        fs = self.forward_states(ids)
        bs = self.backward_states(ids, lengths)
        layers = [torch.cat([e, e], -1)] + [torch.cat([f, b], -1) for f, b in zip(fs, bs, strict=True)]
        return torch.stack(layers)

    @torch.no_grad()
    def perplexity(self, sentences: Sequence[Sequence[str]], direction: str = "forward", batch_size: int = 64) -> float:
        """Perplexity over token lists (each scored with boundaries; targets exclude padding)."""
        if direction not in ("forward", "backward"):
            raise ValueError("direction must be 'forward' or 'backward'")
        was = self.training
        self.eval()
        nll, n = 0.0, 0
        for i in range(0, len(sentences), batch_size):
            ids, lengths = self.encode_batch(sentences[i : i + batch_size])
            ids = ids.to(self.device)
            if direction == "forward":
                logits, target = self.forward_lm(ids)[:, :-1], ids[:, 1:]
            else:
                logits, target = self.backward_lm(ids, lengths)[:, 1:], ids[:, :-1]
            mask = target != self.pad_id
            loss = nn.functional.cross_entropy(logits[mask], target[mask], reduction="sum")
            nll += float(loss)
            n += int(mask.sum())
        self.train(was)
        return math.exp(nll / max(n, 1))


def save_bilm(model: BiLM, folder: str | Path, fp16: bool = True) -> dict[str, Path]:
    """Write ``model.pt`` (fp16 state dict), ``config.json`` and ``vocab.txt`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if fp16 and v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    paths = {"model": folder / "model.pt", "config": folder / "config.json", "vocab": folder / "vocab.txt"}
    torch.save(state, paths["model"])
    paths["config"].write_text(json.dumps(asdict(model.config), indent=2) + "\n")
    paths["vocab"].write_text("\n".join(model.vocab) + "\n")
    return paths


def load_bilm_from(folder: str | Path, device: torch.device | str | None = None) -> BiLM:
    """Load a biLM written by :func:`save_bilm` (float32, eval mode)."""
    folder = Path(folder)
    config = BiLMConfig(**json.loads((folder / "config.json").read_text()))
    vocab = (folder / "vocab.txt").read_text().split("\n")[: config.vocab_size]
    model = BiLM(config, vocab)
    state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.to(device or "cpu").eval()


_LOADED: dict[str, BiLM] = {}


def load_bilm(device: torch.device | str | None = None) -> BiLM:
    """The course's pretrained biLM (asset ``"bilm"``, checksum verified), in eval mode.

    Each call returns a fresh copy, so fine-tuning one (lesson 04) never changes another.
    """
    folder = assets.path("bilm")
    if folder.is_file():
        folder = folder.parent
    key = str(folder)
    if key not in _LOADED:
        _LOADED[key] = load_bilm_from(folder)
    return copy.deepcopy(_LOADED[key]).to(device or "cpu").eval()
