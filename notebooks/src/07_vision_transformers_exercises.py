# %% [markdown]
# # 07 Vision Transformers: exercises
#
# Five graded exercises. The first three build the input and the attention of a Vision
# Transformer, the pieces lesson 07 built by hand and checked against DINOv2, on small seeded
# tensors. The last two use what DINOv2 (ViT-S/14, pretrained self-supervised, without labels)
# computed for Animal-MNIST: no model is loaded here.
#
# 1. **Patchify** (3 points).
# 2. **CLS token and position embeddings** (3 points).
# 3. **Attention weights from CLS** (4 points).
# 4. **A head on DINOv2 features, with early stopping** (4 points): write the training loop,
#    stop on a validation split; graded on test images you never see.
# 5. **Reading the transfer table** (2 points): pretrained ViT features against lesson 01's CNNs.
#
# Each exercise is independent: fill in the cell marked `YOUR CODE HERE`, then run the test
# cell under it. The visible tests are self-checks; more tests run when your work is graded.

# %%
import math

import torch
from torch import nn

from course_lib.vit import cached_features

torch.manual_seed(0)
torch.set_num_threads(1)  # small tensors: one thread is fastest, and graders run notebooks side by side

# DINOv2 CLS features (standardised) of 1,000 Animal-MNIST training images, 100 per class,
# rows grouped by class (all of class 0 first), and their labels 0-9
X_TRAIN, Y_TRAIN = cached_features("train")
print("training features:", tuple(X_TRAIN.shape), "labels per class:", torch.bincount(Y_TRAIN).tolist())


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest relative difference between two tensors (cs231n style)."""
    return float(((a - b).abs() / (a.abs() + b.abs()).clamp_min(1e-8)).max())

# %% [markdown]
# ## Exercise 1: patchify (3 points)
#
# A ViT cuts an image into non-overlapping `patch x patch` squares and flattens each one.
# Write `patchify(x, patch)` that maps a batch `B x C x H x W` to `B x N x (C*patch*patch)`,
# where `N = (H/patch) * (W/patch)`, patches in row-major order (left to right, then top to
# bottom), and each patch flattened **channel first**, then rows, then columns: the order of a
# `Conv2d` weight `(out, C, patch, patch)`, so that `patchify(x) @ W.reshape(D, -1).T` equals
# that convolution with stride = kernel size = patch.
#
# Hint: `reshape` to `B x C x H/p x p x W/p x p`, then `permute`, then `reshape`.

# %% nbgrader={"solution": true, "grade_id": "patchify"}
def patchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    ### BEGIN SOLUTION
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, (h // patch) * (w // patch), c * patch * patch)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "patchify_tests", "points": 3, "locked": true}
_x = torch.arange(2 * 1 * 4 * 6, dtype=torch.float32).reshape(2, 1, 4, 6)
_p = patchify(_x, 2)
assert _p.shape == (2, 6, 4), f"expected shape (2, 6, 4), got {tuple(_p.shape)}"
assert torch.equal(_p[0, 0], _x[0, 0, :2, :2].flatten()), "the first patch should be the top-left 2x2 square"
assert torch.equal(_p[1, 1], _x[1, 0, :2, 2:4].flatten()), "the second patch is to the right of the first"
print("patchify: visible tests passed")
### BEGIN HIDDEN TESTS
_x3 = torch.randn(2, 3, 6, 9)
_p3 = patchify(_x3, 3)
assert _p3.shape == (2, 6, 27)
assert torch.equal(_p3[1, 4], _x3[1, :, 3:6, 3:6].flatten()), "flatten channel first, then rows, then columns"
_conv = torch.nn.Conv2d(3, 5, 3, stride=3)
with torch.no_grad():
    _ref = _conv(_x3).flatten(2).transpose(1, 2)
    _mine = _p3 @ _conv.weight.reshape(5, -1).T + _conv.bias
assert rel_error(_mine, _ref) < 1e-4, "patchify @ W must equal the strided convolution"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: CLS token and position embeddings (3 points)
#
# After the linear patch embedding, a ViT prepends one learned CLS token to the `N` patch
# tokens and adds a learned position embedding to **every** token, the CLS token included
# (position 0 belongs to the CLS token). Write `add_cls_and_positions(tokens, cls, pos)` with
# `tokens: B x N x D`, `cls: 1 x 1 x D`, `pos: 1 x (N+1) x D`, returning `B x (N+1) x D`.

# %% nbgrader={"solution": true, "grade_id": "cls_pos"}
def add_cls_and_positions(tokens: torch.Tensor, cls: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    cls = cls.expand(tokens.shape[0], -1, -1)
    return torch.cat([cls, tokens], dim=1) + pos
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "cls_pos_tests", "points": 3, "locked": true}
_tok = torch.randn(3, 4, 8)
_cls = torch.randn(1, 1, 8)
_pos = torch.randn(1, 5, 8)
_pos[:, 0] = 0.0  # in this visible test the CLS position embedding happens to be zero
_out = add_cls_and_positions(_tok, _cls, _pos)
assert _out.shape == (3, 5, 8), f"expected shape (3, 5, 8), got {tuple(_out.shape)}"
assert torch.allclose(_out[:, 1:], _tok + _pos[:, 1:]), "patch tokens get positions 1..N"
assert torch.allclose(_out[2, 0], _cls[0, 0]), "token 0 is the CLS token"
print("add_cls_and_positions: visible tests passed")
### BEGIN HIDDEN TESTS
_pos2 = torch.randn(1, 5, 8)
_out2 = add_cls_and_positions(_tok, _cls, _pos2)
assert torch.allclose(_out2[:, 0], (_cls + _pos2[:, :1]).expand(3, -1, -1)[:, 0]), "the CLS token gets position 0 too"
assert torch.allclose(_out2[:, 1:], _tok + _pos2[:, 1:])
assert add_cls_and_positions(torch.randn(1, 2, 3), torch.zeros(1, 1, 3), torch.ones(1, 3, 3)).shape == (1, 3, 3)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: the attention weights from CLS for one head (4 points)
#
# Given the token matrix `x: T x D` (token 0 is CLS) and the query and key projections
# `wq, wk: D x D` with biases `bq, bk` (used as `x @ wq + bq`), and `heads` heads of size
# `d = D / heads`, return the attention weights of the CLS token's query over all `T` tokens
# (itself included) for head `h`: `softmax(q_cls . k_j / sqrt(d))` over `j`, a vector of
# length `T` that sums to 1. Head `h` uses columns `h*d : (h+1)*d` of the projections.

# %% nbgrader={"solution": true, "grade_id": "cls_attention"}
def cls_attention(x, wq, bq, wk, bk, heads: int, h: int) -> torch.Tensor:
    ### BEGIN SOLUTION
    d = x.shape[-1] // heads
    q = (x @ wq + bq)[0, h * d : (h + 1) * d]
    k = (x @ wk + bk)[:, h * d : (h + 1) * d]
    return torch.softmax(k @ q / math.sqrt(d), dim=-1)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "cls_attention_tests", "points": 4, "locked": true}
_g = torch.Generator().manual_seed(7)
_xa = torch.randn(5, 3, generator=_g)
_wq, _wk = torch.randn(3, 3, generator=_g), torch.randn(3, 3, generator=_g)
_bq, _bk = torch.randn(3, generator=_g), torch.randn(3, generator=_g)
_a = cls_attention(_xa, _wq, _bq, _wk, _bk, heads=3, h=1)  # heads of size 1
assert _a.shape == (5,), f"expected one weight per token (5,), got {tuple(_a.shape)}"
assert abs(float(_a.sum()) - 1) < 1e-5, "the weights must sum to 1"
_q, _k = (_xa @ _wq + _bq)[0, 1], (_xa @ _wk + _bk)[:, 1]
assert rel_error(_a, torch.softmax(_q * _k, 0)) < 1e-5, "head 1 uses column 1 when heads have size 1"
print("cls_attention: visible tests passed")
### BEGIN HIDDEN TESTS
_xb = torch.randn(7, 8, generator=_g)
_wq2, _wk2 = torch.randn(8, 8, generator=_g), torch.randn(8, 8, generator=_g)
_bq2, _bk2 = torch.randn(8, generator=_g), torch.randn(8, generator=_g)
for _h in range(2):
    _qq = (_xb @ _wq2 + _bq2)[:, _h * 4 : (_h + 1) * 4]
    _kk = (_xb @ _wk2 + _bk2)[:, _h * 4 : (_h + 1) * 4]
    _ref = torch.softmax(_qq @ _kk.T / 2.0, -1)[0]
    assert rel_error(cls_attention(_xb, _wq2, _bq2, _wk2, _bk2, heads=2, h=_h), _ref) < 1e-4, "scale by 1/sqrt(d)"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: a head on DINOv2 features, with early stopping (4 points)
#
# Lesson 07 probed DINOv2's CLS features with a few labels per class. A fair probe picks its
# settings, here *when to stop training*, on a **validation** split carved out of the labelled
# images, never on the test set. Write the loop yourself.
#
# Write `train_with_early_stopping(head, X, y, X_val, y_val, epochs, lr, batch_size, seed)`:
#
# 1. one `torch.optim.AdamW(head.parameters(), lr=lr)` (its defaults otherwise);
# 2. one `torch.Generator` seeded with `seed`, made once before the first epoch; each epoch, put
#    the head in training mode, shuffle the rows with `torch.randperm(len(X), generator=...)`, and
#    for each mini-batch of `batch_size` rows compute the cross-entropy, clear the gradients,
#    backward, step;
# 3. after each epoch, the head's accuracy on `X_val`, `y_val` (evaluation mode, no gradients),
#    as a Python float; when it is higher than at every earlier epoch, keep a **copy** of the
#    head's weights;
# 4. after the last epoch, load the kept weights back into the head.
#
# Return the validation accuracies, one per epoch. The head ends with the weights of its best
# epoch (the earliest, on ties). Use torch only: `course_lib.training`'s `fit` and
# `fit_linear_probe` are switched off while grading. The grader trains fresh heads with your
# function and checks their accuracy on Animal-MNIST test images you never see, and that each
# head really holds its best epoch's weights.

# %% nbgrader={"solution": true, "grade_id": "early_stopping"}
def train_with_early_stopping(head, X, y, X_val, y_val, epochs=30, lr=1e-2, batch_size=32, seed=0):
    ### BEGIN SOLUTION
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    val_accs, best, kept = [], -1.0, None
    for _ in range(epochs):
        head.train()
        order = torch.randperm(len(X), generator=gen)
        for start in range(0, len(X), batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(head(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        head.eval()
        with torch.no_grad():
            acc = (head(X_val).argmax(1) == y_val).float().mean().item()
        val_accs.append(acc)
        if acc > best:
            best, kept = acc, {k: v.detach().clone() for k, v in head.state_dict().items()}
    head.load_state_dict(kept)
    return val_accs
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "early_stopping_tests", "points": 4, "locked": true}
# 20 training and 20 validation images per class
_X, _y, _X_val, _y_val = X_TRAIN[0::5], Y_TRAIN[0::5], X_TRAIN[1::5], Y_TRAIN[1::5]
torch.manual_seed(0)
_head = nn.Linear(384, 10)
_accs = train_with_early_stopping(_head, _X, _y, _X_val, _y_val, epochs=30, lr=1e-2, batch_size=32, seed=0)
assert isinstance(_accs, list) and len(_accs) == 30, "one validation accuracy per epoch"
assert all(isinstance(a, float) and 0.0 <= a <= 1.0 for a in _accs), "accuracies are floats between 0 and 1"
assert max(_accs) > 0.6, "DINOv2 features with 20 labels per class should give well over 60 % on validation"
assert isinstance(_head, nn.Linear) and _head.weight.shape == (10, 384)
print(f"best validation accuracy: {max(_accs):.0%}")
print("train_with_early_stopping: visible tests passed")
### BEGIN HIDDEN TESTS


def _holds(model, X, y):
    model.eval()
    with torch.no_grad():
        return float((model(X).argmax(1) == y).double().mean())


assert max(_accs) > _accs[-1], "in this run the last epoch is not the best one"
assert abs(_holds(_head, _X_val, _y_val) - max(_accs)) < 1e-6, "the head must end with its best epoch's weights"
_X_test, _y_test = cached_features("test")
_test_acc = _holds(_head, _X_test, _y_test)
assert _test_acc >= 0.72, f"held-out accuracy {_test_acc:.3f} (the reference reaches about 0.78)"
torch.manual_seed(1)
_mlp = nn.Sequential(nn.Linear(384, 256), nn.ReLU(), nn.Linear(256, 10))
_accs2 = train_with_early_stopping(_mlp, X_TRAIN[0::10], Y_TRAIN[0::10], _X_val, _y_val, epochs=20, lr=3e-2, batch_size=25, seed=1)
assert len(_accs2) == 20
assert max(_accs2) > _accs2[-1] + 0.01, "in this run, too, the last epoch is not the best one"
assert abs(_holds(_mlp, _X_val, _y_val) - max(_accs2)) < 1e-6, "the MLP head must end with its best epoch's weights"
assert _holds(_mlp, _X_test, _y_test) >= 0.55, "the reference MLP head reaches about 0.63 here"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: reading the transfer table (2 points)
#
# Lesson 07 set its DINOv2 probe beside lesson 01's numbers on the same test images, with the
# same training images at each k (lesson 01's seed-0 subsets): a linear probe on DINOv2 ViT-S
# CLS features, a linear probe on ImageNet EfficientNet-Lite0 features (a supervised CNN), and a
# small CNN trained from scratch. Answer from that table (or predict first, then check):
#
# - `"best_at_50_labels"`: with 50 labelled images per class, which of the three is the most
#   accurate? One of `"DINOv2 probe"`, `"EfficientNet probe"`, `"small CNN from scratch"`.
# - `"dinov2_last_at"`: at which k, of 1, 5, 10, 50 and 100 labels per class, is the DINOv2
#   probe the least accurate of the three? A list of those k, smallest first.
#
# Set `transfer_answers` to a dict with these two keys.

# %% nbgrader={"solution": true, "grade_id": "transfer_reading"}
### BEGIN SOLUTION
transfer_answers = {"best_at_50_labels": "small CNN from scratch", "dinov2_last_at": [5, 10, 50, 100]}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "transfer_reading_tests", "points": 2, "locked": true}
assert isinstance(transfer_answers, dict)
assert transfer_answers.get("best_at_50_labels") in ("DINOv2 probe", "EfficientNet probe", "small CNN from scratch")
_last = transfer_answers.get("dinov2_last_at")
assert isinstance(_last, list) and all(k in (1, 5, 10, 50, 100) for k in _last), "a list of k from 1, 5, 10, 50, 100"
assert _last == sorted(set(_last)), "smallest first, each k once"
print("transfer answers: well formed (graded by hidden tests)")
### BEGIN HIDDEN TESTS
import json  # noqa: E402

from course_lib import assets, vit  # noqa: E402
from course_lib.training import fit_linear_probe  # noqa: E402

_cache = vit.load_feature_cache()
_xt = torch.from_numpy(_cache["test"].astype("float32"))
_yt = torch.from_numpy(_cache["test_labels"]).long()
_curve = json.loads(assets.path("lesson01-curve").read_text())
_l01 = {(r["method"], r["k"]): r["test_acc"] for r in _curve["runs"] if r["seed"] == 0}
_table = {}
for _k in (1, 5, 10, 50, 100):
    _f, _lab = vit.k_subset(_cache, _k)
    with torch.no_grad():
        _dino = float((fit_linear_probe(_f, _lab, num_classes=10)(_xt).argmax(1) == _yt).double().mean())
    _table[_k] = {"DINOv2 probe": _dino, "EfficientNet probe": _l01["probe", _k], "small CNN from scratch": _l01["small_cnn", _k]}
_ranked = sorted(_table[50], key=_table[50].get, reverse=True)
assert _table[50][_ranked[0]] > _table[50][_ranked[1]] + 0.01, "a clear winner at k = 50"
assert transfer_answers["best_at_50_labels"] == _ranked[0]
_lowest = [_k for _k, _row in _table.items() if min(_row, key=_row.get) == "DINOv2 probe"]
assert transfer_answers["dinov2_last_at"] == _lowest
### END HIDDEN TESTS

# %% [markdown]
# ## Done
#
# Exercises 1-3 are exactly what `course_lib.vit.embed_by_hand` and the attention maps of
# lesson 07 do with DINOv2's real weights. Exercise 5's table is a reminder that the best
# features depend on how close the pretraining images are to yours: measure, on your data.
