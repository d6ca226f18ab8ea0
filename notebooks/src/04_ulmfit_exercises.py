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

# %%
import math

import torch
from torch import nn

torch.manual_seed(0)


def make_stack(n_layers: int = 4, width: int = 3) -> nn.ModuleList:
    """A toy network: ``n_layers`` small linear layers, bottom layer first."""
    torch.manual_seed(0)
    return nn.ModuleList(nn.Linear(width, width) for _ in range(n_layers))


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
# ## Where these are used
#
# `course_lib.schedules` holds the course's versions (`stlr`, `discriminative_param_groups`,
# `unfreeze_next`, `GradualUnfreezer`), which the lesson notebook uses to fine-tune MiniLM and
# the course's language model.
