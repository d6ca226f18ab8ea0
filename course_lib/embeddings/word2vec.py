"""Word2Vec: gensim's trainer, compact int8 storage of the course's own vectors, and the
skip-gram objective with negative sampling written out in torch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import assets
from course_lib.errors import InputError

W2V_ASSET = "word2vec-corpus-sg50"


def train_word2vec(
    sentences: Sequence[Sequence[str]],
    sg: bool = True,
    vector_size: int = 50,
    window: int = 5,
    min_count: int = 5,
    epochs: int = 5,
    sample: float = 1e-4,
    negative: int = 5,
    workers: int = 1,
    seed: int = 0,
):
    """Train gensim Word2Vec (skip-gram if ``sg`` else CBOW) and return its ``KeyedVectors``.

    With ``workers=1`` the result is identical run to run.
    """
    from gensim.models import Word2Vec

    model = Word2Vec(
        sentences,
        vector_size=vector_size,
        window=window,
        min_count=min_count,
        sg=int(sg),
        epochs=epochs,
        sample=sample,
        negative=negative,
        workers=workers,
        seed=seed,
    )
    return model.wv


def keyed_vectors(words: Sequence[str], vectors: np.ndarray):
    """gensim KeyedVectors from a word list and a matrix (rows in frequency order)."""
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(list(words), np.asarray(vectors, dtype=np.float32))
    return kv


def quantize_int8(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row symmetric int8 quantisation: (codes, scales) with vectors ~= codes * scales[:, None]."""
    scales = np.abs(vectors).max(1) / 127.0
    scales[scales == 0] = 1.0
    codes = np.round(vectors / scales[:, None]).clip(-127, 127).astype(np.int8)
    return codes, scales.astype(np.float32)


def save_compact(kv, path, top: int | None = None, meta: dict | None = None) -> None:
    """Save the ``top`` most frequent vectors as int8 codes + scales + words (npz, compressed)."""
    n = min(top or len(kv), len(kv))
    codes, scales = quantize_int8(kv.vectors[:n])
    words = "\n".join(kv.index_to_key[:n])
    extra = {"meta": np.array(repr(meta or {}))}
    np.savez_compressed(path, codes=codes, scales=scales, words=np.array(words), **extra)


def load_compact(path):
    """KeyedVectors from :func:`save_compact`'s file."""
    with np.load(path) as z:
        vectors = z["codes"].astype(np.float32) * z["scales"][:, None]
        words = str(z["words"]).split("\n")
    return keyed_vectors(words, vectors)


@lru_cache(maxsize=1)
def load_course_word2vec():
    """The course's skip-gram Word2Vec (50 d) trained by ``scripts/train_word2vec.py`` on the whole
    training split of the course corpus; committed as int8 (see the data manifest)."""
    return load_compact(assets.path(W2V_ASSET))


# ---------------------------------------------------------------- Word2Vec's objective, written out


@dataclass
class SkipGramData:
    """A corpus as word ids for skip-gram: vocabulary (frequency order), counts, sentence ids."""

    words: list[str]
    counts: np.ndarray  # per word, in the whole corpus
    ids: np.ndarray  # the corpus's in-vocabulary tokens, concatenated
    sentence: np.ndarray  # which sentence each token came from


def skipgram_data(sentences: Sequence[Sequence[str]], min_count: int = 5) -> SkipGramData:
    """Keep words seen at least ``min_count`` times (as word2vec does) and number them by frequency."""
    counts = Counter(w for s in sentences for w in s)
    words = [w for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]
    if not words:
        raise InputError(f"no word occurs {min_count} times: the corpus is too small")
    index = {w: i for i, w in enumerate(words)}
    ids, sent = [], []
    for k, s in enumerate(sentences):
        kept = [index[w] for w in s if w in index]
        ids += kept
        sent += [k] * len(kept)
    return SkipGramData(words, np.array([counts[w] for w in words], dtype=np.int64),
                        np.array(ids, dtype=np.int64), np.array(sent, dtype=np.int64))


def keep_probability(counts: np.ndarray, sample: float = 1e-4) -> np.ndarray:
    """word2vec's subsampling: a word of corpus frequency f is kept with probability
    (sqrt(f / sample) + 1) * sample / f (capped at 1), so "the" is mostly dropped and rare words never."""
    f = counts / counts.sum()
    return np.minimum(1.0, (np.sqrt(f / sample) + 1) * sample / f)


def skipgram_pairs(data: SkipGramData, window: int = 5, sample: float = 1e-4,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """One epoch of (centre, context) id pairs, shuffled.

    Frequent words are subsampled first (:func:`keep_probability`), then each centre word draws
    its own window b from 1..``window`` (word2vec's "reduced window", which weights near words
    more) and pairs with every word at most b positions away in its sentence.
    """
    rng = rng or np.random.default_rng(0)
    keep = rng.random(len(data.ids)) < keep_probability(data.counts, sample)[data.ids]
    ids, sent = data.ids[keep], data.sentence[keep]
    b = rng.integers(1, window + 1, size=len(ids))
    pairs = []
    for d in range(1, window + 1):
        same = sent[:-d] == sent[d:]
        left, right = np.nonzero(same & (b[:-d] >= d))[0], np.nonzero(same & (b[d:] >= d))[0]
        pairs.append(np.stack([ids[left], ids[left + d]], 1))  # centre on the left, context d to the right
        pairs.append(np.stack([ids[right + d], ids[right]], 1))  # centre on the right, context d to the left
    out = np.concatenate(pairs)
    return out[rng.permutation(len(out))]


class SkipGramNS(nn.Module):
    """Skip-gram with negative sampling (Mikolov et al. 2013): two tables of vectors.

    For a centre word c, a true context word o and k words n_1..n_k drawn from the unigram
    distribution raised to 3/4, the loss is
    ``-log sigmoid(v_c . u_o) - sum_i log sigmoid(-v_c . u_{n_i})``: pull true pairs together,
    push random pairs apart. ``v`` (``inp``) are the word vectors kept afterwards.
    """

    def __init__(self, vocab_size: int, dim: int = 50, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.inp = nn.Embedding(vocab_size, dim)
        self.out = nn.Embedding(vocab_size, dim)
        with torch.no_grad():  # word2vec's initialisation: small random inputs, zero outputs
            self.inp.weight.copy_((torch.rand(vocab_size, dim, generator=g) - 0.5) / dim)
            self.out.weight.zero_()

    def forward(self, centre: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """Summed SGNS loss of a batch (centre: B, context: B, negatives: B x k)."""
        v = self.inp(centre)
        pos = nn.functional.logsigmoid((v * self.out(context)).sum(-1))
        neg = nn.functional.logsigmoid(-(self.out(negatives) @ v.unsqueeze(-1)).squeeze(-1)).sum(-1)
        return -(pos + neg).sum()


def train_sgns(sentences: Sequence[Sequence[str]], dim: int = 50, window: int = 5, negative: int = 5,
               sample: float = 1e-4, min_count: int = 5, epochs: int = 5, lr: float = 0.025,
               batch_size: int = 4096, seed: int = 0, progress: bool = True):
    """Train :class:`SkipGramNS` with word2vec's recipe; return (KeyedVectors, mean loss per epoch).

    Plain SGD whose rate falls linearly from ``lr`` to nearly 0 over all pairs, as in word2vec
    (whose C code updates one pair at a time; here a batch's summed loss is one step, which
    makes the same expected update). Same defaults as :func:`train_word2vec`, so the two can
    be compared on the same text. Runs on the CPU. The lesson's own loop, not
    :func:`course_lib.training.fit`: the skip-gram negative-sampling objective on (word,
    context, negatives) triples, with word2vec's per-pair rate decay.
    """
    data = skipgram_data(sentences, min_count)
    rng = np.random.default_rng(seed)
    noise = data.counts.astype(np.float64) ** 0.75
    noise_cdf = np.cumsum(noise / noise.sum())
    model = SkipGramNS(len(data.words), dim, seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    epoch_pairs = [skipgram_pairs(data, window, sample, rng) for _ in range(epochs)]
    total = sum(-(-len(p) // batch_size) for p in epoch_pairs)
    bar = tqdm(total=total, desc="skip-gram (torch)", disable=not progress, mininterval=1.0, leave=False)
    losses, step = [], 0
    for pairs in epoch_pairs:
        loss_sum = 0.0
        for s in range(0, len(pairs), batch_size):
            batch = torch.from_numpy(pairs[s : s + batch_size])
            neg = np.searchsorted(noise_cdf, rng.random((len(batch), negative)))
            neg = torch.from_numpy(np.minimum(neg, len(data.words) - 1))
            for group in opt.param_groups:
                group["lr"] = lr * max(1e-4, 1 - step / total)
            opt.zero_grad()
            loss = model(batch[:, 0], batch[:, 1], neg)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach())
            step += 1
            bar.update(1)
        losses.append(loss_sum / len(pairs))
    bar.close()
    return keyed_vectors(data.words, model.inp.weight.detach().numpy()), losses


def neighbour_overlap(kv_a, kv_b, words: Sequence[str], topn: int = 10) -> float:
    """Mean fraction of shared words among the ``topn`` nearest neighbours in two vector sets."""
    shared = []
    for w in words:
        a = {x for x, _ in kv_a.most_similar(w, topn=topn)}
        b = {x for x, _ in kv_b.most_similar(w, topn=topn)}
        shared.append(len(a & b) / topn)
    return float(np.mean(shared))
