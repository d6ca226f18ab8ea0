# %% [markdown]
# # 03 Exercises: scalar mix, a per-layer probe, contextual vs static similarity
#
# Three graded exercises on small seeded tensors that stand in for layer features
# (shape `(L, N, D)`: L layers, N tokens or sentences, D dimensions). Nothing is trained for
# long, so the notebook runs in seconds. Each exercise is independent: fill in the solution
# cell, then run its test cell. The visible tests are self-checks; more tests run when your
# work is graded.

# %%
import numpy as np
import torch


def make_layers(seed=0, n=120, d=8, informative=(2,), noise=1.0):
    """Toy layer features (3, n, d) and labels (n,): only the ``informative`` layers know the label."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    layers = noise * torch.randn(3, n, d, generator=g)
    for layer in informative:
        layers[layer, :, 0] += 3.0 * (2 * y - 1)
    return layers, y


print("setup done")

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
