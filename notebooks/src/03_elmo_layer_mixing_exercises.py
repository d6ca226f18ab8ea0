# %% [markdown]
# # 03 Exercises: scalar mix, a per-layer probe, contextual vs static similarity, a learned mix
#
# Five graded exercises. The first three use small seeded tensors that stand in for layer
# features (shape `(L, N, D)`: L layers, N tokens or sentences, D dimensions). Exercises 4 and 5
# use the lesson's real data: the course biLM's layer features for the words of Brown
# sentences tagged with parts of speech (computed once, in the setup cell). Each exercise is
# independent: fill in the solution cell, then run its test cell. The visible tests are
# self-checks; more tests run when your work is graded.

# %%
import warnings

import numpy as np
import torch
from torch import nn

from course_lib import elmo
from course_lib.corpus import load_brown_tagged

torch.set_num_threads(1)  # small tensors: one thread is fastest, and graders run notebooks side by side
warnings.filterwarnings("ignore", message="LSTM with projections")


def make_layers(seed=0, n=120, d=8, informative=(2,), noise=1.0):
    """Toy layer features (3, n, d) and labels (n,): only the ``informative`` layers know the label."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    layers = noise * torch.randn(3, n, d, generator=g)
    for layer in informative:
        layers[layer, :, 0] += 3.0 * (2 * y - 1)
    return layers, y


def pos_split(split):
    """The lesson's POS data: 500 Brown sentences (4 to 40 words) from the corpus's test split,
    the first 300 to train a probe ("train"), the other 200 to test it. Returns (words, tags):
    one list of words per sentence, and one tag index (into ``elmo.UNIVERSAL_TAGS``) per word."""
    brown = [s for s in load_brown_tagged("test") if 4 <= len(s) <= 40]
    pick = np.random.default_rng(0).permutation(len(brown))[:500]
    chosen = [brown[i] for i in (pick[:300] if split == "train" else pick[300:])]
    words = [[w for w, _ in s] for s in chosen]
    tags = torch.tensor([elmo.UNIVERSAL_TAGS.index(elmo.brown_to_universal(t)) for s in chosen for _, t in s])
    return words, tags


LM = elmo.load_bilm()  # the course's biLM: a token layer and two LSTM layers
POS_WORDS, Y_POS = pos_split("train")
_raw = elmo.bilm_token_features(LM, POS_WORDS, progress=False)
_MEAN, _STD = _raw.mean(1, keepdim=True), _raw.std(1, keepdim=True).clamp_min(1e-6)


def standardise(layers):
    """Z-score each layer's dimensions with the statistics of the training words."""
    return (layers - _MEAN) / _STD


X_POS = standardise(_raw)  # (3 layers, training words, 256)
print("biLM features of the POS training words:", tuple(X_POS.shape), "| sentences:", len(POS_WORDS),
      "| tags:", len(elmo.UNIVERSAL_TAGS), "| test sentences (kept for grading):", len(pos_split("test")[0]))

# %% [markdown]
# ## Exercise 1: ELMo's scalar mix (2 points)
#
# Write `scalar_mix(layers, s, gamma)`: `layers` is a tensor `(L, ...)`, `s` a tensor of L
# unnormalised scores and `gamma` a number. Return
# $\gamma \sum_l \mathrm{softmax}(s)_l \,\mathrm{layers}[l]$, a tensor shaped like
# `layers[0]`.

# %% nbgrader={"solution": true, "grade_id": "ex1_scalar_mix"}
def scalar_mix(layers, s, gamma=1.0):
    ### BEGIN SOLUTION
    w = torch.softmax(torch.as_tensor(s, dtype=layers.dtype), dim=0)
    return gamma * (w.view(-1, *([1] * (layers.ndim - 1))) * layers).sum(0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_scalar_mix_tests", "points": 2, "locked": true}
_layers = torch.stack([torch.full((2, 3), 1.0), torch.full((2, 3), 4.0)])
_out = scalar_mix(_layers, torch.zeros(2))
assert _out.shape == (2, 3), "the result has the shape of one layer"
assert torch.allclose(_out, torch.full((2, 3), 2.5)), "equal scores give the plain mean"
_big = scalar_mix(_layers, torch.tensor([0.0, 30.0]))
assert torch.allclose(_big, torch.full((2, 3), 4.0), atol=1e-4), "a large score selects its layer"
print("visible tests passed")
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(3)
_x = torch.randn(4, 5, 6, generator=_g)
_s = torch.tensor([0.3, -1.0, 2.0, 0.5])
_ref = 0.7 * torch.einsum("l,lnd->nd", torch.softmax(_s, 0), _x)
assert torch.allclose(scalar_mix(_x, _s, 0.7), _ref, atol=1e-5), "gamma * sum softmax(s)_l h_l"
assert torch.allclose(scalar_mix(_x, _s + 5.0, 2.0), _ref / 0.7 * 2.0, atol=1e-5), "softmax is shift-invariant"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: a probe per layer (3 points)
#
# Write `layer_probe_accuracies(train_layers, y_train, test_layers, y_test)`. For each layer
# l, fit a **nearest-centroid** probe on the training features of that layer (the mean
# vector of each class), classify every *test* vector of the same layer by its nearest class
# mean (Euclidean distance), and return the list of L test accuracies (floats in [0, 1]).

# %% nbgrader={"solution": true, "grade_id": "ex2_layer_probe"}
def layer_probe_accuracies(train_layers, y_train, test_layers, y_test):
    ### BEGIN SOLUTION
    classes = torch.unique(y_train)
    accs = []
    for layer in range(train_layers.shape[0]):
        means = torch.stack([train_layers[layer][y_train == c].mean(0) for c in classes])
        pred = classes[torch.cdist(test_layers[layer], means).argmin(1)]
        accs.append(float((pred == y_test).float().mean()))
    return accs
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex2_layer_probe_tests", "points": 3, "locked": true}
_tr, _ytr = make_layers(seed=0, informative=(2,))
_te, _yte = make_layers(seed=1, informative=(2,))
_acc = layer_probe_accuracies(_tr, _ytr, _te, _yte)
assert len(_acc) == 3, "one accuracy per layer"
assert _acc[2] > 0.95, "layer 2 carries the label"
assert max(_acc[0], _acc[1]) < 0.8, "layers 0 and 1 are noise"
print("visible tests passed:", [round(a, 2) for a in _acc])
### BEGIN HIDDEN TESTS
_tr, _ytr = make_layers(seed=5, n=40, d=30, informative=(1,), noise=2.0)
_te, _yte = make_layers(seed=6, n=400, d=30, informative=(1,), noise=2.0)
_te[:, :, 1:] += 1.5  # a shift the training data never shows
_classes = torch.unique(_ytr)
_ref = []
for _l in range(3):
    _m = torch.stack([_tr[_l][_ytr == c].mean(0) for c in _classes])
    _ref.append(float((_classes[torch.cdist(_te[_l], _m).argmin(1)] == _yte).float().mean()))
_got = layer_probe_accuracies(_tr, _ytr, _te, _yte)
assert np.allclose(_got, _ref, atol=1e-6), f"test accuracies expected {_ref}, got {_got}"
_y3 = torch.tensor([0, 1, 2] * 10)
_f3 = torch.zeros(1, 30, 2)
_f3[0, :, 0] = _y3.float() * 5
assert layer_probe_accuracies(_f3, _y3, _f3, _y3) == [1.0], "works for more than two classes"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: contextual vs static similarity (2 points)
#
# `vectors` is an `(n, d)` array: one vector of the same word in n sentences; `senses` gives
# each sentence's sense (e.g. 0 = river, 1 = money). Write `sense_separation(vectors, senses)`:
# the mean cosine similarity over pairs of **different** sentences with the same sense, minus
# the mean cosine similarity over pairs with different senses. A static embedding (the same
# vector n times) must score exactly 0.

# %% nbgrader={"solution": true, "grade_id": "ex3_separation"}
def sense_separation(vectors, senses):
    ### BEGIN SOLUTION
    v = np.asarray(vectors, dtype=np.float64)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    sim = v @ v.T
    senses = np.asarray(senses)
    same = senses[:, None] == senses[None, :]
    off = ~np.eye(len(senses), dtype=bool)
    return float(sim[same & off].mean() - sim[~same].mean())
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex3_separation_tests", "points": 2, "locked": true}
_static = np.tile(np.array([[0.3, -1.2, 2.0]]), (6, 1))
_senses = np.array([0, 0, 0, 1, 1, 1])
assert abs(sense_separation(_static, _senses)) < 1e-9, "a static vector carries no sense"
_two = np.array([[1.0, 0.0]] * 3 + [[0.0, 2.0]] * 3)
assert abs(sense_separation(_two, _senses) - 1.0) < 1e-9, "identical within, orthogonal across"
print("visible tests passed")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(0)
_v = _rng.normal(size=(8, 5)) + np.repeat(np.array([[2.0, 0, 0, 0, 0], [0, 2.0, 0, 0, 0]]), 4, axis=0)
_s = np.array([0, 1] * 4)
_u = _v / np.linalg.norm(_v, axis=1, keepdims=True)
_sim = _u @ _u.T
_same = _s[:, None] == _s[None, :]
_ref = _sim[_same & ~np.eye(8, dtype=bool)].mean() - _sim[~_same].mean()
assert abs(sense_separation(_v, _s) - _ref) < 1e-6, "exclude each sentence's pair with itself; use cosines"
assert abs(sense_separation(_v * np.arange(1, 9)[:, None], _s) - _ref) < 1e-6, "cosine ignores length"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: learn the mix for POS tagging (4 points)
#
# Now learn $s$ and $\gamma$ from data, as ELMo does for each task. `X_POS` holds the course
# biLM's three layers (token layer, LSTM 1, LSTM 2) for every word of the lesson's 300 POS
# training sentences, each layer z-scored, shape `(3, N, 256)` (printed by the setup cell);
# `Y_POS` holds the words' tags, indices into the 12 coarse tags of `elmo.UNIVERSAL_TAGS`.
#
# Write `fit_mix_probe(layers, y, num_classes, steps, lr, weight_decay, seed)`, which trains
# the mix and a linear tagger on top of it jointly:
#
# 1. seed torch's random generator with `seed` (`torch.manual_seed`), then make the
#    parameters: `s`, a tensor of L zeros, and `gamma`, a 0-d tensor holding 1.0, both with
#    `requires_grad=True`; and a head `nn.Linear(D, num_classes)`;
# 2. one `torch.optim.Adam` at `lr` over `s`, `gamma` and the head's parameters;
# 3. `steps` full-batch steps: mix the layers,
#    $\gamma \sum_l \mathrm{softmax}(s)_l\, \mathrm{layers}[l]$, and take as the loss the
#    cross-entropy of `head(mixed)` against `y` plus
#    `weight_decay * (gamma * head.weight).pow(2).sum()` (the lesson's penalty on the effective
#    weights: on `head.weight` alone, `gamma` could grow and switch it off); then clear the
#    gradients, backward, step.
#
# Return `(s, gamma, head)`.
#
# Write it yourself: `course_lib.elmo.scalar_mix`, `ScalarMix`, `fit_scalar_mix_probe` and
# `mix_probe_accuracy` are switched off while your work is graded, and do not call exercise
# 1's function (each exercise is graded on its own). The grader applies ELMo's formula with
# your `s`, `gamma` and `head` to the words of the 200 test sentences, which you never see,
# and checks the tagging accuracy against a probe on a single layer, and that the mix weights
# were learned.

# %% nbgrader={"solution": true, "grade_id": "ex4_mix_probe"}
def fit_mix_probe(layers, y, num_classes, steps=100, lr=0.05, weight_decay=0.01, seed=0):
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    s = torch.zeros(layers.shape[0], requires_grad=True)
    gamma = torch.tensor(1.0, requires_grad=True)
    head = nn.Linear(layers.shape[2], num_classes)
    optimizer = torch.optim.Adam([s, gamma, *head.parameters()], lr=lr)
    for _ in range(steps):
        mixed = gamma * torch.einsum("l,lnd->nd", torch.softmax(s, 0), layers)
        loss = nn.functional.cross_entropy(head(mixed), y) + weight_decay * (gamma * head.weight).pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return s, gamma, head
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex4_mix_probe_tests", "points": 4, "locked": true}
s, gamma, head = fit_mix_probe(X_POS, Y_POS, num_classes=12)
assert s.shape == (3,) and gamma.ndim == 0, "one score per layer, and one scalar gamma"
assert isinstance(head, nn.Linear) and (head.in_features, head.out_features) == (256, 12)
with torch.no_grad():
    weights = torch.softmax(s, 0)
    train_pred = head(gamma * (weights.view(3, 1, 1) * X_POS).sum(0)).argmax(1)
train_acc = float((train_pred == Y_POS).float().mean())
print(f"training accuracy: {train_acc:.0%}")
assert train_acc > 0.85, "the mix and the head should fit the training words"
print("visible tests passed")
### BEGIN HIDDEN TESTS
_test_words, _y_test = pos_split("test")
_x_test = standardise(elmo.bilm_token_features(LM, _test_words, progress=False))
with torch.set_grad_enabled(False):
    _w = torch.softmax(s.detach(), 0)
    _acc = float((head(gamma.detach() * torch.tensordot(_w, _x_test, dims=1)).argmax(1) == _y_test).float().mean())
_floor = elmo.probe_layers(X_POS[:1], Y_POS, _x_test[:1], _y_test, weight_decay=0.1)[0]
assert _acc > _floor + 0.02, f"held-out accuracy {_acc:.3f}; a probe on the token layer alone reaches {_floor:.3f}"
assert float(_w.max() - _w.min()) > 0.2, f"the mix weights should be learned, not stay near uniform: {_w.tolist()}"
assert int(_w.argmin()) == 0, f"with the penalty on gamma * W, the context-free token layer should get the smallest weight: {_w.tolist()}"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: where do the LSTM layers help? (2 points)
#
# Section 4 of the lesson fits a probe on each biLM layer for POS (the line `biLM POS`),
# on the same 300 training and 200 test sentences as exercise 4. Answer from the lesson's
# numbers, or predict first from what each layer sees, then check:
#
# - `"worst_layer"`: which layer's POS probe is the least accurate? One of `"token"`,
#   `"LSTM 1"`, `"LSTM 2"`.
# - `"gain_largest_on"`: sort the test words into three groups by what the probe's
#   *training* words show about them (words compared in lower case): `"one tag"` (the word
#   occurs in the training sentences, always with the same tag), `"several tags"` (it occurs
#   there with two or more different tags) and `"unseen"` (it does not occur there). In which
#   group does the better of the two LSTM layers beat the token layer by the most points?
#
# Set `pos_answers` to a dict with these two keys.

# %% nbgrader={"solution": true, "grade_id": "ex5_pos_reading"}
### BEGIN SOLUTION
pos_answers = {"worst_layer": "token", "gain_largest_on": "several tags"}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex5_pos_reading_tests", "points": 2, "locked": true}
assert isinstance(pos_answers, dict)
assert pos_answers.get("worst_layer") in ("token", "LSTM 1", "LSTM 2")
assert pos_answers.get("gain_largest_on") in ("one tag", "several tags", "unseen")
print("POS answers: well formed (graded by hidden tests)")
### BEGIN HIDDEN TESTS
_test_words, _y_test = pos_split("test")
_x_test = standardise(elmo.bilm_token_features(LM, _test_words, progress=False))
_correct = elmo.probe_layer_correct(X_POS, Y_POS, _x_test, _y_test, weight_decay=0.1)  # (3 layers, test words)
_acc_by_layer = dict(zip(("token", "LSTM 1", "LSTM 2"), _correct.mean(1).tolist(), strict=True))
_worst = min(_acc_by_layer, key=_acc_by_layer.get)
assert all(_acc_by_layer[_worst] < _v - 0.01 for _k, _v in _acc_by_layer.items() if _k != _worst), _acc_by_layer
assert pos_answers["worst_layer"] == _worst
_seen = {}
for _word, _tag in zip((w.lower() for _s in POS_WORDS for w in _s), Y_POS.tolist(), strict=True):
    _seen.setdefault(_word, set()).add(_tag)
_group = np.array(["unseen" if w.lower() not in _seen else "one tag" if len(_seen[w.lower()]) == 1 else "several tags"
                   for _s in _test_words for w in _s])
_best_lstm = 1 + int(_correct[1:].mean(1).argmax())
_gains = {g: float(_correct[_best_lstm, _group == g].mean() - _correct[0, _group == g].mean())
          for g in ("one tag", "several tags", "unseen")}
_top = max(_gains, key=_gains.get)
assert all(_gains[_top] > _v + 0.03 for _k, _v in _gains.items() if _k != _top), _gains
assert pos_answers["gain_largest_on"] == _top
### END HIDDEN TESTS
