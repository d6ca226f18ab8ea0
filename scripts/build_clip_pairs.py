#!/usr/bin/env python3
"""Build lesson 08's image-caption pairs from emoji and openclipart (run once; result committed).

Sources (build time only; a student never needs them):

* npm ``emoji-datasource-google@16.0.0``: 64 x 64 Noto emoji PNGs with their Unicode names
  (data MIT, images Apache-2.0). Get it with ``npm pack emoji-datasource-google@16.0.0``.
* Debian ``openclipart-png`` + ``openclipart-svg`` 0.18: clip-art PNGs; the caption is the
  ``dc:title`` of the matching SVG (public domain). Get them with
  ``apt-get download openclipart-png openclipart-svg`` and unpack each with ``dpkg-deb -x DEB DIR``.

Usage::

    python scripts/build_clip_pairs.py --emoji-tgz emoji-datasource-google-16.0.0.tgz \\
        --openclipart-root DIR   # DIR/usr/share/openclipart/{png,svg}

Writes ``data/lesson08/pairs.npz`` (images: N x 48 x 48 x 3 uint8 on white, compressed) and
``data/lesson08/pairs.json`` (caption, source, category per image, plus the build config).
Captions are lower-cased and whitespace-normalised; captions used by more than
``MAX_REPEATS`` images (collection titles such as "gramastar") are dropped, since a caption that
names a collection describes none of its images. Then the manifest entry is printed.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "lesson08"
SIZE = 48
MAX_REPEATS = 5
TITLE = re.compile(r"<dc:title>\s*([^<]*?)\s*</dc:title>", re.S)


def to_square_rgb(img: Image.Image, size: int = SIZE) -> np.ndarray:
    """Composite on white, pad to a square (keeping the aspect ratio), resize to size x size."""
    img.thumbnail((4 * size, 4 * size), Image.Resampling.BILINEAR)  # cheap first shrink of big clip art
    img = img.convert("RGBA")
    bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
    img = Image.alpha_composite(bg, img).convert("RGB")
    w, h = img.size
    side = max(w, h)
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(img, ((side - w) // 2, (side - h) // 2))
    return np.asarray(canvas.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)


def clean(caption: str) -> str:
    caption = caption.replace("_", " ").replace("&amp;", "&")
    return re.sub(r"\s+", " ", caption).strip().lower()


def emoji_pairs(tgz: Path) -> list[tuple[np.ndarray, str, str, str]]:
    out = []
    with tarfile.open(tgz) as tar:
        meta = json.load(tar.extractfile("package/emoji.json"))
        for e in sorted(meta, key=lambda e: e["sort_order"]):
            if not e.get("has_img_google") or not e.get("name"):
                continue
            member = f"package/img/google/64/{e['image']}"
            try:
                data = tar.extractfile(member).read()
            except KeyError:
                continue
            img = to_square_rgb(Image.open(io.BytesIO(data)))
            out.append((img, clean(e["name"]), "emoji", e["category"].lower()))
    return out


def openclipart_pairs(root: Path) -> list[tuple[np.ndarray, str, str, str]]:
    png_root = root / "usr/share/openclipart/png"
    svg_root = root / "usr/share/openclipart/svg"
    out = []
    for png in sorted(png_root.rglob("*.png")):
        rel = png.relative_to(png_root)
        svg = svg_root / rel.with_suffix(".svg")
        if not svg.is_file():
            continue
        m = TITLE.search(svg.read_text(errors="replace"))
        if not m or not clean(m.group(1)):
            continue
        try:
            img = to_square_rgb(Image.open(png))
        except (OSError, Image.DecompressionBombError):
            continue  # unreadable or absurdly large PNG
        out.append((img, clean(m.group(1)), "openclipart", rel.parts[0]))
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emoji-tgz", type=Path, required=True)
    ap.add_argument("--openclipart-root", type=Path, required=True)
    args = ap.parse_args()

    pairs = emoji_pairs(args.emoji_tgz) + openclipart_pairs(args.openclipart_root)
    n_raw = collections.Counter(p[2] for p in pairs)
    counts = collections.Counter(p[1] for p in pairs)
    kept = [p for p in pairs if counts[p[1]] <= MAX_REPEATS]
    OUT.mkdir(parents=True, exist_ok=True)
    images = np.stack([p[0] for p in kept])
    np.savez_compressed(OUT / "pairs.npz", images=images)
    meta = {
        "config": {"size": SIZE, "max_repeats": MAX_REPEATS, "background": "white", "resample": "lanczos"},
        "sources": {
            "emoji": "npm emoji-datasource-google@16.0.0 (data MIT, Noto emoji images Apache-2.0)",
            "openclipart": "Debian openclipart-png/openclipart-svg 1:0.18+dfsg-19 (public domain)",
        },
        "caption": [p[1] for p in kept],
        "source": [p[2] for p in kept],
        "category": [p[3] for p in kept],
    }
    (OUT / "pairs.json").write_text(json.dumps(meta, indent=0, ensure_ascii=False) + "\n")
    n_kept = collections.Counter(p[2] for p in kept)
    print(f"raw pairs {dict(n_raw)}; kept {dict(n_kept)} (dropped {len(pairs) - len(kept)} with repeated captions)")
    files = {f"lesson08/{f}": sha256(OUT / f) for f in ("pairs.npz", "pairs.json")}
    size = sum((OUT / f).stat().st_size for f in ("pairs.npz", "pairs.json")) / 1e6
    print(json.dumps({"files": files, "size_mb": round(size, 2), "counts": {**n_kept, "pairs": len(kept)}}, indent=1))


if __name__ == "__main__":
    main()
