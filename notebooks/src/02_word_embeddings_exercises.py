# %% [markdown]
# # 02 Exercises: word vectors, analogies and the GloVe objective
#
# Six graded exercises from lesson 02, each independent of the others: four functions, one
# sentiment classifier that you train on averaged word vectors (graded on sentences you
# never see), and one prediction. The setup cell loads GloVe 6B 50d (about 2 seconds) and
# keeps its 20,000 most frequent words as a plain NumPy matrix `VECS` (one row per word of
# `WORDS`, most frequent first), so your code works on arrays, not on gensim. It also loads
# 1,000 labelled movie-review sentences (Pang & Lee) for Exercise 5.
#
# Write your answer in each exercise's solution cell, in place of
# `raise NotImplementedError()`, run the cell, then run the test cell below it.

# %%
import numpy as np
import torch

from course_lib.embeddings import analogy_questions
from course_lib.models import load_glove
from course_lib.textdata import polarity_train

torch.set_num_threads(1)  # small tensors: one thread is fastest, and graders run notebooks side by side

_glove = load_glove()
WORDS = list(_glove.index_to_key[:20_000])
VECS = np.array(_glove.vectors[:20_000], dtype=np.float32)
INDEX = {w: i for i, w in enumerate(WORDS)}
QUESTIONS = analogy_questions()  # {section: [(a, b, c, d), ...]}, lower-case
print(f"{len(WORDS):,} words x {VECS.shape[1]} dimensions; sections: {', '.join(QUESTIONS)}")
TRAIN = polarity_train(1000)  # .texts (1,000 sentences), .labels (0 = negative, 1 = positive)
print(f"{len(TRAIN.texts):,} training sentences, e.g. {TRAIN.texts[1]!r}")


def rel_error(a, b) -> float:
    """Largest relative difference between two arrays (cs231n style)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float((np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)).max())


# %% [markdown]
# ## Exercise 1 (2 points): cosine similarity
#
# `cosine(u, v)` returns $\cos(u, v) = \dfrac{u \cdot v}{\lVert u\rVert\,\lVert v\rVert}$ as a
# Python float, for two 1-D arrays of the same length. Return `0.0` if either vector is all
# zeros.

# %% nbgrader={"solution": true, "grade_id": "ex1_cosine"}
def cosine(u: np.ndarray, v: np.ndarray) -> float:
    ### BEGIN SOLUTION
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    denom = np.linalg.norm(u) * np.linalg.norm(v)
    return float(u @ v / denom) if denom > 0 else 0.0
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_cosine_tests", "points": 2, "locked": true}
assert abs(cosine(np.array([1.0, 0.0]), np.array([0.0, 1.0]))) < 1e-9, "orthogonal vectors: 0"
assert abs(cosine(np.array([3.0, 4.0]), np.array([4.0, 3.0])) - 0.96) < 1e-9
assert abs(cosine(np.array([1.0, 2.0, 2.0]), np.array([-1.0, -2.0, -2.0])) + 1.0) < 1e-9, "opposite: -1"
assert isinstance(cosine(VECS[INDEX["cat"]], VECS[INDEX["dog"]]), float)
print("cos(cat, dog) =", round(cosine(VECS[INDEX["cat"]], VECS[INDEX["dog"]]), 3))
print("visible tests passed")
### BEGIN HIDDEN TESTS
assert abs(cosine(np.array([1.0, 0.0]), np.array([5.0, 5.0])) - 1 / np.sqrt(2)) < 1e-9, "norms differ here"
assert abs(cosine(np.array([2.0, 0.0, 0.0]), np.array([0.5, 0.5, 0.0])) - 1 / np.sqrt(2)) < 1e-9
assert cosine(np.zeros(3), np.array([1.0, 2.0, 3.0])) == 0.0, "a zero vector gives 0"
_rng = np.random.default_rng(3)
_u, _v = _rng.normal(size=50), 7.0 * _rng.normal(size=50)
assert abs(cosine(_u, _v) - _u @ _v / np.linalg.norm(_u) / np.linalg.norm(_v)) < 1e-9
assert abs(cosine(VECS[INDEX["king"]], VECS[INDEX["queen"]]) - float(_glove.similarity("king", "queen"))) < 1e-5
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 (3 points): an analogy that excludes its inputs
#
# `analogy(words, vectors, a, b, c, topn=1)` answers *a : b :: c : ?* by 3CosAdd:
#
# 1. normalise every row of `vectors` to unit length;
# 2. form the query $q = \hat v_b - \hat v_a + \hat v_c$ from the normalised vectors;
# 3. score every word by its cosine with $q$;
# 4. leave out the three input words **a, b and c**, and return the `topn` best words as a
#    list of strings, best first.
#
# `words[i]` is the word of row `vectors[i]`. You may assume a, b and c are in `words`.

# %% nbgrader={"solution": true, "grade_id": "ex2_analogy"}
def analogy(words: list[str], vectors: np.ndarray, a: str, b: str, c: str, topn: int = 1) -> list[str]:
    ### BEGIN SOLUTION
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    index = {w: i for i, w in enumerate(words)}
    q = unit[index[b]] - unit[index[a]] + unit[index[c]]
    scores = unit @ (q / np.linalg.norm(q))
    for w in (a, b, c):
        scores[index[w]] = -np.inf
    return [words[i] for i in np.argsort(-scores)[:topn]]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex2_analogy_tests", "points": 3, "locked": true}
assert analogy(WORDS, VECS, "man", "king", "woman") == ["queen"]
assert analogy(WORDS, VECS, "france", "paris", "germany", topn=3)[0] == "berlin"
assert len(analogy(WORDS, VECS, "big", "bigger", "small", topn=4)) == 4
# a toy space where b and c are nearer to b - a + c than d is: they must be left out
toy_words = ["a", "b", "c", "d", "e"]
toy = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, -0.3], [0.0, 0.1, -1.0]])
assert analogy(toy_words, toy, "a", "b", "c") == ["d"], analogy(toy_words, toy, "a", "b", "c")
print("visible tests passed")
### BEGIN HIDDEN TESTS
# here the nearest word to b - a + c is a itself (long vectors show whether rows were normalised)
toy_words = ["a", "b", "c", "d", "e"]
toy = np.array([[1.0, 0.2, 0.2], [0.9, 0.5, 0.0], [0.9, 0.0, 0.5], [0.3, 0.4, 0.4], [10.0, -9.0, -9.0]])
assert analogy(toy_words, toy, "a", "b", "c") == ["d"], "the input a must be excluded too"
assert analogy(toy_words, toy, "a", "b", "c", topn=2) == ["d", "e"]
toy2 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 2.0], [-50.0, 51.0], [3.0, 3.0]])
assert analogy(["a", "b", "c", "d", "e", "f"], toy2, "a", "b", "c", topn=3) == ["d", "e", "f"], "rank by cosine, not dot product"
assert analogy(WORDS, VECS, "good", "better", "bad") == ["worse"]
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3 (3 points): the GloVe weighting and loss
#
# 1. `glove_weight(x, x_max=100.0, alpha=0.75)`: $f(x) = (x / x_{max})^{\alpha}$ for
#    $x < x_{max}$ and $1$ otherwise, elementwise on a tensor of counts.
# 2. `glove_loss(w, w_tilde, b, b_tilde, x, x_max=100.0, alpha=0.75)`: the **sum** over a
#    batch of pairs of $f(X_{ij})\,(w_i^\top \tilde w_j + b_i + \tilde b_j - \log X_{ij})^2$,
#    where row k of `w` (batch x dim) is $w_i$ of pair k, row k of `w_tilde` is $\tilde w_j$,
#    `b`, `b_tilde` (batch,) the biases and `x` (batch,) the counts $X_{ij}$ (all > 0).
#    Return a scalar tensor that gradients can flow through.

# %% nbgrader={"solution": true, "grade_id": "ex3_glove"}
def glove_weight(x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    ### BEGIN SOLUTION
    return torch.clamp(x / x_max, max=1.0) ** alpha
    ### END SOLUTION


def glove_loss(w, w_tilde, b, b_tilde, x, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    ### BEGIN SOLUTION
    pred = (w * w_tilde).sum(-1) + b + b_tilde
    return (glove_weight(x, x_max, alpha) * (pred - torch.log(x)) ** 2).sum()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex3_glove_tests", "points": 3, "locked": true}
xs = torch.tensor([1.0, 10.0, 50.0, 100.0])
assert rel_error(glove_weight(xs), (xs / 100) ** 0.75) < 1e-6
assert rel_error(glove_weight(torch.tensor([25.0]), x_max=50.0, alpha=1.0), [0.5]) < 1e-6
g = torch.Generator().manual_seed(0)
w, wt = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
b, bt = torch.randn(6, generator=g), torch.randn(6, generator=g)
x = torch.tensor([1.0, 2.0, 5.0, 20.0, 60.0, 99.0])
ref = ((x / 100) ** 0.75 * ((w * wt).sum(1) + b + bt - torch.log(x)) ** 2).sum()
loss = glove_loss(w, wt, b, bt, x)
assert loss.dim() == 0 and rel_error(loss, ref) < 1e-5
w.requires_grad_(True)
glove_loss(w, wt, b, bt, x).backward()
assert w.grad is not None and w.grad.shape == w.shape
print("visible tests passed")
### BEGIN HIDDEN TESTS
assert rel_error(glove_weight(torch.tensor([100.0, 150.0, 1e4])), [1.0, 1.0, 1.0]) < 1e-6, "capped at 1 above x_max"
assert rel_error(glove_weight(torch.tensor([300.0]), x_max=200.0), [1.0]) < 1e-6
g = torch.Generator().manual_seed(5)
w, wt = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g)
b, bt = torch.randn(8, generator=g), torch.randn(8, generator=g)
x = torch.tensor([1.0, 3.0, 80.0, 100.0, 250.0, 1000.0, 7.0, 400.0])
f = torch.clamp(x / 100, max=1) ** 0.75
ref = (f * ((w * wt).sum(1) + b + bt - torch.log(x)) ** 2).sum()
assert rel_error(glove_loss(w, wt, b, bt, x), ref) < 1e-5
f2 = torch.clamp(x / 10, max=1) ** 0.5
ref2 = (f2 * ((w * wt).sum(1) + b + bt - torch.log(x)) ** 2).sum()
assert rel_error(glove_loss(w, wt, b, bt, x, x_max=10.0, alpha=0.5), ref2) < 1e-5
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4 (4 points): score one analogy section
#
# `section_accuracy(words, vectors, questions)` scores a list of questions `(a, b, c, d)`:
#
# - a question with any of its four words missing from `words` is **skipped** (not counted);
# - every other question is answered by 3CosAdd over all of `words` (normalised rows, query
#   $\hat v_b - \hat v_a + \hat v_c$, the three inputs excluded), and is correct if the best
#   word is d;
# - return `(accuracy, answered)`: the fraction correct among the answered questions (a
#   float; `0.0` if none was answered) and how many were answered.
#
# Write it on its own (the functions of the exercises above are not available to the
# grader here). Tip: normalise the matrix once, not per question.

# %% nbgrader={"solution": true, "grade_id": "ex4_section"}
def section_accuracy(words: list[str], vectors: np.ndarray, questions: list[tuple[str, str, str, str]]) -> tuple[float, int]:
    ### BEGIN SOLUTION
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    index = {w: i for i, w in enumerate(words)}
    correct = answered = 0
    for q in questions:
        if not all(w in index for w in q):
            continue
        a, b, c, d = (index[w] for w in q)
        scores = unit @ (unit[b] - unit[a] + unit[c])
        scores[[a, b, c]] = -np.inf
        correct += int(np.argmax(scores) == d)
        answered += 1
    return (correct / answered if answered else 0.0), answered
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex4_section_tests", "points": 4, "locked": true}
acc, n = section_accuracy(WORDS, VECS, QUESTIONS["capital-common-countries"])
print(f"capital-common-countries: {acc:.1%} of {n} questions")
assert n == 506 and abs(acc - 0.7964) < 0.01, (acc, n)
toy_words = ["a", "b", "c", "d", "e"]
toy = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [-0.5, 0.6, 0.6], [0.0, 0.1, -1.0]])
assert section_accuracy(toy_words, toy, [("a", "b", "c", "d"), ("a", "b", "c", "e")]) == (0.5, 2)
print("visible tests passed")
### BEGIN HIDDEN TESTS
from course_lib.embeddings import keyed_vectors, score_analogies  # noqa: E402

_kv = keyed_vectors(WORDS, VECS)
for _sec in ("family", "currency"):
    _c, _n, _skipped = score_analogies(_kv, QUESTIONS[_sec], restrict_vocab=None)
    _acc, _ans = section_accuracy(WORDS, VECS, QUESTIONS[_sec])
    assert _skipped > 0 and _ans == _n and abs(_acc - _c / _n) < 1e-9, (_sec, _acc, _ans, _c, _n)
assert section_accuracy(toy_words, toy, [("a", "b", "c", "d"), ("a", "b", "zzz", "d")]) == (1.0, 1), "skip unknown words"
assert section_accuracy(toy_words, toy, [("a", "q", "c", "d")]) == (0.0, 0)
### END HIDDEN TESTS


# %% [markdown]
# ## Exercise 5 (5 points): a sentiment classifier on averaged word vectors
#
# The simplest way to transfer word vectors to a sentence task: represent a sentence by the
# average of its words' vectors, and fit a linear classifier on top.
#
# 1. `embed_sentences(texts)` returns a float array of shape `[len(texts), 50]`: for each
#    sentence, split it on whitespace (the sentences are already lower-cased and tokenised),
#    keep the words that are in `INDEX`, and average their rows of `VECS`; a sentence with no
#    known word gets a row of zeros.
# 2. `fit_logistic(X, y, epochs=1000, lr=0.5)` fits logistic regression by full-batch gradient
#    descent: start from `w = 0` (length `X.shape[1]`) and `b = 0`; at each epoch compute
#    $p = \sigma(Xw + b)$ and step down the gradient of the **mean** cross-entropy,
#    $w \leftarrow w - \text{lr} \cdot X^\top (p - y) / N$ and
#    $b \leftarrow b - \text{lr} \cdot \text{mean}(p - y)$. Return `(w, b)` (a NumPy array and a float).
#
# A sentence is predicted positive when $x \cdot w + b > 0$. The grader fits your classifier on
# `TRAIN` and measures its accuracy on 1,000 test sentences you never see.

# %% nbgrader={"solution": true, "grade_id": "ex5_sentiment"}
def embed_sentences(texts: list[str]) -> np.ndarray:
    ### BEGIN SOLUTION
    out = np.zeros((len(texts), VECS.shape[1]), dtype=np.float32)
    for k, text in enumerate(texts):
        ids = [INDEX[w] for w in text.split() if w in INDEX]
        if ids:
            out[k] = VECS[ids].mean(axis=0)
    return out
    ### END SOLUTION


def fit_logistic(X: np.ndarray, y: np.ndarray, epochs: int = 1000, lr: float = 0.5) -> tuple[np.ndarray, float]:
    ### BEGIN SOLUTION
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(epochs):
        p = 1 / (1 + np.exp(-(X @ w + b)))
        w -= lr * X.T @ (p - y) / len(y)
        b -= lr * float(np.mean(p - y))
    return w, b
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex5_sentiment_tests", "points": 5, "locked": true}
E = embed_sentences(["a good film", "zzzqx qqzzx"])
assert E.shape == (2, 50), E.shape
assert rel_error(E[0], VECS[[INDEX["a"], INDEX["good"], INDEX["film"]]].mean(0)) < 1e-5
assert not E[1].any(), "a sentence with no known word is a row of zeros"
X_sent = embed_sentences(TRAIN.texts)
w, b = fit_logistic(X_sent, TRAIN.labels, epochs=1000, lr=0.5)
assert np.shape(w) == (50,) and np.ndim(b) == 0, "w: one weight per dimension; b: a number"
print(f"training accuracy: {np.mean((X_sent @ w + b > 0) == TRAIN.labels):.0%}")
print("visible tests passed")
### BEGIN HIDDEN TESTS
from course_lib.textdata import polarity_test  # noqa: E402

_test = polarity_test()
_acc = float(np.mean((embed_sentences(_test.texts) @ w + float(b) > 0) == _test.labels))
assert _acc >= 0.63, f"held-out accuracy {_acc:.3f} (the reference reaches about 0.67)"
_E = embed_sentences(["the zzzqx film", "film the"])
assert rel_error(_E[0], VECS[[INDEX["the"], INDEX["film"]]].mean(0)) < 1e-5, "average the known words only"
assert rel_error(_E[0], _E[1]) < 1e-6
_Xs = np.array([[2.0, 0.0], [1.0, 1.0], [-1.0, 0.5], [-2.0, -1.0]])
_ws, _bs = fit_logistic(_Xs, np.array([1, 1, 0, 0]), epochs=1, lr=0.5)
assert rel_error(_ws, [0.375, 0.09375]) < 1e-6, "one step from zero: w = -lr * X.T (0.5 - y) / N"
assert abs(float(_bs)) < 1e-12
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6 (2 points): what can an average not see?
#
# Your classifier of Exercise 5 sees a sentence only through the average of its word vectors.
# For which pair of sentences must **every** classifier built on that average (whatever its
# weights) give the same prediction? Set `same_prediction` to one letter.
#
# - `"A"`: "a good film" and "a great film"
# - `"B"`: "the film is good" and "the film is not good"
# - `"C"`: "the acting is good but the plot is bad" and "the acting is bad but the plot is good"
# - `"D"`: "a good film" and "a good film , really"

# %% nbgrader={"solution": true, "grade_id": "ex6_order"}
### BEGIN SOLUTION
same_prediction = "C"
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex6_order_tests", "points": 2, "locked": true}
assert same_prediction in ("A", "B", "C", "D"), "one of the letters A, B, C, D"
print("visible tests passed (the answer itself is graded by hidden tests)")
### BEGIN HIDDEN TESTS
_pairs = {"A": ("a good film", "a great film"), "B": ("the film is good", "the film is not good"),
          "C": ("the acting is good but the plot is bad", "the acting is bad but the plot is good"),
          "D": ("a good film", "a good film , really")}


def _avg(text):
    return VECS[[INDEX[t] for t in text.split()]].mean(0)


_same = [k for k, (s1, s2) in _pairs.items() if np.array_equal(np.sort(s1.split()), np.sort(s2.split()))]
assert _same == ["C"] and all(np.abs(_avg(s1) - _avg(s2)).max() > 1e-3 for k, (s1, s2) in _pairs.items() if k != "C")
assert same_prediction == "C"
### END HIDDEN TESTS
