# %% [markdown]
# # 00 Warm-up exercises
#
# Two short exercises to try the grading before the lessons. Complete each function where the
# notebook says so, then run the test cell below it. The visible tests check the basics; your
# instructor's grading runs more tests, so make the function right, not only the checks green.

# %%
import numpy as np
import torch

from course_lib import seed_everything

seed_everything(0)

# %% [markdown]
# ## Exercise 1: softmax with a temperature (2 points)
#
# Return the softmax of `logits / temperature` along the last axis, as a float tensor. It
# must be numerically stable for large logits (subtract the maximum first, or use
# `torch.softmax`), and work on a batch (any number of leading dimensions).

# %% nbgrader={"solution": true, "grade_id": "softmax_t"}
def softmax_t(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    ### BEGIN SOLUTION
    z = logits.float() / temperature
    z = z - z.max(dim=-1, keepdim=True).values
    e = z.exp()
    return e / e.sum(dim=-1, keepdim=True)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "softmax_t_tests", "points": 2, "locked": true}
p = softmax_t(torch.tensor([1.0, 2.0, 3.0]))
assert torch.allclose(p, torch.tensor([0.0900, 0.2447, 0.6652]), atol=1e-3), p
assert torch.allclose(softmax_t(torch.tensor([[0.0, 0.0]])), torch.tensor([[0.5, 0.5]]))
### BEGIN HIDDEN TESTS
big = softmax_t(torch.tensor([1000.0, 1000.0, 0.0]))
assert torch.isfinite(big).all() and torch.allclose(big[:2], torch.tensor([0.5, 0.5]), atol=1e-6)
x = torch.randn(4, 3, 7, generator=torch.Generator().manual_seed(1))
for t in (0.5, 2.0, 10.0):
    assert torch.allclose(softmax_t(x, t), torch.softmax(x / t, dim=-1), atol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: the top-k classes (2 points)
#
# Given a 1-D tensor of probabilities and a list of class names, return the `k` most probable
# classes as a list of `(name, probability)` pairs, most probable first.

# %% nbgrader={"solution": true, "grade_id": "top_k"}
def top_k(probs: torch.Tensor, names: list[str], k: int = 5) -> list[tuple[str, float]]:
    ### BEGIN SOLUTION
    values, indices = torch.as_tensor(probs).topk(min(k, len(names)))
    return [(names[int(i)], float(v)) for v, i in zip(values, indices)]
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "top_k_tests", "points": 2, "locked": true}
names = ["cat", "dog", "cow"]
best = top_k(torch.tensor([0.2, 0.7, 0.1]), names, k=1)
assert len(best) == 1 and best[0][0] == "dog" and abs(best[0][1] - 0.7) < 1e-6, best
assert [n for n, _ in top_k(torch.tensor([0.2, 0.7, 0.1]), names, k=2)] == ["dog", "cat"]
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(3)
p = torch.tensor(rng.dirichlet(np.ones(50)), dtype=torch.float32)
labels = [f"c{i}" for i in range(50)]
got = top_k(p, labels, k=5)
order = np.argsort(-p.numpy())[:5]
assert [n for n, _ in got] == [labels[i] for i in order]
assert all(abs(v - float(p[i])) < 1e-6 for (_, v), i in zip(got, order))
assert len(top_k(p, labels, k=3)) == 3
### END HIDDEN TESTS
