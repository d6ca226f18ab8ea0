# %% [markdown]
# # 06 Exercises: LoRA, adapters, prompt tuning and who trains what
#
# Four graded exercises from lesson 06, each independent of the others. They run on small
# seeded tensors (no model is loaded), so the whole notebook takes a few seconds.
#
# Conventions: weights are stored as PyTorch's `nn.Linear` stores them, `W` of shape
# `[out_features, in_features]`, so a linear layer computes `x @ W.T + b`. Inputs `x` are
# `[..., in_features]` (any number of leading dimensions, e.g. `[batch, tokens, hidden]`).
#
# Write your answer in each solution cell, in place of `raise NotImplementedError()` (between
# the BEGIN and END SOLUTION marker lines), run the cell, then run the test cell below it.

# %%
import torch

torch.manual_seed(0)


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest relative difference between two tensors (cs231n style)."""
    a, b = torch.as_tensor(a).detach().double(), torch.as_tensor(b).detach().double()
    return float(((a - b).abs() / (a.abs() + b.abs()).clamp_min(1e-8)).max())


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
# That's all. Each exercise is graded on its own: the visible tests above are part of the
# grade, and hidden tests check more cases (other shapes, other scalings). Compare your
# answers with `course_lib/peft.py` only after you have finished.
