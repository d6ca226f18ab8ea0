# %% [markdown]
# # 07 Vision Transformers: exercises
#
# Three graded exercises on the input and the attention of a Vision Transformer, the pieces
# lesson 07 built by hand and checked against DINOv2. They run on small seeded tensors (no
# pretrained model), so the whole notebook takes a few seconds.
#
# Each exercise is independent: fill in the cell marked `YOUR CODE HERE`, then run the test
# cell under it. The visible tests are self-checks; more tests run when your work is graded.

# %%
import math

import torch

torch.manual_seed(0)


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
# ## Done
#
# These three pieces are exactly what `course_lib.vit.embed_by_hand` and the attention maps of
# lesson 07 do with DINOv2's real weights.
