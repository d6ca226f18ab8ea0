"""Word vectors as gensim ``KeyedVectors``: lookups with helpful errors, nearest neighbours and
analogies (3CosAdd), and the analogy and word-similarity benchmarks."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from course_lib import assets
from course_lib.errors import InputError

SEMANTIC_SECTIONS = ("capital-common-countries", "capital-world", "currency", "city-in-state", "family")


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


def unit_vectors(kv, restrict_vocab: int | None = None) -> np.ndarray:
    """The unit-length word vectors (rows in frequency order), the first ``restrict_vocab`` only if given."""
    vecs = kv.get_normed_vectors()
    return vecs[:restrict_vocab] if restrict_vocab else vecs


def analogy(kv, a: str, b: str, c: str, topn: int = 5, restrict_vocab: int | None = None) -> list[tuple[str, float]]:
    """a : b :: c : ?  The words closest (cosine) to b - a + c, the three inputs excluded (3CosAdd)."""
    a, b, c = (check_word(kv, w) for w in (a, b, c))
    unit = unit_vectors(kv, restrict_vocab)
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
    unit = unit_vectors(kv, restrict_vocab)
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
    unit = unit_vectors(kv, restrict_vocab)
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
