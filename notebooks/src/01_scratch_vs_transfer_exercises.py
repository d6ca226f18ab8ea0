# %% [markdown]
# # 01 Exercises: heads, freezing, parameter groups, counting
#
# Four graded exercises on the real EfficientNet-Lite0 (it loads in about a second) and on
# tiny networks; nothing is trained, so the whole notebook runs in seconds. Each exercise is
# independent: fill in the solution cell, then run its test cell. The visible tests are
# self-checks; more tests run when your work is graded.
#
# Reminders from the lesson: EfficientNet-Lite0's ImageNet classifier is the linear layer
# `model._fc` (1,280 -> 1,000); every parameter whose name starts with `_fc` belongs to it, every
# other parameter is the backbone. A parameter is frozen when `p.requires_grad` is `False`.

# %%
import copy

import torch
from torch import nn

from course_lib import models

_IMAGENET = models.load_efficientnet_lite0(pretrained=True)


def fresh_efficientnet():
    """A fresh copy of the ImageNet EfficientNet-Lite0 (1,000 classes, everything trainable)."""
    return copy.deepcopy(_IMAGENET)


class TinyNet(nn.Module):
    """A toy network with EfficientNet's naming: a backbone and a classifier called `_fc`."""

    def __init__(self, width=8, num_classes=3):
        super().__init__()
        self._conv_stem = nn.Conv2d(1, width, 3)
        self._bn0 = nn.BatchNorm2d(width)
        self._pool = nn.AdaptiveAvgPool2d(1)
        self._fc = nn.Linear(width, num_classes)

    def forward(self, x):
        return self._fc(self._pool(torch.relu(self._bn0(self._conv_stem(x)))).flatten(1))


print("EfficientNet-Lite0 loaded:", sum(p.numel() for p in _IMAGENET.parameters()), "parameters")

# %% [markdown]
# ## Exercise 1: replace the classification head (2 points)
#
# Write `replace_head(model, num_classes)`: put a **new** `nn.Linear` in `model._fc` that maps
# the same input features as the old one to `num_classes` outputs, and return the new layer.
# Do not assume the number of input features: read it from the old layer.

# %% nbgrader={"solution": true, "grade_id": "ex1_replace_head"}
def replace_head(model, num_classes):
    ### BEGIN SOLUTION
    new = nn.Linear(model._fc.in_features, num_classes)
    model._fc = new
    return new
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_replace_head_tests", "points": 2, "locked": true}
net = fresh_efficientnet()
old = net._fc
head = replace_head(net, 10)
assert head is net._fc and head is not old, "return the new layer, and put it in model._fc"
assert isinstance(head, nn.Linear) and head.out_features == 10
with torch.no_grad():
    assert net.eval()(torch.zeros(2, 3, 64, 64)).shape == (2, 10)
print("visible tests passed")
### BEGIN HIDDEN TESTS
tiny = TinyNet(width=6, num_classes=3)
h = replace_head(tiny, 5)
assert h.in_features == 6 and h.out_features == 5, "read in_features from the old layer"
assert tiny(torch.zeros(1, 1, 8, 8)).shape == (1, 5)
assert all(p.requires_grad for p in h.parameters())
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: freeze all but the head (2 points)
#
# Write `freeze_all_but_head(model)`: afterwards **exactly** the parameters of `model._fc` are
# trainable, whatever was frozen or unfrozen before. Return the number of trainable parameters
# (elements, not tensors).

# %% nbgrader={"solution": true, "grade_id": "ex2_freeze"}
def freeze_all_but_head(model):
    ### BEGIN SOLUTION
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("_fc."))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex2_freeze_tests", "points": 2, "locked": true}
net = fresh_efficientnet()
n = freeze_all_but_head(net)
assert n == 1280 * 1000 + 1000, n
assert all(p.requires_grad == name.startswith("_fc.") for name, p in net.named_parameters())
print("visible tests passed")
### BEGIN HIDDEN TESTS
tiny = TinyNet(width=4, num_classes=2)
for p in tiny.parameters():
    p.requires_grad_(False)  # everything frozen before the call
assert freeze_all_but_head(tiny) == 4 * 2 + 2, "the head must end up trainable"
assert tiny._fc.weight.requires_grad and not tiny._conv_stem.weight.requires_grad
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: discriminative parameter groups (3 points)
#
# Write `discriminative_groups(model, head_lr, backbone_lr)` returning a list of optimizer
# parameter groups (dicts with `"params"` and `"lr"`): the head's (`_fc`) parameters at
# `head_lr` first, then all backbone parameters at `backbone_lr`. Include **trainable parameters
# only**, and leave out a group that would be empty. The result must work as
# `torch.optim.AdamW(groups)`.

# %% nbgrader={"solution": true, "grade_id": "ex3_groups"}
def discriminative_groups(model, head_lr, backbone_lr):
    ### BEGIN SOLUTION
    head, backbone = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (head if name.startswith("_fc.") else backbone).append(p)
    groups = [{"params": head, "lr": head_lr}, {"params": backbone, "lr": backbone_lr}]
    return [g for g in groups if g["params"]]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex3_groups_tests", "points": 3, "locked": true}
net = fresh_efficientnet()
groups = discriminative_groups(net, 1e-3, 1e-5)
assert len(groups) == 2 and [g["lr"] for g in groups] == [1e-3, 1e-5]
assert sum(p.numel() for p in groups[0]["params"]) == 1280 * 1000 + 1000
assert sum(p.numel() for g in groups for p in g["params"]) == sum(p.numel() for p in net.parameters())
opt = torch.optim.AdamW(groups)
assert [g["lr"] for g in opt.param_groups] == [1e-3, 1e-5]
print("visible tests passed")
### BEGIN HIDDEN TESTS
tiny = TinyNet()
for name, p in tiny.named_parameters():
    p.requires_grad_(name.startswith("_fc."))
g2 = discriminative_groups(tiny, 0.1, 0.01)
assert len(g2) == 1 and g2[0]["lr"] == 0.1, "frozen parameters and empty groups are left out"
assert all(p.requires_grad for g in g2 for p in g["params"])
tiny2 = TinyNet()
tiny2._fc.weight.requires_grad_(False)
tiny2._fc.bias.requires_grad_(False)
g3 = discriminative_groups(tiny2, 0.1, 0.01)
assert len(g3) == 1 and g3[0]["lr"] == 0.01
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: count trainable parameters (1 point)
#
# Write `count_trainable(model)` returning `(trainable, total, percent)`: the number of trainable
# parameter elements, the number of all parameter elements, and `100 * trainable / total`.

# %% nbgrader={"solution": true, "grade_id": "ex4_count"}
def count_trainable(model):
    ### BEGIN SOLUTION
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total, 100.0 * trainable / total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex4_count_tests", "points": 1, "locked": true}
assert count_trainable(nn.Linear(3, 2)) == (8, 8, 100.0)
net = fresh_efficientnet()
t, total, pct = count_trainable(net)
assert t == total == 4_652_008 and abs(pct - 100.0) < 1e-9
print("visible tests passed")
### BEGIN HIDDEN TESTS
tiny = TinyNet(width=8, num_classes=3)
tiny._conv_stem.weight.requires_grad_(False)
t, total, pct = count_trainable(tiny)
assert total == 8 * 9 + 8 + 16 + 8 * 3 + 3, total
assert t == total - 72 and abs(pct - 100 * t / total) < 1e-9
### END HIDDEN TESTS
