# %% [markdown]
# # 06 Exercises: LoRA, adapters, prompt tuning and who trains what
#
# Six graded exercises from lesson 06, each independent of the others. Exercises 1 to 4 run
# on small seeded tensors; in Exercise 5 you inject LoRA into a small frozen network and
# train it on cached image features (graded on images you never see); Exercise 6 asks you to
# choose a method from the lesson's committed table. No big model is loaded: the whole
# notebook takes a few seconds.
#
# Conventions: weights are stored as PyTorch's `nn.Linear` stores them, `W` of shape
# `[out_features, in_features]`, so a linear layer computes `x @ W.T + b`. Inputs `x` are
# `[..., in_features]` (any number of leading dimensions, e.g. `[batch, tokens, hidden]`).
#
# Write your answer in each solution cell, in place of `raise NotImplementedError()` (between
# the BEGIN and END SOLUTION marker lines), run the cell, then run the test cell below it.

# %%
from collections import OrderedDict

import torch
from torch import nn

from course_lib.vit import cached_features

torch.manual_seed(0)
torch.set_num_threads(1)  # small tensors: one thread is fastest, and graders run notebooks side by side


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest relative difference between two tensors (cs231n style)."""
    a, b = torch.as_tensor(a).detach().double(), torch.as_tensor(b).detach().double()
    return float(((a - b).abs() / (a.abs() + b.abs()).clamp_min(1e-8)).max())


# standardised DINOv2 CLS features of 1,000 Animal-MNIST training images (10 classes)
X_TRAIN, Y_TRAIN = cached_features("train")


def make_frozen_net(seed: int = 0) -> nn.Sequential:
    """``body`` (a frozen 384 -> 16 linear layer and a ReLU, standing in for a pretrained
    encoder) and ``head`` (a fresh, trainable 16 -> 10 linear layer)."""
    rng = torch.Generator().manual_seed(seed)
    body = nn.Sequential(nn.Linear(384, 16), nn.ReLU())
    with torch.no_grad():
        body[0].weight.copy_(torch.randn(16, 384, generator=rng) / 384**0.5)
        body[0].bias.zero_()
    body.requires_grad_(False)
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict(body=body, head=nn.Linear(16, 10)))


# %% [markdown]
# ## Exercise 1 (4 points): LoRA's forward pass and merge
#
# A LoRA layer keeps a frozen linear layer (`W`, `b`) and adds a low-rank update of rank `r`
# with `A` of shape `[r, in_features]` and `B` of shape `[out_features, r]`, scaled by
# `alpha / r`:
#
# $$ y = x W^\top + b + \frac{\alpha}{r}\, x A^\top B^\top $$
#
# 1. `lora_forward(x, W, b, A, B, alpha)` returns `y`. The rank `r` is `A.shape[0]`. Compute
#    the low-rank path as two small products (`x @ A.T`, then `@ B.T`): never build the full
#    `out x in` update here, that is what saves compute while training.
# 2. `lora_merge(W, A, B, alpha)` returns the merged weight `W'` such that `x @ W'.T + b`
#    equals `lora_forward(x, W, b, A, B, alpha)`. It must not change `W` in place.

# %% nbgrader={"solution": true, "grade_id": "ex1_lora"}
def lora_forward(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor, A: torch.Tensor, B: torch.Tensor, alpha: float) -> torch.Tensor:
    ### BEGIN SOLUTION
    r = A.shape[0]
    return x @ W.T + b + (alpha / r) * ((x @ A.T) @ B.T)
    ### END SOLUTION


def lora_merge(W: torch.Tensor, A: torch.Tensor, B: torch.Tensor, alpha: float) -> torch.Tensor:
    ### BEGIN SOLUTION
    r = A.shape[0]
    return W + (alpha / r) * (B @ A)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_lora_tests", "points": 4, "locked": true}
g = torch.Generator().manual_seed(0)
x = torch.randn(2, 3, 6, generator=g)
W, b = torch.randn(5, 6, generator=g), torch.randn(5, generator=g)
A = torch.randn(2, 6, generator=g)
out0 = lora_forward(x, W, b, A, torch.zeros(5, 2), alpha=2.0)
assert out0.shape == (2, 3, 5), out0.shape
assert rel_error(out0, x @ W.T + b) < 1e-6, "with B = 0 the layer must equal the frozen layer"
B = torch.randn(5, 2, generator=g)
out = lora_forward(x, W, b, A, B, alpha=2.0)  # alpha = r: scaling 1
assert rel_error(out, x @ W.T + b + x @ A.T @ B.T) < 1e-5
W_copy = W.clone()
merged = lora_merge(W, A, B, alpha=2.0)
assert merged.shape == W.shape and torch.equal(W, W_copy), "merge must return a new weight, W unchanged"
assert rel_error(x @ merged.T + b, out) < 1e-5, "merged and unmerged outputs must agree"
print("visible tests passed")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(7)
x = torch.randn(4, 10, generator=g)
W, b = torch.randn(3, 10, generator=g), torch.randn(3, generator=g)
A, B = torch.randn(4, 10, generator=g), torch.randn(3, 4, generator=g)
ref = x @ W.T + b + (16.0 / 4) * (x @ A.T @ B.T)
assert rel_error(lora_forward(x, W, b, A, B, alpha=16.0), ref) < 1e-5, "the update is scaled by alpha / r"
assert rel_error(x @ lora_merge(W, A, B, alpha=16.0).T + b, ref) < 1e-5
ref1 = x @ W.T + b + 0.5 * (x @ A[:1].T @ B[:, :1].T)
assert rel_error(lora_forward(x, W, b, A[:1], B[:, :1], alpha=0.5), ref1) < 1e-5
assert rel_error(lora_merge(W, A, B, alpha=1.0), W + 0.25 * B @ A) < 1e-5
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 (3 points): a bottleneck adapter
#
# An adapter maps each vector down to a small size, applies a GELU, maps it back up and
# adds the result to its input:
#
# $$ \text{adapter}(x) = x + \text{GELU}(x W_\text{down}^\top + b_\text{down})\, W_\text{up}^\top + b_\text{up} $$
#
# with `W_down` of shape `[bottleneck, dim]` and `W_up` of shape `[dim, bottleneck]`. Write
# `adapter_forward(x, W_down, b_down, W_up, b_up)` for `x` of shape `[..., dim]`. Use
# `torch.nn.functional.gelu` (its default, exact form).

# %% nbgrader={"solution": true, "grade_id": "ex2_adapter"}
def adapter_forward(x: torch.Tensor, W_down: torch.Tensor, b_down: torch.Tensor, W_up: torch.Tensor, b_up: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    h = torch.nn.functional.gelu(x @ W_down.T + b_down)
    return x + h @ W_up.T + b_up
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex2_adapter_tests", "points": 3, "locked": true}
g = torch.Generator().manual_seed(1)
x = torch.randn(2, 5, 8, generator=g)
W_down, b_down = torch.randn(3, 8, generator=g), torch.randn(3, generator=g)
out = adapter_forward(x, W_down, b_down, torch.zeros(8, 3), torch.zeros(8))
assert out.shape == x.shape, out.shape
assert rel_error(out, x) < 1e-7, "with W_up = 0 and b_up = 0 the adapter is the identity"
b_up = torch.randn(8, generator=g)
assert rel_error(adapter_forward(x, W_down, b_down, torch.zeros(8, 3), b_up), x + b_up) < 1e-6
print("visible tests passed")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(11)
x = torch.randn(6, 4, generator=g)
Wd, bd = torch.randn(2, 4, generator=g), torch.randn(2, generator=g)
Wu, bu = torch.randn(4, 2, generator=g), torch.randn(4, generator=g)
pre = x @ Wd.T + bd
ref = x + (0.5 * pre * (1 + torch.erf(pre / 2**0.5))) @ Wu.T + bu
assert (pre < 0).any(), "the test needs negative pre-activations"
assert rel_error(adapter_forward(x, Wd, bd, Wu, bu), ref) < 1e-5, "GELU, not ReLU: negative inputs matter"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3 (3 points): prompt tuning's virtual tokens
#
# Prompt tuning learns `n` vectors (`prompt`, shape `[n, hidden]`) and puts them **in front
# of** every sentence's word embeddings. Write `prepend_prompt(embeds, mask, prompt)` where
# `embeds` is `[batch, tokens, hidden]` and `mask` is `[batch, tokens]` (1 for a real token,
# 0 for padding). Return `(new_embeds, new_mask)`:
#
# - `new_embeds`, `[batch, n + tokens, hidden]`: the prompt, then the sentence, in every row;
# - `new_mask`, `[batch, n + tokens]`: the virtual tokens must be attended to (1), then the
#   original mask; same dtype as `mask`.

# %% nbgrader={"solution": true, "grade_id": "ex3_prompt"}
def prepend_prompt(embeds: torch.Tensor, mask: torch.Tensor, prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    ### BEGIN SOLUTION
    batch = embeds.shape[0]
    p = prompt.unsqueeze(0).expand(batch, -1, -1)
    ones = torch.ones(batch, prompt.shape[0], dtype=mask.dtype, device=mask.device)
    return torch.cat([p, embeds], dim=1), torch.cat([ones, mask], dim=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex3_prompt_tests", "points": 3, "locked": true}
g = torch.Generator().manual_seed(2)
emb = torch.randn(3, 4, 5, generator=g)
msk = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
prm = torch.randn(2, 5, generator=g)
new_emb, new_msk = prepend_prompt(emb, msk, prm)
assert new_emb.shape == (3, 6, 5) and new_msk.shape == (3, 6), (new_emb.shape, new_msk.shape)
assert torch.equal(new_emb[:, 2:], emb), "the sentence follows the prompt, unchanged"
assert torch.equal(new_emb[1, :2], prm), "every row starts with the prompt"
assert torch.equal(new_msk[:, 2:], msk)
print("visible tests passed")
### BEGIN HIDDEN TESTS
assert torch.equal(new_msk[:, :2], torch.ones(3, 2, dtype=msk.dtype)), "the virtual tokens must be attended to (mask 1)"
assert new_msk.dtype == msk.dtype
assert torch.equal(new_emb[0, :2], prm) and torch.equal(new_emb[2, :2], prm)
e1, m1 = prepend_prompt(torch.zeros(1, 3, 2), torch.tensor([[1, 1, 0]]), torch.ones(4, 2))
assert e1.shape == (1, 7, 2) and m1.tolist() == [[1, 1, 1, 1, 1, 1, 0]]
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4 (4 points): how many parameters does each method train?
#
# Write `trainable_params(method, hidden, layers, num_labels, r=8, bottleneck=32, n_virtual=20)`
# for a BERT-style encoder of `layers` layers of width `hidden`, with a linear classification
# head (`hidden x num_labels` weights plus `num_labels` biases) that **trains in every
# method**. Count, besides the head:
#
# - `"linear probe"`: nothing else.
# - `"LoRA"`: LoRA of rank `r` on the query and value projections (each `hidden x hidden`)
#   of every layer: each adds `A` (`r x hidden`) and `B` (`hidden x r`).
# - `"adapter"`: two adapters per layer (down `hidden -> bottleneck` and up
#   `bottleneck -> hidden`, both with biases), plus every LayerNorm: 2 per layer and 1 after
#   the embeddings, each with a weight and a bias of size `hidden`.
# - `"prompt tuning"`: `n_virtual` vectors of size `hidden`.
#
# Any other method name: raise a `ValueError`. For MiniLM (hidden 384, 6 layers, 2 labels) the
# lesson measured LoRA 74,498, adapter 310,658 and prompt tuning 8,450.

# %% nbgrader={"solution": true, "grade_id": "ex4_count"}
def trainable_params(method: str, hidden: int, layers: int, num_labels: int, r: int = 8, bottleneck: int = 32, n_virtual: int = 20) -> int:
    ### BEGIN SOLUTION
    head = hidden * num_labels + num_labels
    if method == "linear probe":
        return head
    if method == "LoRA":
        return head + 2 * layers * r * (hidden + hidden)
    if method == "adapter":
        one = hidden * bottleneck + bottleneck + bottleneck * hidden + hidden
        return head + 2 * layers * one + (2 * layers + 1) * 2 * hidden
    if method == "prompt tuning":
        return head + n_virtual * hidden
    raise ValueError(f"unknown method {method!r}")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex4_count_tests", "points": 4, "locked": true}
assert trainable_params("linear probe", 384, 6, 2) == 770
assert trainable_params("LoRA", 384, 6, 2) == 74_498
assert trainable_params("adapter", 384, 6, 2) == 310_658
assert trainable_params("prompt tuning", 384, 6, 2) == 8_450
try:
    trainable_params("dropout", 384, 6, 2)
    raise AssertionError("an unknown method must raise ValueError")
except ValueError:
    pass
print("visible tests passed")
### BEGIN HIDDEN TESTS
assert trainable_params("linear probe", 64, 2, 3) == 64 * 3 + 3
assert trainable_params("LoRA", 64, 2, 3, r=4) == 64 * 3 + 3 + 2 * 2 * 4 * 128
assert trainable_params("LoRA", 384, 6, 2, r=1) == 770 + 12 * 768
assert trainable_params("adapter", 64, 2, 3, bottleneck=8) == 195 + 4 * (64 * 8 + 8 + 8 * 64 + 64) + 5 * 128
assert trainable_params("prompt tuning", 64, 2, 3, n_virtual=5) == 195 + 5 * 64
assert trainable_params("adapter", 768, 12, 2) == 1538 + 24 * (2 * 768 * 32 + 32 + 768) + 25 * 1536
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5 (5 points): inject LoRA and train it
#
# `make_frozen_net()` returns a network with a frozen `body` (a 384 -> 16 linear layer and a
# ReLU, standing in for a pretrained encoder) and a trainable `head`. `X_TRAIN` (1,000 x 384)
# holds standardised DINOv2 features of Animal-MNIST images and `Y_TRAIN` their 10 classes.
# Training the head alone cannot do much through a frozen 16-dimensional bottleneck: adapt the
# body with LoRA.
#
# 1. `LoRA(base, r, alpha)`: an `nn.Module` that keeps the `nn.Linear` `base` (its weight and
#    bias frozen, `requires_grad = False`) and adds two trainable parameters, `A`
#    (`r x in_features`, small random values, e.g. `0.01 * torch.randn`) and `B`
#    (`out_features x r`, zeros); `forward(x)` returns
#    `base(x) + (alpha / r) * (x @ A.T) @ B.T`.
# 2. `add_lora(model, r=4, alpha=8.0)`: replace every `nn.Linear` directly inside `model.body`
#    by a `LoRA` wrapping it (e.g. `model.body[i] = LoRA(model.body[i], r, alpha)`) and return
#    `model`. Afterwards the trainable parameters are exactly the LoRA matrices and the head.
# 3. `train_lora(model, X, y, epochs=10, lr=1e-2, batch_size=32, seed=0)`: train the
#    parameters that require gradients with `torch.optim.AdamW` (rate `lr`), cross-entropy, on
#    shuffled mini-batches, for `epochs` epochs.
#
# The grader checks what your code does: which parameters train, that the frozen weights are
# bit for bit unchanged after training, and the accuracy on test images you never see.

# %% nbgrader={"solution": true, "grade_id": "ex5_lora_train"}
class LoRA(nn.Module):
    def __init__(self, base: nn.Linear, r: int = 4, alpha: float = 8.0):
        super().__init__()
        ### BEGIN SOLUTION
        self.base = base
        base.requires_grad_(False)
        self.A = nn.Parameter(0.01 * torch.randn(r, base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))
        self.scale = alpha / r
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        return self.base(x) + self.scale * (x @ self.A.T) @ self.B.T
        ### END SOLUTION


def add_lora(model: nn.Module, r: int = 4, alpha: float = 8.0) -> nn.Module:
    ### BEGIN SOLUTION
    for i, layer in enumerate(model.body):
        if isinstance(layer, nn.Linear):
            model.body[i] = LoRA(layer, r, alpha)
    return model
    ### END SOLUTION


def train_lora(model: nn.Module, X: torch.Tensor, y: torch.Tensor, epochs: int = 10, lr: float = 1e-2,
               batch_size: int = 32, seed: int = 0) -> nn.Module:
    ### BEGIN SOLUTION
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=gen)
        for start in range(0, len(X), batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex5_lora_train_tests", "points": 5, "locked": true}
from course_lib.training import accuracy, count_parameters  # noqa: E402  (here: a solution cannot shadow them)

net = make_frozen_net(seed=0)
base_layer = net.body[0]
base_weight, base_bias = base_layer.weight.detach().clone(), base_layer.bias.detach().clone()
with torch.no_grad():
    before = net(X_TRAIN[:8])
net = add_lora(net, r=4, alpha=8.0)
with torch.no_grad():
    assert rel_error(net(X_TRAIN[:8]), before) < 1e-6, "with B = 0 the network must compute what it did before"
n_trainable = count_parameters(net)
print(f"trainable parameters after add_lora: {n_trainable:,}")
train_lora(net, X_TRAIN, Y_TRAIN, epochs=10, lr=1e-2)
with torch.no_grad():
    train_acc = accuracy(net(X_TRAIN), Y_TRAIN)
print(f"training accuracy: {train_acc:.0%}")
print("visible tests passed")
### BEGIN HIDDEN TESTS

assert n_trainable == 16 * 10 + 10 + 4 * (384 + 16), f"trainable: the LoRA matrices and the head only, got {n_trainable}"
assert any(m is base_layer for m in net.modules()), "the original linear layer must stay inside the network"
assert not base_layer.weight.requires_grad and not base_layer.bias.requires_grad, "the base layer must be frozen"
assert torch.equal(base_layer.weight, base_weight) and torch.equal(base_layer.bias, base_bias), "the frozen weights changed"
with torch.set_grad_enabled(False):
    assert (net.body[0](X_TRAIN[:8]) - base_layer(X_TRAIN[:8])).abs().max() > 1e-3, "the LoRA update did not train"
_X_test, _y_test = cached_features("test")
with torch.set_grad_enabled(False):
    _acc = accuracy(net(_X_test), _y_test)
assert _acc >= 0.72, f"held-out accuracy {_acc:.3f} (the reference reaches about 0.81; the head alone about 0.5)"
_n2 = make_frozen_net(seed=1)
_base2 = _n2.body[0]
_n2 = add_lora(_n2, r=2, alpha=6.0)
assert count_parameters(_n2) == 170 + 2 * 400, "rank r = 2"
_lora = _n2.body[0]
_trainable = [p for p in _lora.parameters() if p.requires_grad]
_A = next(p for p in _trainable if p.shape == (2, 384))
_B = next(p for p in _trainable if p.shape == (16, 2))
with torch.set_grad_enabled(False):
    _B.copy_(torch.randn(16, 2, generator=torch.Generator().manual_seed(4)))
    _xx = X_TRAIN[:5]
    assert rel_error(_lora(_xx), _base2(_xx) + 3.0 * (_xx @ _A.T) @ _B.T) < 1e-5, "the update is scaled by alpha / r"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6 (2 points): one base model, many tasks
#
# You will serve 100 sentiment-like tasks from one shared MiniLM kept in memory, storing only
# what each task trains (plus the shared model once). You want each task within **one point**
# of full fine-tuning's test accuracy. Using the lesson's committed table at n = 500
# (`course_lib.peft.load_committed_table()["table"]`, shown in lesson 06), which method stores
# the fewest parameters per task while meeting that bar? Set `serving_method` to one of
# `"full fine-tuning"`, `"linear probe"`, `"LoRA"`, `"adapter"`, `"prompt tuning"`.

# %% nbgrader={"solution": true, "grade_id": "ex6_serving"}
### BEGIN SOLUTION
serving_method = "LoRA"
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex6_serving_tests", "points": 2, "locked": true}
assert serving_method in ("full fine-tuning", "linear probe", "LoRA", "adapter", "prompt tuning"), serving_method
print("visible tests passed (the choice itself is graded by hidden tests)")
### BEGIN HIDDEN TESTS
from course_lib.peft import load_committed_table  # noqa: E402

_rows = {r["method"]: r for r in load_committed_table()["table"]}
_bar = _rows["full fine-tuning"]["accuracy"] - 0.01
_ok = [m for m in ("full fine-tuning", "linear probe", "LoRA", "adapter", "prompt tuning") if _rows[m]["accuracy"] >= _bar]
_best = min(_ok, key=lambda m: _rows[m]["trainable"])
assert _best == "LoRA" and _rows["prompt tuning"]["accuracy"] < _bar - 0.02 and _rows["linear probe"]["accuracy"] < _bar - 0.02
assert serving_method == _best
### END HIDDEN TESTS

# %% [markdown]
# That's all. Each exercise is graded on its own: the visible tests above are part of the
# grade, and hidden tests check more cases (other shapes, other scalings). Compare your
# answers with `course_lib/peft/` only after you have finished.
