"""ELMo's scalar mix, and the per-layer token and sentence features of the biLM and MiniLM
that the probes read; Brown's tags mapped to 12 universal part-of-speech tags."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.elmo.bilm import BiLM
from course_lib.models import mean_pool

# ---------------------------------------------------------------------------- scalar mix


def scalar_mix(layers: torch.Tensor, s: torch.Tensor, gamma: torch.Tensor | float = 1.0) -> torch.Tensor:
    """ELMo's mix: gamma * sum_l softmax(s)_l * layers[l]; ``layers`` is (L, ...)."""
    w = torch.softmax(torch.as_tensor(s, dtype=layers.dtype, device=layers.device), 0)
    return gamma * torch.tensordot(w, layers, dims=1)


class ScalarMix(nn.Module):
    """Learned scalar mix of L layers: parameters ``s`` (L,) and ``gamma`` (scalar)."""

    def __init__(self, num_layers: int, s: Sequence[float] | None = None, gamma: float = 1.0):
        super().__init__()
        init = torch.zeros(num_layers) if s is None else torch.as_tensor(s, dtype=torch.float32)
        if init.shape != (num_layers,):
            raise ValueError(f"s must have {num_layers} entries, got {tuple(init.shape)}")
        self.s = nn.Parameter(init.clone())
        self.gamma = nn.Parameter(torch.tensor(float(gamma)))

    def weights(self) -> torch.Tensor:
        """softmax(s): the normalised layer weights (sum to 1)."""
        return torch.softmax(self.s, 0)

    def forward(self, layers: torch.Tensor) -> torch.Tensor:
        return scalar_mix(layers, self.s, self.gamma)


# ---------------------------------------------------------------------------- features


def _bar(iterable, desc: str, total: int | None = None, progress: bool = True):
    if not progress:
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False)


@torch.no_grad()
def bilm_token_features(
    lm: BiLM, sentences: Sequence[Sequence[str]], batch_size: int = 64, progress: bool = True
) -> torch.Tensor:
    """ELMo layer vectors for every token of every sentence: (L + 1, N_tokens, 2P), in order.

    Sentences are token lists; the ``<eos>`` boundaries are added for the model and dropped.
    """
    lm.eval()
    out = []
    starts = range(0, len(sentences), batch_size)
    for i in _bar(starts, "biLM features", len(starts), progress):
        batch = sentences[i : i + batch_size]
        ids, lengths = lm.encode_batch(batch)
        layers = lm.layer_outputs(ids, lengths).cpu()
        for j, n in enumerate(lengths.tolist()):
            out.append(layers[:, j, 1 : n - 1])
    return torch.cat(out, 1).float()


def sentence_means(token_layers: torch.Tensor, sentence_lengths: Sequence[int]) -> torch.Tensor:
    """(L, N_tokens, D) token vectors of consecutive sentences -> (L, N_sentences, D) means."""
    pieces = torch.split(token_layers, list(sentence_lengths), dim=1)
    return torch.stack([p.mean(1) if p.shape[1] else torch.zeros_like(p[:, 0]) for p in pieces], 1)


@torch.no_grad()
def minilm_token_features(
    model, tokenizer, sentences: Sequence[Sequence[str]], batch_size: int = 32, max_length: int = 128,
    progress: bool = True,
) -> torch.Tensor:
    """MiniLM's embeddings + each layer for every word: (7, N_words, 384), first word piece.

    Words beyond ``max_length`` word pieces get the last piece's vectors (rare with short
    sentences).
    """
    model.eval()
    out = []
    starts = range(0, len(sentences), batch_size)
    for i in _bar(starts, "MiniLM features", len(starts), progress):
        batch = [list(s) for s in sentences[i : i + batch_size]]
        enc = tokenizer(batch, is_split_into_words=True, padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt")
        hidden = torch.stack(model(**enc, output_hidden_states=True).hidden_states)  # (7, B, T, D)
        for j, words in enumerate(batch):
            wid = enc.word_ids(j)
            first: dict[int, int] = {}
            for pos, w in enumerate(wid):
                if w is not None and w not in first:
                    first[w] = pos
            last = max(first.values()) if first else 0
            idx = [first.get(w, last) for w in range(len(words))]
            out.append(hidden[:, j, idx])
    return torch.cat(out, 1).float()


@torch.no_grad()
def minilm_sentence_features(model, tokenizer, texts: Sequence[str], batch_size: int = 32,
                             max_length: int = 64, progress: bool = True) -> torch.Tensor:
    """Mean-pooled MiniLM vectors of each layer (embeddings, then 1-6): (7, N, 384)."""
    model.eval()
    out = []
    starts = range(0, len(texts), batch_size)
    for i in _bar(starts, "MiniLM sentences", len(starts), progress):
        enc = tokenizer(list(texts[i : i + batch_size]), padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt")
        hidden = model(**enc, output_hidden_states=True).hidden_states
        out.append(torch.stack([mean_pool(h, enc["attention_mask"]) for h in hidden]))
    return torch.cat(out, 1).float()


# ---------------------------------------------------------------------------- POS tags


UNIVERSAL_TAGS = ["NOUN", "VERB", "ADJ", "ADV", "PRON", "DET", "ADP", "NUM", "CONJ", "PRT", ".", "X"]

_BROWN_EXACT = {
    "AT": "DET", "AP": "DET", "ABN": "DET", "ABX": "DET", "DT": "DET", "DTI": "DET", "DTS": "DET",
    "DTX": "DET", "WDT": "DET", "ABL": "ADV", "CC": "CONJ", "CS": "ADP", "CD": "NUM", "OD": "ADJ",
    "EX": "DET", "IN": "ADP", "TO": "PRT", "RP": "PRT", "MD": "VERB", "UH": "X", "NIL": "X",
    "WQL": "ADV", "QL": "ADV", "QLP": "ADV", "WRB": "ADV", "RN": "ADV", "PN": "NOUN",
}


def brown_to_universal(tag: str) -> str:
    """Map an original Brown tag (e.g. ``NNS-TL``, ``FW-IN``, ``PPS+BEZ``) to 12 coarse tags."""
    t = tag.upper()
    if t.startswith("FW-"):
        return "X"
    t = t.split("+")[0]
    for suffix in ("-TL", "-HL", "-NC"):
        t = t.replace(suffix, "")
    t = t.rstrip("*$") or t
    if not t or not t[0].isalpha():
        return "."
    if t in _BROWN_EXACT:
        return _BROWN_EXACT[t]
    if t.startswith(("NN", "NP", "NR")):
        return "NOUN"
    if t.startswith(("VB", "BE", "HV", "DO")):
        return "VERB"
    if t.startswith("JJ"):
        return "ADJ"
    if t.startswith("RB"):
        return "ADV"
    if t.startswith(("PP", "WP")):
        return "PRON"
    return "X"
