"""Lesson 03: the course's own ELMo-shaped biLSTM language model, ScalarMix and layer probes.

No ELMo weights exist offline, so ``scripts/pretrain_bilm.py`` pretrains a small biLM on the
course corpus (``course_lib.corpus``) and commits it under ``data/bilm/`` (asset ``"bilm"``).

Interface (also used by lesson 04, which takes the FORWARD stack as its language model)::

    from course_lib.elmo import load_bilm
    lm = load_bilm()                    # BiLM in eval mode, float32, on the CPU (or device=...)
    lm.vocab, lm.stoi                   # list of words (id -> word), dict word -> id
    lm.pad_id, lm.unk_id, lm.eos_id     # "<pad>" = 0, "<unk>" = 1, "<eos>" = 2 (sentence boundary)
    toks = lm.tokenize("The bank of the river.")   # course_lib.corpus.tokenize
    ids = lm.encode(toks)               # LongTensor [eos, w1, ..., wn, eos] (boundaries added)
    ids = lm.encode_batch([toks, ...])  # (padded ids (B, T), lengths (B,))

    logits = lm.forward_lm(ids)         # (B, T, V): logits[:, t] predicts ids[:, t + 1]
    states = lm.forward_states(ids)     # list of (B, T, P) tensors, one per forward LSTM layer
    logits = lm.backward_lm(ids, lengths)   # logits[:, t] predicts ids[:, t - 1]
    layers = lm.layer_outputs(ids, lengths) # (L + 1, B, T, 2P): layer 0 = [e; e], layer l = [f_l; b_l]
    lm.perplexity(sentences, "forward")     # held-out perplexity of token lists

    lm.embedding        # nn.Embedding (V, P), tied to the softmax of both directions
    lm.forward_stack    # nn.ModuleList of single-layer nn.LSTM (proj_size=P); residual from layer 2 on
    lm.backward_stack   # the same for the backward direction
    lm.decoder_bias     # the softmax bias (logits = h @ embedding.weight.T + decoder_bias)

The forward stack alone (``embedding`` -> ``forward_stack`` -> tied softmax) is an ordinary
next-token LSTM language model: fine-tune it with ``forward_lm`` and a shifted cross-entropy.

Layer features, probes and the scalar mix (ELMo_k = gamma * sum_l softmax(s)_l h_{k,l}):
:class:`ScalarMix`, :func:`scalar_mix`, :func:`bilm_token_features`,
:func:`minilm_token_features`, :func:`sentence_means`, :func:`probe_layers`,
:func:`probe_layer_correct`, :func:`bootstrap_layer_accuracy`,
:func:`fit_scalar_mix_probe`, :func:`mix_probe_accuracy`, :func:`mix_widget`, :func:`widget_demo`.

Only torch and numpy are imported at module level, so the pretraining script can import the
model class on a machine without the rest of the course's dependencies.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

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


def _reverse_padded(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
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
        from course_lib.corpus import tokenize

        return list(tokenize(text))

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
        rev = _reverse_padded(ids.to(self.device), lengths)
        outs = self._run(self.backward_stack, self.drop(self.token_layer(rev)))
        return [_reverse_padded(o, lengths) for o in outs]

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
    import copy

    from course_lib import assets

    folder = assets.path("bilm")
    if folder.is_file():
        folder = folder.parent
    key = str(folder)
    if key not in _LOADED:
        _LOADED[key] = load_bilm_from(folder)
    return copy.deepcopy(_LOADED[key]).to(device or "cpu").eval()


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
    from tqdm.auto import tqdm

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
        hidden = torch.stack(model(**enc, output_hidden_states=True).hidden_states)
        m = enc["attention_mask"].unsqueeze(0).unsqueeze(-1).float()
        out.append((hidden * m).sum(2) / m.sum(2).clamp_min(1))
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


# ---------------------------------------------------------------------------- probes


def _standardize(train: torch.Tensor, *others: torch.Tensor):
    """Z-score each layer's dimensions with the training set's statistics (L, N, D)."""
    mean = train.mean(1, keepdim=True)
    std = train.std(1, keepdim=True).clamp_min(1e-6)
    return [(x - mean) / std for x in (train, *others)]


def probe_layer_correct(train_layers: torch.Tensor, y_train: torch.Tensor, test_layers: torch.Tensor,
                        y_test: torch.Tensor, weight_decay: float = 1e-3, max_iter: int = 100) -> np.ndarray:
    """Fit a logistic-regression probe on each layer separately; return which test items each
    layer's probe gets right, a boolean array (L, N_test). Its row means are the accuracies."""
    from course_lib.training import fit_linear_probe

    rows = []
    k = int(max(y_train.max(), y_test.max())) + 1
    for layer in range(train_layers.shape[0]):
        head = fit_linear_probe(train_layers[layer], y_train, num_classes=k,
                                weight_decay=weight_decay, max_iter=max_iter)
        with torch.no_grad():
            rows.append((head(test_layers[layer]).argmax(-1) == y_test).numpy())
    return np.stack(rows)


def probe_layers(train_layers: torch.Tensor, y_train: torch.Tensor, test_layers: torch.Tensor,
                 y_test: torch.Tensor, weight_decay: float = 1e-3, max_iter: int = 100) -> list[float]:
    """Test accuracy of a logistic-regression probe fitted on each layer separately."""
    correct = probe_layer_correct(train_layers, y_train, test_layers, y_test, weight_decay, max_iter)
    return [float(c) for c in correct.mean(1)]


def bootstrap_layer_accuracy(correct: np.ndarray, groups: Sequence[int] | np.ndarray | None = None,
                             n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """Per-layer accuracies on ``n_boot`` bootstrap resamples of the test set: (n_boot, L).

    ``correct`` is (L, N) from :func:`probe_layer_correct`. Every layer is scored on the same
    resample (a paired bootstrap), so differences between layers keep their correlation.
    ``groups`` (one id per test item, e.g. the sentence a token belongs to) resamples whole
    groups, because the items of one sentence are not independent.
    """
    correct = np.asarray(correct, dtype=np.float64)
    n_layers, n = correct.shape
    if groups is None:
        groups = np.arange(n)
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(g.max()) + 1
    hits = np.zeros((n_layers, n_groups))
    np.add.at(hits.T, g, correct.T)  # correct answers per group and layer
    sizes = np.bincount(g, minlength=n_groups).astype(np.float64)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot).astype(np.float64)
    return (weights @ hits.T) / (weights @ sizes)[:, None]


@dataclass
class MixProbe:
    """A learned scalar mix with its linear head, and its test accuracy."""

    mix: ScalarMix
    head: nn.Linear
    accuracy: float
    seconds: float

    @property
    def weights(self) -> np.ndarray:
        return self.mix.weights().detach().numpy()


def fit_scalar_mix_probe(train_layers: torch.Tensor, y_train: torch.Tensor, test_layers: torch.Tensor,
                         y_test: torch.Tensor, steps: int = 200, lr: float = 0.05,
                         weight_decay: float = 0.05, seed: int = 0) -> MixProbe:
    """Learn s, gamma and a linear head jointly (Adam, full batch) on standardised layers.

    Each layer is z-scored first (like ELMo's optional layer normalisation), so the learned
    weights compare layers, not their scales. The L2 penalty acts on the effective weights
    gamma * W: otherwise gamma could grow and switch the regularisation off.
    """
    torch.manual_seed(seed)
    tr, te = _standardize(train_layers.float(), test_layers.float())
    k = int(max(y_train.max(), y_test.max())) + 1
    mix = ScalarMix(tr.shape[0])
    head = nn.Linear(tr.shape[2], k)
    opt = torch.optim.Adam([*mix.parameters(), *head.parameters()], lr=lr)
    start = time.perf_counter()
    with torch.enable_grad():
        for _ in range(steps):
            penalty = weight_decay * (mix.gamma * head.weight).pow(2).sum()  # on the effective weights
            loss = nn.functional.cross_entropy(head(mix(tr)), y_train) + penalty
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = float((head(mix(te)).argmax(-1) == y_test).float().mean())
    return MixProbe(mix, head, acc, time.perf_counter() - start)


def mix_probe_accuracy(train_layers: torch.Tensor, y_train: torch.Tensor, test_layers: torch.Tensor,
                       y_test: torch.Tensor, s: Sequence[float], gamma: float = 1.0,
                       weight_decay: float = 1e-3, max_iter: int = 60) -> float:
    """Fix the mix (s, gamma), refit only a linear head (LBFGS), return test accuracy.

    Layers are z-scored, the mixed vector is not: gamma scales the head's input, which with a
    weight-decayed head acts like the inverse of the regularisation strength.
    """
    from course_lib.training import accuracy, fit_linear_probe

    tr, te = _standardize(train_layers.float(), test_layers.float())
    s_t = torch.as_tensor(list(s), dtype=torch.float32)
    xtr, xte = scalar_mix(tr, s_t, gamma), scalar_mix(te, s_t, gamma)
    k = int(max(y_train.max(), y_test.max())) + 1
    head = fit_linear_probe(xtr, y_train, num_classes=k, weight_decay=weight_decay,
                            max_iter=max_iter, standardize=False)
    with torch.no_grad():
        return accuracy(head(xte), y_test)


# ---------------------------------------------------------------------------- similarity


def cosine_matrix(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Pairwise cosine similarities of the rows of x."""
    x = np.asarray(x, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x @ x.T


def sense_separation(vectors, senses: Sequence) -> float:
    """Mean cosine within a sense minus mean cosine across senses (self-pairs excluded)."""
    sim = cosine_matrix(vectors)
    senses = np.asarray(senses)
    same = senses[:, None] == senses[None, :]
    off = ~np.eye(len(senses), dtype=bool)
    return round(float(sim[same & off].mean() - sim[~same].mean()), 9) + 0.0


def nearest_sense_accuracy(vectors, senses: Sequence) -> float:
    """Leave-one-out 1-nearest-neighbour (cosine) accuracy of predicting each vector's sense."""
    sim = cosine_matrix(vectors)
    np.fill_diagonal(sim, -np.inf)
    senses = np.asarray(senses)
    return float((senses[sim.argmax(1)] == senses).mean())


def find_word_vectors(lm: BiLM, sentences: Sequence[str], word: str) -> tuple[torch.Tensor, list[int]]:
    """Layer vectors (L + 1, n, 2P) of the first occurrence of ``word`` in each sentence text."""
    toks = [lm.tokenize(s) for s in sentences]
    feats = bilm_token_features(lm, toks, progress=False)
    rows, pos, offset = [], [], 0
    for t in toks:
        low = [w.lower() for w in t]
        if word not in low:
            raise ValueError(f"{word!r} not in sentence {' '.join(t)!r}")
        i = low.index(word)
        rows.append(offset + i)
        pos.append(i)
        offset += len(t)
    return feats[:, rows], pos


# ---------------------------------------------------------------------------- widgets


def mix_widget(train_layers: torch.Tensor, y_train: torch.Tensor, test_layers: torch.Tensor,
               y_test: torch.Tensor, layer_names: Sequence[str] | None = None, title: str = "",
               learn: Callable[[], MixProbe] | None = None):
    """Sliders for each s_l and gamma; the probe's test accuracy refits live; a 'learn s' button.

    The head refit uses cached features only (LBFGS on a linear head, well under 2 s).
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt

    from course_lib.widgets import ActionButton, live_panel, log_slider

    n = train_layers.shape[0]
    names = list(layer_names or [f"layer {i}" for i in range(n)])
    controls = {f"s{i}": w.FloatSlider(value=0.0, min=-4, max=4, step=0.25, description=f"s[{nm}]",
                                       continuous_update=False, style={"description_width": "110px"},
                                       layout=w.Layout(width="380px")) for i, nm in enumerate(names)}
    controls["gamma"] = log_slider("gamma", 1.0, 1e-2, 10.0, readout_format=".2f", width="380px")
    status = w.HTML()

    def draw(gamma: float, **s_by_layer) -> float:
        s = [s_by_layer[f"s{i}"] for i in range(n)]
        t0 = time.perf_counter()
        acc = mix_probe_accuracy(train_layers, y_train, test_layers, y_test, s, gamma)
        dt = time.perf_counter() - t0
        fig, ax = plt.subplots(figsize=(5.2, 2.6))
        ax.bar(names, torch.softmax(torch.tensor(s), 0).numpy(), color="tab:blue")
        ax.set(ylim=(0, 1), ylabel="softmax(s)", xlabel="layer", title=f"{title} probe accuracy {acc:.1%} (gamma {gamma:.2f})")
        ax.tick_params(axis="x", rotation=20)
        fig.tight_layout()
        status.value = f"<b>accuracy {acc:.1%}</b> &nbsp; head refit in {dt:.2f} s"
        return acc

    def learn_s(progress) -> str:
        probe = learn() if learn is not None else fit_scalar_mix_probe(train_layers, y_train, test_layers, y_test)
        with panel.hold():
            for i, v in enumerate(probe.mix.s.detach().tolist()):
                sl = controls[f"s{i}"]
                sl.value = float(np.clip(v, sl.min, sl.max))
            g = controls["gamma"]
            g.value = float(np.clip(abs(float(probe.mix.gamma)), 10**g.min, 10**g.max))
        return "learned s, gamma and the head from the training tokens"

    panel = live_panel(controls, draw, rows=[list(controls)], status=status)
    panel.learn = ActionButton(learn_s, description="learn s from data", icon="magic")
    # the sliders in a column beside the plot
    panel.children = [w.HBox([w.VBox([*controls.values(), panel.learn, status]), panel.out])]
    return panel


def widget_demo():
    """The scalar-mix widget on the biLM's layers for POS tagging on 120 Brown sentences."""
    from course_lib.corpus import load_brown_tagged

    lm = load_bilm()
    tagged = load_brown_tagged()[:120]
    words = [[w for w, _ in s] for s in tagged]
    tags = torch.tensor([UNIVERSAL_TAGS.index(brown_to_universal(t)) for s in tagged for _, t in s])
    feats = bilm_token_features(lm, words, progress=False)
    n_train = sum(len(s) for s in words[:80])
    return mix_widget(feats[:, :n_train], tags[:n_train], feats[:, n_train:], tags[n_train:],
                      [f"biLM {i}" for i in range(feats.shape[0])], title="POS")
