# %% [markdown]
# # 04 ULMFiT: exercises
#
# Three graded exercises on ULMFiT's fine-tuning techniques (Howard & Ruder, 2018). Each is
# independent: write the function in its solution cell, then run the test cell below it.
# The visible tests are self-checks on small inputs; more tests run when your work is graded.
#
# 1. **Slanted triangular learning rates** (2 points): $\eta_t$ exactly as in the paper.
# 2. **Discriminative parameter groups** (2 points): one optimizer group per layer, rates
#    divided by 2.6 from one layer to the one below.
# 3. **One gradual-unfreezing step** (2 points): unfreeze the topmost frozen layer group.
# 4. **A fine-tuning run with STLR and discriminative rates** (4 points): build the optimizer
#    and scheduler yourself and train a small network; graded on held-out accuracy and on the
#    rates it used.
# 5. **Reading the sweep** (2 points): which technique matters most at a high rate.

# %%
import math

import torch
from torch import nn

from course_lib.vit import cached_features

torch.manual_seed(0)
torch.set_num_threads(1)  # small tensors: one thread is fastest, and graders run notebooks side by side


def make_stack(n_layers: int = 4, width: int = 3) -> nn.ModuleList:
    """A toy network: ``n_layers`` small linear layers, bottom layer first."""
    torch.manual_seed(0)
    return nn.ModuleList(nn.Linear(width, width) for _ in range(n_layers))


# standardised DINOv2 CLS features of 1,000 Animal-MNIST training images (10 classes)
X_TRAIN, Y_TRAIN = cached_features("train")


def make_mlp(seed: int = 0) -> nn.Sequential:
    """A small classifier on the 384-d features: three linear layers (the layer groups) with ReLUs."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(384, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))


def mlp_layers(model: nn.Sequential) -> list[nn.Module]:
    """The layer groups of ``make_mlp``'s network, bottom first."""
    return [model[0], model[2], model[4]]


# %% [markdown]
# ## Exercise 1: the slanted triangular learning rate
#
# ULMFiT's equation (3), for iteration $t$ of $T$:
#
# $$\mathit{cut} = \lfloor T \cdot \mathit{cut\_frac} \rfloor, \qquad
# p = \begin{cases} t / \mathit{cut} & \text{if } t < \mathit{cut} \\
# 1 - \dfrac{t - \mathit{cut}}{\mathit{cut} \cdot (1/\mathit{cut\_frac} - 1)} & \text{otherwise} \end{cases}, \qquad
# \eta_t = \eta_{max} \cdot \frac{1 + p \cdot (\mathit{ratio} - 1)}{\mathit{ratio}}$$
#
# Write `stlr(t, T, cut_frac, ratio, lr_max)` returning $\eta_t$ as a Python float.

# %% nbgrader={"solution": true, "grade_id": "stlr"}
def stlr(t, T, cut_frac=0.1, ratio=32, lr_max=0.01):
    ### BEGIN SOLUTION
    cut = math.floor(T * cut_frac)
    if t < cut:
        p = t / cut
    else:
        p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    return lr_max * (1 + p * (ratio - 1)) / ratio
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "stlr_tests", "points": 2, "locked": true}
assert math.isclose(stlr(0, 100), 0.01 / 32), "at t=0 the rate is lr_max / ratio"
assert math.isclose(stlr(10, 100), 0.01), "at t=cut the rate peaks at lr_max"
assert math.isclose(stlr(5, 100), 0.01 * (1 + 0.5 * 31) / 32), "halfway up the warm-up"
assert math.isclose(stlr(55, 100), 0.01 * (1 + 0.5 * 31) / 32), "halfway down the decay"
print("stlr: visible tests passed")
### BEGIN HIDDEN TESTS
assert math.isclose(stlr(100, 100, 0.2, 10, 1.0), 0.1)
# T * cut_frac not an integer: the cut is floored and the decay length is cut * (1/cut_frac - 1)
assert math.isclose(stlr(10, 105), 0.01)
assert math.isclose(stlr(100, 105), 0.01 * (1 + (1 - 90 / 90) * 31) / 32)
assert math.isclose(stlr(57, 105), 0.01 * (1 + (1 - 47 / 90) * 31) / 32)
assert math.isclose(stlr(3, 50, 0.3, 4, 2.0), 2.0 * (1 + (3 / 15) * 3) / 4)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: discriminative parameter groups
#
# ULMFiT tunes each layer $l$ with its own rate: $\eta^{l-1} = \eta^{l} / 2.6$. Write
# `discriminative_groups(layers, lr_top, factor=2.6)` that returns one optimizer parameter
# group per layer, `{"params": [...], "lr": rate}`, in the order of `layers` (bottom layer
# first). The **top** layer gets `lr_top`; each layer below gets the rate of the layer above
# divided by `factor`. Include every parameter of each layer.

# %% nbgrader={"solution": true, "grade_id": "discriminative"}
def discriminative_groups(layers, lr_top, factor=2.6):
    ### BEGIN SOLUTION
    n = len(layers)
    return [{"params": list(layer.parameters()), "lr": lr_top / factor ** (n - 1 - i)} for i, layer in enumerate(layers)]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "discriminative_tests", "points": 2, "locked": true}
_layers = make_stack(4)
_groups = discriminative_groups(_layers, 1e-2)
assert len(_groups) == 4, "one group per layer"
assert all(len(g["params"]) == 2 for g in _groups), "each linear layer has a weight and a bias"
_rates = [g["lr"] for g in _groups]
for _i in range(len(_rates) - 1):
    assert math.isclose(_rates[_i + 1] / _rates[_i], 2.6), "each layer's rate is 2.6 times the rate of the layer below"
torch.optim.AdamW(_groups)  # the groups must be usable by an optimizer
print("discriminative_groups: visible tests passed")
### BEGIN HIDDEN TESTS
assert math.isclose(_rates[-1], 1e-2), "the top layer gets lr_top"
assert math.isclose(_rates[0], 1e-2 / 2.6**3)
_g2 = discriminative_groups(make_stack(3), 0.5, factor=2.0)
assert [round(g["lr"], 6) for g in _g2] == [0.125, 0.25, 0.5]
_stack = make_stack(2)
_g3 = discriminative_groups(_stack, 1.0)
assert _g3[0]["params"][0] is _stack[0].weight and _g3[1]["params"][0] is _stack[1].weight
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: one gradual-unfreezing step
#
# ULMFiT starts with only the last layer trainable and, at each step, unfreezes the next
# layer *down*. Write `unfreeze_next(layers)`: find the topmost layer (largest index) whose
# parameters are not all trainable, set `requires_grad = True` on **all** its parameters, and
# return its index; return `None` when every layer is already trainable. Layers above it stay
# as they are; layers below stay frozen.

# %% nbgrader={"solution": true, "grade_id": "unfreeze"}
def unfreeze_next(layers):
    ### BEGIN SOLUTION
    for i in range(len(layers) - 1, -1, -1):
        if not all(p.requires_grad for p in layers[i].parameters()):
            for p in layers[i].parameters():
                p.requires_grad_(True)
            return i
    return None
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "unfreeze_tests", "points": 2, "locked": true}
def _frozen_stack(n, trainable_top=1):
    stack = make_stack(n)
    for i, layer in enumerate(stack):
        layer.requires_grad_(i >= n - trainable_top)
    return stack


def _state(stack):
    return [all(p.requires_grad for p in layer.parameters()) for layer in stack]


_s = _frozen_stack(4)
assert unfreeze_next(_s) == 2, "the topmost frozen layer is layer 2"
assert _state(_s) == [False, False, True, True]
assert unfreeze_next(_s) == 1
assert _state(_s) == [False, True, True, True]
print("unfreeze_next: visible tests passed")
### BEGIN HIDDEN TESTS
_s = _frozen_stack(3, trainable_top=3)
assert unfreeze_next(_s) is None and _state(_s) == [True, True, True]
_s = _frozen_stack(3, trainable_top=0)
assert unfreeze_next(_s) == 2 and _state(_s) == [False, False, True]
_s = _frozen_stack(3, trainable_top=1)
_s[1].bias.requires_grad_(True)  # a half-frozen layer still counts as frozen
assert unfreeze_next(_s) == 1 and _state(_s) == [False, True, True]
assert unfreeze_next(_s) == 0 and unfreeze_next(_s) is None
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: a fine-tuning run with STLR and discriminative rates
#
# Now put the pieces together and train. `X_TRAIN` (1,000 x 384, standardised) holds frozen
# DINOv2 features of Animal-MNIST images, `Y_TRAIN` their 10 classes; `make_mlp()` builds a
# small network and `mlp_layers(model)` lists its three layer groups, bottom first.
#
# Write `finetune_stlr(model, layers, X, y, epochs, batch_size, lr_top, factor, cut_frac,
# ratio, seed)`, on its own (do not call the functions of the exercises above):
#
# 1. one `torch.optim.AdamW` (its defaults otherwise) with **one parameter group per layer**
#    of `layers`: the top layer gets `lr_top`, each layer below the rate of the layer above
#    divided by `factor`;
# 2. a `torch.optim.lr_scheduler.LambdaLR` whose multiplier at step $t$ is STLR's
#    $\eta_t / \eta_{max}$ (equation (3), `cut_frac`, `ratio`), over
#    $T$ = `epochs` x `ceil(len(X) / batch_size)` steps;
# 3. train: each epoch, shuffle the rows (`torch.randperm` with a generator seeded with
#    `seed`), and for each mini-batch compute the cross-entropy, clear the gradients, backward,
#    **record the rates** `[group["lr"] for group in optimizer.param_groups]`, then step the
#    optimizer, then the scheduler (once per mini-batch).
#
# Return the recorded rates: a list of $T$ lists (one rate per layer, bottom first). The
# grader trains a fresh network with your function and checks its accuracy on test images you
# never see, and that the rates at every step follow STLR and the discriminative factor.

# %% nbgrader={"solution": true, "grade_id": "stlr_run"}
def finetune_stlr(model, layers, X, y, epochs=4, batch_size=32, lr_top=1e-2, factor=2.6, cut_frac=0.1, ratio=32, seed=0):
    ### BEGIN SOLUTION
    n = len(layers)
    groups = [{"params": list(layer.parameters()), "lr": lr_top / factor ** (n - 1 - i)} for i, layer in enumerate(layers)]
    optimizer = torch.optim.AdamW(groups)
    T = epochs * math.ceil(len(X) / batch_size)
    cut = math.floor(T * cut_frac)

    def multiplier(t):
        p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
        return (1 + p * (ratio - 1)) / ratio

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
    gen = torch.Generator().manual_seed(seed)
    rates = []
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=gen)
        for start in range(0, len(X), batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            rates.append([group["lr"] for group in optimizer.param_groups])
            optimizer.step()
            scheduler.step()
    return rates
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "stlr_run_tests", "points": 4, "locked": true}
_model = make_mlp(seed=0)
_start = [p.detach().clone() for p in _model.parameters()]
_rates = finetune_stlr(_model, mlp_layers(_model), X_TRAIN, Y_TRAIN, epochs=4, batch_size=32, lr_top=1e-2)
assert len(_rates) == 4 * 32, "one entry per optimizer step: T = 4 epochs x 32 mini-batches"
assert all(len(r) == 3 for r in _rates), "one rate per layer group"
assert math.isclose(max(r[-1] for r in _rates), 1e-2, rel_tol=1e-6), "the top layer's rate peaks at lr_top"
assert all(math.isclose(r[i + 1] / r[i], 2.6, rel_tol=1e-6) for r in _rates for i in range(2)), "rates divided by 2.6 downward"
with torch.no_grad():
    _train_acc = (_model(X_TRAIN).argmax(1) == Y_TRAIN).float().mean().item()
print(f"training accuracy: {_train_acc:.0%}")
print("finetune_stlr: visible tests passed")
### BEGIN HIDDEN TESTS


def _stlr_ref(t, T, cut_frac=0.1, ratio=32):
    cut = math.floor(T * cut_frac)
    p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    return (1 + p * (ratio - 1)) / ratio


for _t, _r in enumerate(_rates):
    for _i, _lr in enumerate(_r):
        assert math.isclose(_lr, 1e-2 / 2.6 ** (2 - _i) * _stlr_ref(_t, 128), rel_tol=1e-6), f"step {_t}, layer {_i}: {_lr}"
assert all(not torch.equal(a, b) for a, b in zip(_start, _model.parameters())), "every layer should train"
_X_test, _y_test = cached_features("test")
with torch.set_grad_enabled(False):
    _test_acc = (_model(_X_test).argmax(1) == _y_test).float().mean().item()
assert _test_acc >= 0.80, f"held-out accuracy {_test_acc:.3f} (the reference reaches about 0.85)"
_m2 = make_mlp(seed=1)
_r2 = finetune_stlr(_m2, mlp_layers(_m2), X_TRAIN[:500], Y_TRAIN[:500], epochs=2, batch_size=100, lr_top=5e-3, factor=2.0,
                    cut_frac=0.3, ratio=4, seed=1)
assert len(_r2) == 10
for _t, _r in enumerate(_r2):
    for _i, _lr in enumerate(_r):
        assert math.isclose(_lr, 5e-3 / 2.0 ** (2 - _i) * _stlr_ref(_t, 10, 0.3, 4), rel_tol=1e-6), f"step {_t}, layer {_i}"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: reading the sweep
#
# Lesson 04 committed a sweep (`data/ulmfit/minilm_sweep.json`, shown in the lesson): MiniLM
# fine-tuned on 500 sentences with the full ULMFiT recipe and with each of its three
# techniques removed in turn, at four learning rates, three seeds each. Answer from the sweep
# (or predict from what each technique does, then check):
#
# - `"removal_that_hurts_most_at_1e-3"`: at lr = 1e-3, removing which technique lowers the
#   mean accuracy the most? One of `"discriminative"`, `"stlr"`, `"unfreezing"`.
# - `"constant_rate_at_3e-3"`: at lr = 3e-3, what does a constant rate on all layers (none
#   of the techniques) give? One of `"better than ULMFiT"`, `"close to ULMFiT"`, `"chance"`.
#
# Set `sweep_answers` to a dict with these two keys.

# %% nbgrader={"solution": true, "grade_id": "sweep_reading"}
### BEGIN SOLUTION
sweep_answers = {"removal_that_hurts_most_at_1e-3": "discriminative", "constant_rate_at_3e-3": "chance"}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "sweep_reading_tests", "points": 2, "locked": true}
assert isinstance(sweep_answers, dict)
assert sweep_answers.get("removal_that_hurts_most_at_1e-3") in ("discriminative", "stlr", "unfreezing")
assert sweep_answers.get("constant_rate_at_3e-3") in ("better than ULMFiT", "close to ULMFiT", "chance")
print("sweep answers: well formed (graded by hidden tests)")
### BEGIN HIDDEN TESTS
import json  # noqa: E402

from course_lib import assets  # noqa: E402

_rows = json.loads(assets.path("lesson04-minilm-sweep").read_text())["rows"]


def _mean(key, lr):
    accs = [r["accuracy"] for r in _rows if r["key"] == key and math.isclose(r["lr"], lr)]
    assert len(accs) == 3, (key, lr)
    return sum(accs) / len(accs)


_drops = {name: _mean("ulmfit", 1e-3) - _mean(f"no_{name}", 1e-3) for name in ("discriminative", "stlr", "unfreezing")}
_worst = max(_drops, key=_drops.get)
assert _drops[_worst] > 0.1 and all(_drops[_worst] > v + 0.1 for k, v in _drops.items() if k != _worst)
assert sweep_answers["removal_that_hurts_most_at_1e-3"] == _worst
assert _mean("constant", 3e-3) < 0.55 < _mean("ulmfit", 3e-3) - 0.1
assert sweep_answers["constant_rate_at_3e-3"] == "chance"
### END HIDDEN TESTS

# %% [markdown]
# ## Where these are used
#
# `course_lib.schedules` holds the course's versions (`stlr`, `discriminative_param_groups`,
# `unfreeze_next`, `GradualUnfreezer`), which the lesson notebook uses to fine-tune MiniLM and
# the course's language model.
