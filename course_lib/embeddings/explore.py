"""Word-pair offsets in 2-D (PCA) and the lesson's explorers: analogies, neighbours, pair plots."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np

from course_lib.embeddings.vectors import analogy, check_word, neighbours
from course_lib.errors import InputError
from course_lib.models import load_glove
from course_lib.widgets import pre_html

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



def analogy_explorer(kv):
    """Three text boxes (a : b :: c : ?) and a top-k slider; the answer list updates on change."""
    boxes = [W.Text(value=v, description=d, continuous_update=False, layout=W.Layout(width="200px"))
             for v, d in (("man", "a"), ("king", "b"), ("woman", "c"))]  # fmt: skip
    k = W.IntSlider(value=5, min=1, max=20, description="top-k", continuous_update=False)
    out = W.HTML()

    def update(_=None):
        out.value = pre_html(analogy_report(kv, *(b.value for b in boxes), topn=k.value))

    for w in (*boxes, k):
        w.observe(update, names="value")
    update()
    return W.VBox([W.HBox(boxes), k, out])


def neighbour_explorer(kv):
    """A word box and a top-n slider: the nearest words by cosine."""
    box = W.Text(value="bank", description="word", continuous_update=False)
    k = W.IntSlider(value=10, min=1, max=30, description="top-n", continuous_update=False)
    out = W.HTML()

    def update(_=None):
        out.value = pre_html(neighbour_report(kv, box.value, k.value))

    box.observe(update, names="value")
    k.observe(update, names="value")
    update()
    return W.VBox([W.HBox([box, k]), out])


def pair_projection_explorer(kv):
    """A dropdown of pair sets (or your own pairs, 'a-b, c-d'): a 2-D PCA plot with the offsets."""
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
    return analogy_explorer(load_glove())
