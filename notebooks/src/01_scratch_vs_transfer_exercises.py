# %% [markdown]
# # 01 Exercises: heads, freezing, parameter groups, counting, fine-tuning, reading the curve
#
# Six graded exercises on the real EfficientNet-Lite0 and on tiny networks. Exercises 1 to 4
# train nothing; exercise 5 fine-tunes the top of the pretrained network on a few Animal-MNIST
# images; exercise 6 asks you to read the lesson's curve. Each exercise is independent: fill in
# the solution cell, then run its test cell. The visible tests are self-checks; more tests run
# when your work is graded.
#
# Reminders from the lesson: EfficientNet-Lite0's ImageNet classifier is the linear layer
# `model._fc` (1,280 -> 1,000); every parameter whose name starts with `_fc` belongs to it, every
# other parameter is the backbone. A parameter is frozen when `p.requires_grad` is `False`.

# %%
import copy
import math

import torch
from torch import nn

from course_lib import data, models, vision

torch.set_num_threads(1)  # small batches: one thread is fastest, and graders run notebooks side by side
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


def animal_net():
    """A fresh ImageNet EfficientNet-Lite0 whose classifier ``_fc`` is a new 1,280 -> 10 layer (seeded)."""
    return models.load_efficientnet_lite0(pretrained=True, num_classes=10, seed=0)


# 10 Animal-MNIST training images per class, as EfficientNet inputs of 64 x 64 pixels
_animals = data.animal_train_subset(10)
X_TRAIN = vision.efficientnet_inputs(_animals.images, 64)
Y_TRAIN = torch.as_tensor(_animals.labels)

print("EfficientNet-Lite0 loaded:", sum(p.numel() for p in _IMAGENET.parameters()), "parameters")
print("training images for exercise 5:", tuple(X_TRAIN.shape), "| per class:", torch.bincount(Y_TRAIN).tolist())

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

# %% [markdown]
# ## Exercise 5: fine-tune the top of a pretrained network (4 points)
#
# Now train. `animal_net()` returns a fresh ImageNet EfficientNet-Lite0 whose classifier `_fc`
# is already a new 1,280 -> 10 layer; `X_TRAIN` holds 100 Animal-MNIST training images (10 per
# class, ready for the network, printed by the setup cell) and `Y_TRAIN` their labels.
#
# Write `finetune_top(model, x, y, epochs, batch_size, lr, seed)`, a plain PyTorch training
# loop that fine-tunes the **top** of the network and nothing else:
#
# 1. freeze every parameter except those of the last block (the 1x1 convolution `_conv_head`
#    and its batch norm `_bn1`) and of the classifier `_fc`; those three are trainable;
# 2. one `torch.optim.Adam` at `lr` over the trainable parameters only;
# 3. keep the model in **eval mode** the whole time (`model.eval()`): batch norm then uses and
#    keeps its ImageNet running statistics (the lesson's batch-norm trap, section 6) and
#    dropout is off; gradients flow in eval mode all the same;
# 4. make one `torch.Generator` seeded with `seed`; each epoch, shuffle the rows with
#    `torch.randperm(len(x), generator=...)` and walk through them in mini-batches of
#    `batch_size`: forward, cross-entropy loss, backward, optimizer step, zero the gradients.
#
# Return the list of mini-batch losses (Python floats), one per optimizer step.
#
# Write the loop yourself: `course_lib.training.fit` and the lesson's freezing and fine-tuning
# functions (`course_lib.vision.train_blocks`, `freeze_all_but_classifier`,
# `finetune_efficientnet`, `gradual_unfreeze`) are switched off while your work is graded, and
# do not call the functions of the exercises above (each exercise is graded on its own).
# The grader checks what your function *does*: it measures the fine-tuned network's accuracy
# on Animal-MNIST test images you never see, and checks that the top block and the classifier
# changed while every other weight and every batch-norm statistic stayed exactly as it was.

# %% nbgrader={"solution": true, "grade_id": "ex5_finetune_top"}
def finetune_top(model, x, y, epochs=4, batch_size=32, lr=3e-3, seed=0):
    ### BEGIN SOLUTION
    top = ("_conv_head.", "_bn1.", "_fc.")
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(top))
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
    return losses
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex5_finetune_top_tests", "points": 4, "locked": true}
net = animal_net()
assert (net._fc.in_features, net._fc.out_features) == (1280, 10), "animal_net() comes with a new 1,280 -> 10 classifier"
before = {k: v.clone() for k, v in net.state_dict().items()}
losses = finetune_top(net, X_TRAIN, Y_TRAIN, epochs=4, batch_size=32, lr=3e-3)
assert len(losses) == 4 * math.ceil(100 / 32), "one loss per optimizer step: 4 epochs x 4 mini-batches"
assert all(isinstance(v, float) for v in losses), "losses as Python floats (loss.item())"
assert sum(losses[-4:]) < sum(losses[:4]) / 2, f"the loss should fall: {losses[:4]} ... {losses[-4:]}"
assert torch.equal(net._conv_stem.weight, before["_conv_stem.weight"]), "the stem should stay frozen"
assert not torch.equal(net._fc.weight, before["_fc.weight"]), "the classifier should train"
print("visible tests passed")
### BEGIN HIDDEN TESTS
_top = {n for n, _ in net.named_parameters() if n.startswith(("_conv_head.", "_bn1.", "_fc."))}
for _key, _value in net.state_dict().items():
    if _key in _top:
        assert not torch.equal(_value, before[_key]), f"{_key} belongs to the top block or the classifier: it should train"
    else:
        assert torch.equal(_value, before[_key]), f"{_key} changed: frozen weights and batch-norm statistics must not move"
_held = data.animal_test_set(per_class=20)
_x_held = vision.efficientnet_inputs(_held.images, 64)
net.eval()
with torch.set_grad_enabled(False):
    _pred = torch.cat([net(_b).argmax(1) for _b in _x_held.split(100)])
_acc_held = float((_pred == torch.as_tensor(_held.labels)).float().mean())
assert _acc_held >= 0.55, f"held-out accuracy {_acc_held:.3f} (chance is 0.1; the reference reaches about 0.68)"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: reading the curve (2 points)
#
# Section 9 of the lesson shows the committed curve (`data/lesson01/curve.json`): the mean test
# accuracy of every method at each number k of labels per class, and the points printed under
# it. Answer from the curve (or predict first, then check):
#
# - `"best_at_5"`: at k = 5, which method has the highest mean test accuracy? One of
#   `"fine-tuning"`, `"gradual unfreezing"`, `"feature extraction"`,
#   `"small CNN from scratch"`, `"random init"` (the fair baseline, with its own recipe).
# - `"trap_cost_at_10"`: at k = 10, how many percentage points does the batch-norm trap cost
#   (fine-tuning with batch norm in eval mode minus the same with batch norm in train mode)?
#   A number of points, within one point.
# - `"small_cnn_ahead_at"`: the list of k at which the small CNN from scratch has a higher
#   mean test accuracy than fine-tuning.
#
# Set `curve_answers` to a dict with these three keys.

# %% nbgrader={"solution": true, "grade_id": "ex6_curve_reading"}
### BEGIN SOLUTION
curve_answers = {"best_at_5": "fine-tuning", "trap_cost_at_10": 32, "small_cnn_ahead_at": [1, 50, 100]}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex6_curve_reading_tests", "points": 2, "locked": true}
METHODS = ("fine-tuning", "gradual unfreezing", "feature extraction", "small CNN from scratch", "random init")
assert isinstance(curve_answers, dict)
assert curve_answers.get("best_at_5") in METHODS, f"one of {METHODS}"
assert isinstance(curve_answers.get("trap_cost_at_10"), int | float), "a number of percentage points"
assert 0 <= curve_answers["trap_cost_at_10"] <= 100, "percentage points, between 0 and 100"
assert isinstance(curve_answers.get("small_cnn_ahead_at"), list | tuple), "a list of k"
assert set(curve_answers["small_cnn_ahead_at"]) <= {1, 5, 10, 50, 100}, "the curve's k are 1, 5, 10, 50 and 100"
print("curve answers: well formed (graded by hidden tests)")
### BEGIN HIDDEN TESTS
import json  # noqa: E402

from course_lib import assets  # noqa: E402

_mean = json.loads(assets.path("lesson01-curve").read_text())["mean_test_acc"]
_keys = dict(zip(METHODS, ("finetune", "gradual", "probe", "small_cnn", "random_init"), strict=True))
_at5 = {_name: _mean[_key]["5"] for _name, _key in _keys.items()}
_best = max(_at5, key=_at5.get)
assert all(_at5[_best] > _v + 0.01 for _n, _v in _at5.items() if _n != _best), _at5
assert curve_answers["best_at_5"] == _best
_cost = 100 * (_mean["finetune"]["10"] - _mean["finetune_bn_train"]["10"])
assert abs(float(curve_answers["trap_cost_at_10"]) - _cost) <= 1.0, "the trap's cost at k = 10, in points"
_ahead = sorted(int(_k) for _k in _mean["small_cnn"] if _mean["small_cnn"][_k] > _mean["finetune"][_k])
assert sorted(int(_k) for _k in curve_answers["small_cnn_ahead_at"]) == _ahead
### END HIDDEN TESTS
