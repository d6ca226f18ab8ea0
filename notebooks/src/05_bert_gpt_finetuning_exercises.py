# %% [markdown]
# # 05 Exercises: pooling and a classification head
#
# Three graded exercises from lesson 05, each independent of the others. They run on small
# seeded tensors (no model is loaded), so the whole notebook takes a few seconds.
#
# Shapes: `hidden` is `[batch, tokens, hidden_size]` (a transformer's last hidden states) and
# `mask` is `[batch, tokens]`, 1 for a real token and 0 for padding (as the tokenizer returns
# it: an integer tensor).
#
# Write your answer in each solution cell where it says `raise NotImplementedError()` (replace
# that line), run the cell, then run the test cell below it.

# %%
import torch
from torch import nn

torch.manual_seed(0)


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest relative difference between two tensors (cs231n style)."""
    a, b = a.detach(), b.detach()
    return float(((a - b).abs() / (a.abs() + b.abs()).clamp_min(1e-8)).max())


# %% [markdown]
# ## Exercise 1 (3 points): mean pooling with an attention mask
#
# Sentence-embedding encoders such as MiniLM average the hidden states of the **real** tokens.
# Write `mean_pool(hidden, mask)` returning `[batch, hidden_size]`: for each sentence the mean of
# `hidden` over the positions where `mask` is 1. Padding must have no influence, whatever
# numbers sit there. A row whose mask is all zeros (an empty sentence) must give a vector of
# zeros, not `nan`. No Python loop over the batch.

# %% nbgrader={"solution": true, "grade_id": "ex1_mean_pool"}
def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_mean_pool_tests", "points": 3, "locked": true}
h = torch.arange(24, dtype=torch.float32).reshape(2, 4, 3)
m = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
out = mean_pool(h, m)
assert out.shape == (2, 3), out.shape
expected = torch.stack([h[0, :3].mean(0), h[1, :2].mean(0)])
assert rel_error(out, expected) < 1e-6, (out, expected)
h2 = h.clone()
h2[0, 3] = 1e6  # padding content must not matter
assert rel_error(mean_pool(h2, m), expected) < 1e-6
print("visible tests passed")
### BEGIN HIDDEN TESTS
empty = mean_pool(torch.randn(3, 5, 4), torch.tensor([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]]))
assert torch.isfinite(empty).all(), "an all-padding row must not give nan"
assert torch.allclose(empty[1], torch.zeros(4))
g = torch.Generator().manual_seed(1)
hh = torch.randn(4, 7, 5, generator=g)
lengths = [7, 1, 4, 3]
mm = torch.tensor([[1] * n + [0] * (7 - n) for n in lengths])
ref = torch.stack([hh[i, :n].mean(0) for i, n in enumerate(lengths)])
assert rel_error(mean_pool(hh, mm), ref) < 1e-5
left = torch.tensor([[0] * (7 - n) + [1] * n for n in lengths])  # left padding
ref_left = torch.stack([hh[i, 7 - n :].mean(0) for i, n in enumerate(lengths)])
assert rel_error(mean_pool(hh, left), ref_left) < 1e-5
assert mean_pool(hh, mm.bool()).shape == (4, 5)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 (3 points): last-token pooling, left or right padding
#
# In a causal (GPT-style) model only the last real token has seen the whole sentence. Write
# `last_token_pool(hidden, mask)` returning `[batch, hidden_size]`: for each row, the hidden
# state at the position of its **last real token**. It must work when the batch is padded on
# the right (`[1, 1, 1, 0]`), on the left (`[0, 1, 1, 1]`, common for generation) or not at all.
# No Python loop over the batch.

# %% nbgrader={"solution": true, "grade_id": "ex2_last_token"}
def last_token_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    last = torch.where(mask.bool(), positions, torch.full_like(positions, -1)).max(1).values.clamp_min(0)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex2_last_token_tests", "points": 3, "locked": true}
h = torch.arange(30, dtype=torch.float32).reshape(2, 5, 3)
right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
out = last_token_pool(h, right)
assert out.shape == (2, 3), out.shape
assert torch.equal(out, torch.stack([h[0, 2], h[1, 4]])), out
print("visible tests passed (right padding; test left padding yourself too)")
### BEGIN HIDDEN TESTS
left = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 0, 0, 1]])
assert torch.equal(last_token_pool(h, left), torch.stack([h[0, 4], h[1, 4]]))
g = torch.Generator().manual_seed(2)
hh = torch.randn(4, 6, 3, generator=g)
mixed = torch.tensor([[1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1]])
assert torch.equal(last_token_pool(hh, mixed), torch.stack([hh[0, 1], hh[1, 5], hh[2, 5], hh[3, 5]]))
assert torch.equal(last_token_pool(hh, mixed.bool()), last_token_pool(hh, mixed))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3 (4 points): a classification head
#
# BERT's sequence-classification head reads the first token's (`[CLS]`) hidden state and applies
# a dense layer with `tanh` (the "pooler"), dropout, then a linear layer to the labels.
# Complete `ClassificationHead`:
#
# * `self.dense`: `nn.Linear(hidden_size, hidden_size)`; `self.dropout`: `nn.Dropout(dropout)`;
#   `self.out`: `nn.Linear(hidden_size, num_labels)` (use exactly these names);
# * `forward(hidden)` with `hidden` of shape `[batch, tokens, hidden_size]` returns logits
#   `[batch, num_labels]` = `out(dropout(tanh(dense(hidden[:, 0]))))`.

# %% nbgrader={"solution": true, "grade_id": "ex3_head"}
class ClassificationHead(nn.Module):
    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        ### BEGIN SOLUTION
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)
        ### END SOLUTION

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        return self.out(self.dropout(torch.tanh(self.dense(hidden[:, 0]))))
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex3_head_tests", "points": 4, "locked": true}
torch.manual_seed(0)
head = ClassificationHead(8, 3).eval()
x = torch.randn(5, 4, 8)
logits = head(x)
assert logits.shape == (5, 3), logits.shape
assert sum(p.numel() for p in head.parameters()) == 8 * 8 + 8 + 8 * 3 + 3
assert torch.equal(head(x), logits), "in eval mode the head is deterministic"
print("visible tests passed")
### BEGIN HIDDEN TESTS
with torch.no_grad():
    manual = head.out(torch.tanh(head.dense(x[:, 0])))
assert rel_error(logits, manual) < 1e-5
x2 = x.clone()
x2[:, 1:] = torch.randn(5, 3, 8)
assert torch.allclose(head(x2), logits), "only the first token is read"
train_head = ClassificationHead(16, 2, dropout=0.5).train()
xx = torch.randn(64, 2, 16)
assert not torch.equal(train_head(xx), train_head(xx)), "dropout is active in train mode"
assert isinstance(train_head.dropout, nn.Dropout) and train_head.dropout.p == 0.5
### END HIDDEN TESTS
