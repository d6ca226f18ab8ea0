"""The course corpus: general English text shared by lessons 02-04, tokenised one way.

``scripts/build_corpus.py`` assembles it from redistributable sources (Wikipedia lead
summaries, the Brown corpus, Shakespeare, the CIA World Factbook), tokenises every
sentence with :func:`tokenize`, splits documents into train / valid / test with a fixed
seed and commits the result xz-compressed under ``data/corpus/`` (see its README).

Files: one tokenised sentence per line (tokens joined by single spaces); a line
``@@ <source> <doc_id>`` opens each document. ``brown_tagged.txt.xz`` keeps the Brown
corpus with its original tags, one sentence per line: ``fileid<TAB>genre<TAB>word/tag ...``.

Everything is read through :func:`course_lib.assets.path`, which checks the sha256 listed
in ``data/manifest.json``.
"""

from __future__ import annotations

import lzma
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from course_lib import assets
from course_lib.errors import InputError

SPLITS = ("train", "valid", "test")
SOURCES = ("wiki", "brown", "shakespeare", "factbook")
DOC_MARK = "@@"
ASSET_NAMES = {split: f"corpus-{split}" for split in SPLITS}
BROWN_ASSET = "brown-tagged"

_TOKEN_RE = re.compile(
    r"""
    [^\W_]+(?=n't\b)              # "do" of "don't"
    | n't\b                       # the negation clitic
    | '(?:s|re|ve|ll|d|m)\b       # other clitics: 's 're 've 'll 'd 'm
    | \d+(?:[.,:]\d+)+            # numbers with separators: 1,000  3.14  10:30
    | [^\W_]+(?:-[^\W_]+)*        # words and numbers, hyphenated ones kept whole
    | [^\w\s]                     # any other single symbol
    """,
    re.VERBOSE,
)
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "`": "'"})


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens: words, numbers, clitics (``n't``, ``'s``) and single symbols.

    >>> tokenize("The bank's rates didn't rise in 1,999 -- well-known facts.")
    ['the', 'bank', "'s", 'rates', 'did', "n't", 'rise', 'in', '1,999', '-', '-', 'well-known', 'facts', '.']
    """
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    return _TOKEN_RE.findall(text)


# ---------------------------------------------------------------- reading the corpus


@dataclass(frozen=True)
class Document:
    """One document of the corpus: its source, an id, and its tokenised sentences."""

    source: str
    doc_id: str
    sentences: list[list[str]] = field(default_factory=list)

    @property
    def num_tokens(self) -> int:
        return sum(len(s) for s in self.sentences)


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise InputError(f"split must be one of {', '.join(SPLITS)}; got {split!r}.")
    return split


@lru_cache(maxsize=3)
def _read_documents(split: str) -> tuple[Document, ...]:
    path = assets.path(ASSET_NAMES[split])
    docs: list[Document] = []
    with lzma.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith(DOC_MARK + " "):
                _, source, doc_id = line.split(" ", 2)
                docs.append(Document(source, doc_id, []))
            elif line:
                docs[-1].sentences.append(list(map(sys.intern, line.split(" "))))
    return tuple(docs)


def load_documents(split: str, sources: Sequence[str] | None = None) -> list[Document]:
    """The documents of one split (``train``, ``valid`` or ``test``), optionally of some sources only."""
    _check_split(split)
    if sources is not None:
        unknown = [s for s in sources if s not in SOURCES]
        if unknown:
            raise InputError(f"Unknown source(s) {unknown}; the corpus has {', '.join(SOURCES)}.")
    docs = _read_documents(split)
    return [d for d in docs if sources is None or d.source in sources]


def load_corpus(split: str, sources: Sequence[str] | None = None) -> list[list[str]]:
    """Tokenised sentences of one split: a list of lists of lower-cased tokens.

    The lists are fresh copies on every call, so callers may change them.
    """
    return [list(s) for d in load_documents(split, sources) for s in d.sentences]


def corpus_slice(sentences: Sequence[list[str]], max_tokens: int) -> list[list[str]]:
    """The first sentences whose total length stays within ``max_tokens`` (at least one)."""
    if max_tokens <= 0:
        raise InputError(f"max_tokens must be positive; got {max_tokens}.")
    out, total = [], 0
    for s in sentences:
        if out and total + len(s) > max_tokens:
            break
        out.append(s)
        total += len(s)
    return out


def corpus_stats(sentences: Iterable[Sequence[str]]) -> dict[str, int]:
    """Sentences, tokens and distinct token types of a list of tokenised sentences."""
    counts: Counter[str] = Counter()
    n_sent = 0
    for s in sentences:
        counts.update(s)
        n_sent += 1
    return {"sentences": n_sent, "tokens": sum(counts.values()), "types": len(counts)}


def split_stats(split: str) -> dict[str, dict[str, int]]:
    """Per-source documents, sentences and tokens of one split, plus a ``total`` row."""
    rows: dict[str, dict[str, int]] = {}
    for d in load_documents(split):
        r = rows.setdefault(d.source, {"documents": 0, "sentences": 0, "tokens": 0})
        r["documents"] += 1
        r["sentences"] += len(d.sentences)
        r["tokens"] += d.num_tokens
    rows["total"] = {k: sum(r[k] for r in rows.values()) for k in ("documents", "sentences", "tokens")}
    return rows


# ---------------------------------------------------------------- vocabulary


class Vocab:
    """Token <-> index, most frequent first, with ``<unk>`` (index 0) for everything else.

    Extra ``specials`` (e.g. ``"<pad>"``, ``"<eos>"``) come right after ``<unk>``.
    """

    UNK = "<unk>"

    def __init__(self, tokens: Sequence[str], counts: Counter | None = None, specials: Sequence[str] = ()):
        itos = [self.UNK, *[s for s in specials if s != self.UNK]]
        seen = set(itos)
        itos += [t for t in tokens if t not in seen]
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(itos)}
        self.counts: Counter = counts if counts is not None else Counter()

    @property
    def unk_index(self) -> int:
        return 0

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, 0)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Indices of the tokens; unknown ones map to ``<unk>`` (0)."""
        stoi = self.stoi
        return [stoi.get(t, 0) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of the indices."""
        return [self.itos[i] for i in ids]

    def coverage(self, sentences: Iterable[Sequence[str]]) -> float:
        """Fraction of running tokens that are in the vocabulary (not ``<unk>``)."""
        known = total = 0
        for s in sentences:
            total += len(s)
            known += sum(t in self.stoi for t in s)
        return known / max(total, 1)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {', '.join(self.itos[:8])}, ...)"


def build_vocab(
    sentences: Iterable[Sequence[str]],
    max_size: int | None = None,
    min_count: int = 1,
    specials: Sequence[str] = (),
) -> Vocab:
    """A :class:`Vocab` of the tokens seen at least ``min_count`` times, at most ``max_size`` entries
    (specials included). Ties in frequency are broken alphabetically, so the result is deterministic."""
    if min_count < 1:
        raise InputError(f"min_count must be at least 1; got {min_count}.")
    counts: Counter[str] = Counter()
    for s in sentences:
        counts.update(s)
    ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    if max_size is not None:
        n_special = 1 + len([s for s in specials if s != Vocab.UNK])
        if max_size <= n_special:
            raise InputError(f"max_size must exceed the {n_special} special token(s); got {max_size}.")
        ranked = ranked[: max_size - n_special]
    return Vocab(ranked, counts, specials)


# ---------------------------------------------------------------- Brown, POS-tagged


@lru_cache(maxsize=1)
def _read_brown() -> tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]:
    path = assets.path(BROWN_ASSET)
    rows = []
    with lzma.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            fileid, genre, tagged = line.rstrip("\n").split("\t")
            pairs = tuple(tuple(wt.rsplit("/", 1)) for wt in tagged.split(" "))
            rows.append((fileid, genre, pairs))
    return tuple(rows)


def load_brown_tagged(split: str | None = None, genres: Sequence[str] | None = None) -> list[list[tuple[str, str]]]:
    """Brown sentences as ``[(word, tag), ...]`` with the original words (case kept) and Brown tags.

    ``split`` keeps only the files whose text went into that corpus split (so a probe can be
    tested on text a language model trained on the ``train`` split never saw); ``genres``
    keeps only some of Brown's 15 genres (``news``, ``fiction``, ...). 57,340 sentences in all.
    """
    rows = _read_brown()
    keep_files = None
    if split is not None:
        keep_files = {d.doc_id for d in load_documents(_check_split(split), ["brown"])}
    if genres is not None:
        known = {g for _, g, _ in rows}
        unknown = [g for g in genres if g not in known]
        if unknown:
            raise InputError(f"Unknown Brown genre(s) {unknown}; known: {', '.join(sorted(known))}.")
    return [
        list(pairs)
        for fileid, genre, pairs in rows
        if (keep_files is None or fileid in keep_files) and (genres is None or genre in genres)
    ]
