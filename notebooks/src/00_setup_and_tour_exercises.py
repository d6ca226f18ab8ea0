# %% [markdown]
# # 00 Warm-up exercises
#
# Four short exercises to try the grading before the lessons: two small functions, one
# training loop that you write and run (graded on what the trained model does on images it
# never saw), and one question to answer. Complete each solution cell where the notebook says
# so, then run the test cell below it. The visible tests check the basics; your instructor's
# grading runs more tests, so make the function right, not only the checks green.

# %%
import numpy as np
import torch

from torch import nn

from course_lib import seed_everything
from course_lib.vit import cached_features

seed_everything(0)
torch.set_num_threads(1)  # small tensors: one thread is fastest, and graders run notebooks side by side


# DINOv2 CLS features of the Animal-MNIST training subset: 1,000 images, 10 classes
X_TRAIN, Y_TRAIN = cached_features("train", standardize=False)


def make_model(seed: int = 0) -> nn.Sequential:
    """A frozen first layer (it standardises the features, as a pretrained backbone's last
    layer would stay fixed) and a fresh linear head for the 10 classes."""
    torch.manual_seed(seed)
    frozen = nn.Linear(384, 384)
    mean, std = X_TRAIN.mean(0), X_TRAIN.std(0)
    with torch.no_grad():
        frozen.weight.copy_(torch.diag(1 / std))
        frozen.bias.copy_(-mean / std)
    frozen.requires_grad_(False)
    return nn.Sequential(frozen, nn.Linear(384, 10))

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

# %% [markdown]
# ## Exercise 3: a training loop (4 points)
#
# A pretrained backbone (DINOv2, lesson 07) has already turned 1,000 Animal-MNIST images into
# 384-dimensional feature vectors: `X_TRAIN` (1,000 x 384) with labels `Y_TRAIN` (10 classes).
# `make_model()` returns `nn.Sequential(frozen, head)`: the first layer is frozen (its
# parameters do not require gradients), the head is a fresh `nn.Linear(384, 10)`.
#
# Write `train_head(model, X, y, epochs, lr, batch_size, seed)`, the plain training loop every
# lesson uses, and return the mean training loss of each epoch (a list of `epochs` floats):
#
# - one optimizer, `torch.optim.SGD` (no momentum, no weight decay) with rate `lr`, over the
#   parameters of `model` that require gradients;
# - each epoch, shuffle the rows (`torch.randperm` with a `torch.Generator` seeded with `seed`)
#   and walk through them in mini-batches of `batch_size`;
# - for each mini-batch: forward pass, cross-entropy loss (`nn.functional.cross_entropy`, its
#   default mean over the batch), clear the old gradients, backward pass, optimizer step.
#
# The grader checks what your loop does, not how it looks: the accuracy of the trained model
# on Animal-MNIST test images you never see, that the frozen layer did not change, and that
# each step is one plain gradient step.

# %% nbgrader={"solution": true, "grade_id": "train_loop"}
def train_head(model: nn.Module, X: torch.Tensor, y: torch.Tensor, epochs: int = 10, lr: float = 0.1,
               batch_size: int = 50, seed: int = 0) -> list[float]:
    ### BEGIN SOLUTION
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=gen)
        total = 0.0
        for start in range(0, len(X), batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        losses.append(total / len(X))
    return losses
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "train_loop_tests", "points": 4, "locked": true}
model = make_model()
frozen_weight, frozen_bias = model[0].weight.clone(), model[0].bias.clone()
losses = train_head(model, X_TRAIN, Y_TRAIN, epochs=10, lr=0.1, batch_size=50)
assert len(losses) == 10 and all(isinstance(v, float) for v in losses), "one float per epoch"
assert losses[-1] < losses[0], "the training loss should fall"
with torch.no_grad():
    train_acc = (model(X_TRAIN).argmax(1) == Y_TRAIN).float().mean().item()
print(f"training accuracy after 10 epochs: {train_acc:.0%}")
print("visible tests passed")
### BEGIN HIDDEN TESTS
import copy  # noqa: E402

_X_test, _y_test = cached_features("test", standardize=False)
with torch.set_grad_enabled(False):
    _test_acc = (model(_X_test).argmax(1) == _y_test).float().mean().item()
assert _test_acc >= 0.85, f"held-out accuracy {_test_acc:.3f} (the reference reaches about 0.88)"
assert torch.equal(model[0].weight, frozen_weight) and torch.equal(model[0].bias, frozen_bias), "the frozen layer changed"
assert not model[0].weight.requires_grad and not model[0].bias.requires_grad
# one mini-batch per epoch: three epochs must be exactly three plain gradient steps
_m = make_model(seed=1)
_ref = copy.deepcopy(_m)
_Xs, _ys = X_TRAIN[:200], Y_TRAIN[:200]
train_head(_m, _Xs, _ys, epochs=3, lr=0.05, batch_size=200, seed=3)
for _ in range(3):
    _ref.zero_grad()
    nn.functional.cross_entropy(_ref(_Xs), _ys).backward()
    with torch.set_grad_enabled(False):
        for _p in _ref[1].parameters():
            _p -= 0.05 * _p.grad
for _a, _b in zip(_m[1].parameters(), _ref[1].parameters()):
    assert torch.allclose(_a, _b, atol=1e-5), "each step must be one plain SGD step on that batch's gradient"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: what does the temperature do? (2 points)
#
# The tour's top-5 explorer divides the model's logits by a temperature $T$ before the
# softmax. For a temperature $T > 1$ (compared with $T = 1$), which is true? Set `answer` to
# one letter.
#
# - `"A"`: it can change which class is the most probable.
# - `"B"`: it keeps the order of the classes and moves the probabilities toward uniform (the
#   most probable class loses probability).
# - `"C"`: it keeps the order of the classes and makes the most probable class more probable.
# - `"D"`: it makes every probability exactly equal.

# %% nbgrader={"solution": true, "grade_id": "temperature"}
### BEGIN SOLUTION
answer = "B"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "temperature_tests", "points": 2, "locked": true}
assert answer in ("A", "B", "C", "D"), "answer must be one of the letters A, B, C, D"
print("visible tests passed (the answer itself is graded by hidden tests)")
### BEGIN HIDDEN TESTS
_z = torch.randn(50, 10, generator=torch.Generator().manual_seed(5)) * 3
_p1, _p3 = torch.softmax(_z, -1), torch.softmax(_z / 3.0, -1)
assert torch.equal(_p1.argsort(-1), _p3.argsort(-1)) and (_p3.max(-1).values < _p1.max(-1).values).all()
assert (_p3.max(-1).values > _p3.min(-1).values).all()
assert answer == "B"
### END HIDDEN TESTS
