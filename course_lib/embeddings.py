"""Lesson 02: static word vectors. Analogies, evaluation, Word2Vec, the GloVe objective, widgets.

Word vectors are gensim ``KeyedVectors`` throughout (GloVe from :func:`course_lib.models.load_glove`,
Word2Vec trained here or loaded from the course's own committed vectors). The analogy
evaluation is a vectorised 3CosAdd that gives the same answers as gensim's
``evaluate_word_analogies`` (checked in ``tests/test_embeddings.py``) in a fraction of the time.
"""

from __future__ import annotations

import difflib
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from course_lib import assets
from course_lib.errors import InputError

SEMANTIC_SECTIONS = ("capital-common-countries", "capital-world", "currency", "city-in-state", "family")
W2V_ASSET = "word2vec-corpus-sg50"


# ---------------------------------------------------------------- words and errors


def cosine_similarity(u: np.ndarray, v: np.ndarray) -> float:
    """cos(u, v) = u.v / (|u| |v|); 0 for a zero vector."""
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    denom = float(np.linalg.norm(u) * np.linalg.norm(v))
    return float(u @ v / denom) if denom > 0 else 0.0


def close_words(kv, word: str, n: int = 3, search: int = 50_000) -> list[str]:
    """Known words spelled like ``word`` (among the ``search`` most frequent)."""
    pool = [w for w in kv.index_to_key[:search] if abs(len(w) - len(word)) <= 2]
    return difflib.get_close_matches(word, pool, n=n, cutoff=0.6)


def check_word(kv, word: str) -> str:
    """The word, stripped and lower-cased, if the vectors know it; else an :class:`InputError`
    that suggests close known words."""
    w = (word or "").strip().lower()
    if not w:
        raise InputError("Please type a word.")
    if w not in kv.key_to_index:
        close = close_words(kv, w)
        hint = f" Close known words: {', '.join(close)}." if close else " No close known word either."
        raise InputError(f"{word.strip()!r} is not in the vocabulary ({len(kv):,} words).{hint}")
    return w


def _unit(kv, restrict_vocab: int | None = None) -> np.ndarray:
    vecs = kv.get_normed_vectors()
    return vecs[:restrict_vocab] if restrict_vocab else vecs


def analogy(kv, a: str, b: str, c: str, topn: int = 5, restrict_vocab: int | None = None) -> list[tuple[str, float]]:
    """a : b :: c : ?  The words closest (cosine) to b - a + c, the three inputs excluded (3CosAdd)."""
    a, b, c = (check_word(kv, w) for w in (a, b, c))
    unit = _unit(kv, restrict_vocab)
    q = unit[kv.key_to_index[b]] - unit[kv.key_to_index[a]] + unit[kv.key_to_index[c]]
    q = q / np.linalg.norm(q)
    sims = unit @ q
    for w in (a, b, c):
        i = kv.key_to_index[w]
        if i < len(sims):
            sims[i] = -np.inf
    top = np.argsort(-sims)[:topn]
    return [(kv.index_to_key[i], float(sims[i])) for i in top]


def neighbours(kv, word: str, topn: int = 10, restrict_vocab: int | None = None) -> list[tuple[str, float]]:
    """The ``topn`` nearest words by cosine (the word itself excluded)."""
    w = check_word(kv, word)
    unit = _unit(kv, restrict_vocab)
    sims = unit @ kv.get_vector(w, norm=True)
    i = kv.key_to_index[w]
    if i < len(sims):
        sims[i] = -np.inf
    top = np.argsort(-sims)[:topn]
    return [(kv.index_to_key[j], float(sims[j])) for j in top]


# ---------------------------------------------------------------- analogy and similarity benchmarks


def questions_words_path() -> str:
    """gensim's questions-words.txt, verified by the asset registry (``"questions-words"``)."""
    return str(assets.path("questions-words"))


SIMILARITY_ASSETS = {"SimLex-999": "simlex-999", "WordSim-353": "wordsim-353"}


def similarity_path(name: str) -> str:
    """gensim's copy of SimLex-999 or WordSim-353 (by benchmark name), verified by the asset registry."""
    if name not in SIMILARITY_ASSETS:
        raise InputError(f"Unknown similarity benchmark {name!r}; known: {', '.join(SIMILARITY_ASSETS)}.")
    return str(assets.path(SIMILARITY_ASSETS[name]))


@lru_cache(maxsize=2)
def _read_questions(path: str) -> tuple[tuple[str, tuple[tuple[str, str, str, str], ...]], ...]:
    sections: list[tuple[str, list]] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith(":"):
                sections.append((line[1:].strip(), []))
            else:
                sections[-1][1].append(tuple(line.lower().split()))
    return tuple((name, tuple(qs)) for name, qs in sections)


def analogy_questions(path: str | None = None) -> dict[str, list[tuple[str, str, str, str]]]:
    """gensim's questions-words.txt (Mikolov et al. 2013) as {section: [(a, b, c, d), ...]}, lower-cased."""
    return {name: list(qs) for name, qs in _read_questions(path or questions_words_path())}


@dataclass(frozen=True)
class SectionScore:
    """Accuracy of one analogy section: ``correct`` of ``answered`` (``skipped``: a word out of vocabulary)."""

    section: str
    correct: int
    answered: int
    skipped: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.answered if self.answered else float("nan")


def score_analogies(
    kv,
    questions: Sequence[tuple[str, str, str, str]],
    restrict_vocab: int | None = 30_000,
    batch: int = 1024,
) -> tuple[int, int, int]:
    """(correct, answered, skipped) for a list of (a, b, c, d): is argmax cos(x, b - a + c) == d,
    over the ``restrict_vocab`` most frequent words, the inputs excluded? Questions with a word
    outside those words are skipped, as gensim does."""
    unit = _unit(kv, restrict_vocab)
    limit = len(unit)
    idx = kv.key_to_index
    rows = []
    for q in questions:
        ids = [idx.get(w, limit) for w in q]
        if max(ids) < limit:
            rows.append(ids)
    skipped = len(questions) - len(rows)
    if not rows:
        return 0, 0, skipped
    ids = np.asarray(rows)
    correct = 0
    for s in range(0, len(ids), batch):
        part = ids[s : s + batch]
        q = unit[part[:, 1]] - unit[part[:, 0]] + unit[part[:, 2]]
        sims = q @ unit.T
        r = np.arange(len(part))
        for k in range(3):
            sims[r, part[:, k]] = -np.inf
        correct += int((sims.argmax(1) == part[:, 3]).sum())
    return correct, len(ids), skipped


def evaluate_analogies(
    kv, restrict_vocab: int | None = 30_000, sections: Iterable[str] | None = None, path: str | None = None
) -> list[SectionScore]:
    """Accuracy per section of questions-words, then ``semantic``, ``syntactic`` and ``total`` rows."""
    qs = analogy_questions(path)
    wanted = list(sections) if sections is not None else list(qs)
    unknown = [s for s in wanted if s not in qs]
    if unknown:
        raise InputError(f"Unknown section(s) {unknown}; the sections are: {', '.join(qs)}.")
    rows = [SectionScore(s, *score_analogies(kv, qs[s], restrict_vocab)) for s in wanted]

    def total(name: str, part: list[SectionScore]) -> SectionScore:
        return SectionScore(name, *(sum(getattr(r, f) for r in part) for f in ("correct", "answered", "skipped")))

    if sections is None:
        rows += [
            total("semantic", [r for r in rows if r.section in SEMANTIC_SECTIONS]),
            total("syntactic", [r for r in rows if r.section not in SEMANTIC_SECTIONS]),
        ]
        rows.append(total("total", rows[:-2]))
    return rows


def scores_table(results: dict[str, list[SectionScore]]) -> str:
    """A text table: one row per section, one accuracy column per model (answered questions in brackets)."""
    names = list(results)
    sections = [r.section for r in next(iter(results.values()))]
    head = f"{'section':28s}" + "".join(f"{n:>22s}" for n in names)
    lines = [head, "-" * len(head)]
    for k, sec in enumerate(sections):
        cells = []
        for n in names:
            r = results[n][k]
            cells.append(f"{r.accuracy:6.1%} ({r.answered:>5d})" if r.answered else f"{'-':>6s} ({0:>5d})")
        lines.append(f"{sec:28s}" + "".join(f"{c:>22s}" for c in cells))
    return "\n".join(lines)


def similarity_benchmarks(kv) -> dict[str, tuple[float, float]]:
    """Spearman correlation with human judgements and the fraction of pairs skipped (out of vocabulary),
    for SimLex-999 (similarity) and WordSim-353 (relatedness)."""
    out = {}
    for name in SIMILARITY_ASSETS:
        _, spearman, oov = kv.evaluate_word_pairs(similarity_path(name), restrict_vocab=len(kv))
        out[name] = (float(spearman.statistic if hasattr(spearman, "statistic") else spearman[0]), oov / 100)
    return out


# ---------------------------------------------------------------- Word2Vec


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
    from collections import Counter

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
    be compared on the same text. Runs on the CPU.
    """
    from tqdm.auto import tqdm

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


# ---------------------------------------------------------------- the GloVe objective


def cooccurrence(
    sentences: Iterable[Sequence[str]], stoi: dict[str, int], window: int = 5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric co-occurrence counts X_ij within ``window`` words, each pair weighted 1/distance
    (as GloVe does), not crossing sentence ends; words not in ``stoi`` are dropped first.
    Returns the nonzero entries as arrays (i, j, X_ij)."""
    V = len(stoi)
    stream = []
    for s in sentences:
        stream.extend(stoi[t] for t in s if t in stoi)
        stream.append(-1)
    ids = np.asarray(stream, dtype=np.int64)
    n = len(ids)
    ends = np.concatenate([[0], np.cumsum(ids == -1)])  # ends[k]: sentence ends among ids[:k]
    keys, weights = [], []
    for d in range(1, window + 1):
        # positions p and p + d pair up when no sentence end lies between them (ends included)
        ok = ends[d + 1 :] - ends[: n - d] == 0
        left, right = ids[: n - d][ok], ids[d:][ok]
        w = np.full(len(left), 1.0 / d)
        keys += [left * V + right, right * V + left]
        weights += [w, w]
    keys_all = np.concatenate(keys)
    uniq, inv = np.unique(keys_all, return_inverse=True)
    x = np.bincount(inv, weights=np.concatenate(weights))
    return (uniq // V).astype(np.int64), (uniq % V).astype(np.int64), x.astype(np.float32)


def glove_weight(x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """f(x) = (x / x_max)^alpha below x_max, 1 above: rare pairs count less, frequent ones are capped."""
    return torch.clamp(x / x_max, max=1.0) ** alpha


def glove_loss(
    w: torch.Tensor, w_tilde: torch.Tensor, b: torch.Tensor, b_tilde: torch.Tensor, x: torch.Tensor,
    x_max: float = 100.0, alpha: float = 0.75,
) -> torch.Tensor:  # fmt: skip
    """sum f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2 over a batch of nonzero pairs.

    ``w``, ``w_tilde``: (batch, dim) rows of the two embedding tables; ``b``, ``b_tilde``: (batch,).
    """
    pred = (w * w_tilde).sum(-1) + b + b_tilde
    return (glove_weight(x, x_max, alpha) * (pred - torch.log(x)) ** 2).sum()


class GloVe(nn.Module):
    """Two embedding tables (word and context) with a bias each, as in Pennington et al. (2014)."""

    def __init__(self, vocab_size: int, dim: int = 50, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        scale = 0.5 / dim
        self.w = nn.Parameter((torch.rand(vocab_size, dim, generator=g) - 0.5) * 2 * scale)
        self.w_tilde = nn.Parameter((torch.rand(vocab_size, dim, generator=g) - 0.5) * 2 * scale)
        self.b = nn.Parameter(torch.zeros(vocab_size))
        self.b_tilde = nn.Parameter(torch.zeros(vocab_size))

    def predict(self, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """w_i . w~_j + b_i + b~_j: the model's estimate of log X_ij."""
        return (self.w[i] * self.w_tilde[j]).sum(-1) + self.b[i] + self.b_tilde[j]

    def loss(self, i: torch.Tensor, j: torch.Tensor, x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75):
        return glove_loss(self.w[i], self.w_tilde[j], self.b[i], self.b_tilde[j], x, x_max, alpha)

    def vectors(self) -> np.ndarray:
        """W + W~, the word vectors GloVe publishes."""
        return (self.w + self.w_tilde).detach().numpy()


def train_glove(
    i: np.ndarray, j: np.ndarray, x: np.ndarray, vocab_size: int, dim: int = 50, steps: int = 300,
    lr: float = 0.05, x_max: float = 100.0, alpha: float = 0.75, seed: int = 0, progress: bool = True,
) -> tuple[GloVe, list[float]]:  # fmt: skip
    """Fit :class:`GloVe` to the nonzero co-occurrences (i, j, X_ij) by full-batch Adam.

    For a vocabulary of a few thousand words the whole matrix fits in memory, so every step
    evaluates the exact objective over all nonzero pairs with two matrix products (pairs with
    X_ij = 0 have f = 0 and drop out), far faster on a CPU than looping over mini-batches of
    pairs as the original C code does. Returns the model and the weighted loss per nonzero
    pair at each step.
    """
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    model = GloVe(vocab_size, dim, seed)
    X = torch.zeros(vocab_size, vocab_size)
    X[torch.as_tensor(i), torch.as_tensor(j)] = torch.as_tensor(x, dtype=torch.float32)
    weight = glove_weight(X, x_max, alpha)
    log_x = torch.log(torch.where(X > 0, X, torch.ones(())))
    n_pairs = int((X > 0).sum())
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    bar = tqdm(range(steps), desc="GloVe steps", disable=not progress, mininterval=1.0)
    for step in bar:
        pred = model.w @ model.w_tilde.T + model.b[:, None] + model.b_tilde[None, :]
        loss = (weight * (pred - log_x) ** 2).sum() / n_pairs
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    return model, losses


# ---------------------------------------------------------------- 2-D projection of word pairs

PAIR_SETS: dict[str, list[tuple[str, str]]] = {
    "gender": [("man", "woman"), ("king", "queen"), ("uncle", "aunt"), ("brother", "sister"),
               ("nephew", "niece"), ("father", "mother"), ("boy", "girl")],
    "capitals": [("france", "paris"), ("italy", "rome"), ("germany", "berlin"), ("japan", "tokyo"),
                 ("russia", "moscow"), ("china", "beijing"), ("egypt", "cairo")],
    "comparatives": [("good", "better"), ("big", "bigger"), ("small", "smaller"), ("large", "larger"),
                     ("strong", "stronger"), ("cold", "colder"), ("old", "older")],
    "plurals": [("dog", "dogs"), ("car", "cars"), ("city", "cities"), ("child", "children"),
                ("woman", "women"), ("house", "houses"), ("bird", "birds")],
}  # fmt: skip


def offset_consistency(kv, pairs: Sequence[tuple[str, str]], seed: int = 0) -> tuple[float, float]:
    """Mean cosine between the offsets b - a of every two pairs, and the same for pairs re-matched
    at random (the second words shuffled): parallel offsets give a clearly higher first number."""
    pairs = [(check_word(kv, a), check_word(kv, b)) for a, b in pairs]
    if len(pairs) < 2:
        raise InputError("Give at least two word pairs.")

    def mean_cos(ps):
        off = np.stack([kv.get_vector(b, norm=True) - kv.get_vector(a, norm=True) for a, b in ps])
        off /= np.linalg.norm(off, axis=1, keepdims=True)
        c = off @ off.T
        return float(c[np.triu_indices(len(ps), 1)].mean())

    rng = np.random.default_rng(seed)
    seconds = [b for _, b in pairs]
    shuffled = []
    for _ in range(20):
        perm = rng.permutation(len(pairs))
        while np.any(perm == np.arange(len(pairs))):
            perm = rng.permutation(len(pairs))
        shuffled.append(mean_cos([(a, seconds[k]) for (a, _), k in zip(pairs, perm, strict=True)]))
    return mean_cos(pairs), float(np.mean(shuffled))


def project_pairs(kv, pairs: Sequence[tuple[str, str]]) -> tuple[np.ndarray, list[str]]:
    """2-D PCA coordinates of the words of the pairs (fitted on these words only), rows in order
    a1, b1, a2, b2, ..."""
    words = [check_word(kv, w) for pair in pairs for w in pair]
    X = np.stack([kv.get_vector(w, norm=True) for w in words]).astype(np.float64)
    X -= X.mean(0)
    _, _, vt = np.linalg.svd(X, full_matrices=False)
    coords = X @ vt[:2].T
    # fix the sign of each axis so the picture does not flip between runs or machines
    coords *= np.sign(coords[np.abs(coords).argmax(0), [0, 1]])
    return coords, words


def plot_pairs(kv, pairs: Sequence[tuple[str, str]], title: str = "", ax=None):
    """Scatter the pairs in 2-D with an arrow from the first word to the second of each pair."""
    import matplotlib.pyplot as plt

    coords, words = project_pairs(kv, pairs)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    for k in range(0, len(words), 2):
        (x0, y0), (x1, y1) = coords[k], coords[k + 1]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops={"arrowstyle": "->", "color": "tab:blue", "lw": 1.2})
        ax.scatter([x0, x1], [y0, y1], c=["tab:orange", "tab:green"], s=20, zorder=3)
        ax.text(x0, y0, " " + words[k], fontsize=9)
        ax.text(x1, y1, " " + words[k + 1], fontsize=9)
    ax.set(xlabel="principal component 1", ylabel="principal component 2", title=title)
    ax.grid(alpha=0.3)
    return ax


# ---------------------------------------------------------------- widgets


def analogy_report(kv, a: str, b: str, c: str, topn: int = 5) -> str:
    """Text for the analogy explorer: the top answers with cosine, or the input problem.
    Empty fields give an empty string (nothing to do)."""
    if not all((w or "").strip() for w in (a, b, c)):
        return ""
    try:
        rows = analogy(kv, a, b, c, topn=topn)
    except InputError as e:
        return f"Input problem: {e}"
    a, b, c = (w.strip().lower() for w in (a, b, c))
    lines = [f"{a} : {b} :: {c} : ?   (nearest to {b} - {a} + {c}, inputs excluded)"]
    lines += [f"{k + 1:2d}. {w:15s} cos {s:.3f}" for k, (w, s) in enumerate(rows)]
    lines.append(f"cos({a}, {b}) = {kv.similarity(a, b):.3f}   cos({c}, {rows[0][0]}) = {kv.similarity(c, rows[0][0]):.3f}")
    return "\n".join(lines)


def neighbour_report(kv, word: str, topn: int = 10) -> str:
    """Text for the neighbour explorer; empty input gives an empty string."""
    if not (word or "").strip():
        return ""
    try:
        rows = neighbours(kv, word, topn=topn)
    except InputError as e:
        return f"Input problem: {e}"
    return "\n".join(f"{k + 1:2d}. {w:15s} cos {s:.3f}" for k, (w, s) in enumerate(rows))


def _pre(text: str) -> str:
    return f"<pre style='margin:0'>{html.escape(text)}</pre>"


def analogy_explorer(kv):
    """Three text boxes (a : b :: c : ?) and a top-k slider; the answer list updates on change."""
    import ipywidgets as W

    boxes = [W.Text(value=v, description=d, continuous_update=False, layout=W.Layout(width="200px"))
             for v, d in (("man", "a"), ("king", "b"), ("woman", "c"))]  # fmt: skip
    k = W.IntSlider(value=5, min=1, max=20, description="top-k", continuous_update=False)
    out = W.HTML()

    def update(_=None):
        out.value = _pre(analogy_report(kv, *(b.value for b in boxes), topn=k.value))

    for w in (*boxes, k):
        w.observe(update, names="value")
    update()
    return W.VBox([W.HBox(boxes), k, out])


def neighbour_explorer(kv):
    """A word box and a top-n slider: the nearest words by cosine."""
    import ipywidgets as W

    box = W.Text(value="bank", description="word", continuous_update=False)
    k = W.IntSlider(value=10, min=1, max=30, description="top-n", continuous_update=False)
    out = W.HTML()

    def update(_=None):
        out.value = _pre(neighbour_report(kv, box.value, k.value))

    box.observe(update, names="value")
    k.observe(update, names="value")
    update()
    return W.VBox([W.HBox([box, k]), out])


def pair_projection_explorer(kv):
    """A dropdown of pair sets (or your own pairs, 'a-b, c-d'): a 2-D PCA plot with the offsets."""
    import ipywidgets as W
    import matplotlib.pyplot as plt

    choice = W.Dropdown(options=list(PAIR_SETS), value="gender", description="pairs")
    custom = W.Text(value="", placeholder="own pairs: paris-france, rome-italy", description="or",
                    continuous_update=False, layout=W.Layout(width="420px"))  # fmt: skip
    out = W.Output()

    def update(_=None):
        with out:
            out.clear_output(wait=True)
            text = custom.value.strip()
            try:
                pairs = parse_pairs(text) if text else PAIR_SETS[choice.value]
                fig, ax = plt.subplots(figsize=(5.5, 4.5))
                same, shuffled = offset_consistency(kv, pairs)
                plot_pairs(kv, pairs, f"offset cosine {same:.2f} (random re-pairing {shuffled:.2f})", ax)
                plt.show()
            except InputError as e:
                plt.close("all")
                print(f"Input problem: {e}")

    choice.observe(update, names="value")
    custom.observe(update, names="value")
    update()
    return W.VBox([W.HBox([choice, custom]), out])


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """'man-woman, king-queen' -> [('man', 'woman'), ('king', 'queen')]."""
    pairs = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        parts = [p.strip() for p in item.split("-")]
        if len(parts) != 2 or not all(parts):
            raise InputError(f"Write each pair as word-word, separated by commas; could not read {item!r}.")
        pairs.append((parts[0], parts[1]))
    return pairs


def widget_demo():
    """The analogy explorer on GloVe 6B 50d (loads in about 2 s)."""
    from course_lib.models import load_glove

    return analogy_explorer(load_glove())
