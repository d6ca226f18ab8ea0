# %% [markdown]
# # 01 Scratch vs transfer
#
# The chapter's first claim: **a network pretrained on ImageNet, adapted to a small data set,
# beats the same network trained from scratch, and most of all where labels are few.** This
# notebook measures that claim instead of quoting it, with a real pretrained network
# (EfficientNet-Lite0, trained on ImageNet's 1.28 million photos) and a small, unfamiliar data
# set (Animal-MNIST: 28 x 28 silhouettes of ten animals).
#
# You will see, with numbers computed here and checked by `assert`s:
#
# 1. the ImageNet model really knows photos (a top-5 sanity check);
# 2. **the chapter's code, run**: freeze a pretrained network, replace its classifier, train
#    the new head with a plain training loop;
# 3. **feature extraction** on cached features: accuracy against labels per class;
# 4. **fine-tuning** vs the **same network from random init**, same labels, same number of
#    optimizer steps, each with a recipe that suits it;
# 5. the **batch-norm trap**: batch norm left in train mode while layers unfreeze on few
#    labels hurts; why, and the fix;
# 6. **gradual unfreezing** with **discriminative learning rates**;
# 7. an honest nuance: a small CNN with the right inductive bias does well on silhouettes too;
# 8. the chapter's "how much data do you need" table as a measured curve (from a script: its
#    runs do not fit a notebook's budget).
#
# Then the widgets: freeze toggles, learning-rate sliders, a Train button, a labels slider.

# %%
import json
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from course_lib import assets, data, models, plots, vision
from course_lib.device import describe_device, get_device, model_device
from course_lib.errors import CourseError
from course_lib.seed import seed_everything
from course_lib.training import count_parameters, fit

seed_everything(0)
device = get_device()
print(describe_device(device))

# %% [markdown]
# ## The data: Animal-MNIST
#
# 10,000 silhouettes, 1,000 per class. The course fixes a test set of 200 per class; the
# rest is the training pool, from which we draw **k labelled images per class** (nested: the
# 5 of k=5 are among the 10 of k=10). To keep this notebook within its time budget, every
# number measured *here* uses the first **50 test images per class (500 in all)**; the script
# behind the full curve uses all 2,000.

# %%
CLASSES = data.ANIMAL_CLASSES
SIZE = vision.DEFAULT_SIZE  # 28 x 28 silhouettes are resized to 96 x 96 for EfficientNet
pool = data.animal_train_subset(100)  # the first 100 per class; smaller k are nested inside
print("classes:", ", ".join(CLASSES))
print("training images cached:", len(pool), "| test images used here:", 10 * 50, "| per class: 50")

first_two = np.concatenate([np.flatnonzero(pool.labels == c)[:2] for c in range(10)])
plots.show_images(pool.images[first_two], [CLASSES[i] for i in pool.labels[first_two]], ncols=10, size=1.1)
plt.show()

# %% [markdown]
# ## 1. Sanity check: the pretrained model knows ImageNet
#
# Before transferring anything, check that the weights really are ImageNet's: the full
# 1,000-class model on a few photos from scikit-image (224 x 224, the preprocessing it was
# trained with).

# %%
imagenet_model = models.load_efficientnet_lite0(pretrained=True)  # 1,000 ImageNet classes
photos = data.skimage_photos(["chelsea", "coffee", "rocket", "astronaut"])
top5 = models.imagenet_top5(imagenet_model, photos)
for name, preds in top5.items():
    print(f"{name:10s}", " | ".join(f"{c} {p:.2f}" for c, p in preds[:3]))

# %%
cats = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat", "lynx"}
assert cats & {c for c, _ in top5["chelsea"]}, "a cat should be in Chelsea's top 5"
assert top5["coffee"][0][0] in {"espresso", "cup", "coffee mug"}, top5["coffee"][0]
assert {"missile", "projectile", "space shuttle"} & {c for c, _ in top5["rocket"]}
print("the ImageNet weights behave as ImageNet weights should")

# %% [markdown]
# ## 2. Blocks, freezing and trainable parameters
#
# EfficientNet-Lite0 has a stem, seven stages of inverted-residual blocks, a head (a 1x1
# convolution to 1,280 channels) and a classifier. For Animal-MNIST we **replace the
# classifier** (1,280 -> 1,000 ImageNet classes) by a fresh 1,280 -> 10 layer. *Freezing* a
# block means `requires_grad = False`: the optimizer never changes it.

# %%
net = models.load_efficientnet_lite0(pretrained=True)
vision.replace_classifier(net, num_classes=10)
summary = vision.parameter_summary(net)
for block, (_, total) in summary.per_block.items():
    print(f"{block:10s} {total:>9,} parameters")
print(summary.line())

vision.freeze_all_but_classifier(net)
feature_extraction = vision.parameter_summary(net)
print("feature extraction:", feature_extraction.line())
assert feature_extraction.trainable == 1280 * 10 + 10, feature_extraction.trainable
assert feature_extraction.percent < 0.5, "feature extraction trains under 0.5 % of the weights"

# %% [markdown]
# ## 3. The chapter's code, run
#
# The chapter's feature-extraction recipe in PyTorch is four steps: load a pretrained network,
# freeze every parameter, replace the classifier, and hand the optimizer the new head's
# parameters only. The chapter loads its network with torchvision's `pretrained=True`, which
# torchvision has deprecated in favour of `weights=...` (for example
# `torchvision.models.resnet18(weights=ResNet18_Weights.DEFAULT)`, which downloads the
# weights). This course never downloads at run time: our pretrained network is EfficientNet-Lite0
# from the course's offline asset, `course_lib.models.load_efficientnet_lite0`, and its
# classifier is the attribute `_fc`.

# %%
test = data.animal_test_set(per_class=50)  # the 500 test images this notebook uses
test_x = vision.efficientnet_inputs(test.images, SIZE)
test_y = torch.as_tensor(test.labels)

model = models.load_efficientnet_lite0(pretrained=True).to(device)  # 1. a pretrained network
for p in model.parameters():  # 2. freeze every parameter
    p.requires_grad = False
torch.manual_seed(0)
model._fc = torch.nn.Linear(model._fc.in_features, len(CLASSES)).to(device)  # 3. a new classifier: trainable
optimizer = torch.optim.Adam(model._fc.parameters(), lr=1e-2)  # 4. only the new head's parameters
loss_fn = torch.nn.CrossEntropyLoss()
print("trainable parameters:", count_parameters(model), "(the new head: 1280 x 10 weights + 10 biases)")
assert count_parameters(model) == 1280 * 10 + 10, "only the new head should be trainable"

# %% [markdown]
# Now a plain training loop, on k = 10 labels per class (100 images): forward, loss, backward,
# step, zero the gradients; then evaluate on the test images. The model stays in `eval()` mode
# while it trains: the backbone is frozen, so its batch norm should keep its ImageNet
# statistics (`model.train()` would let them drift, the trap of section 6); eval mode also
# switches off the dropout in front of the classifier. Every batch goes to the model's device
# explicitly.

# %% tags=["nbval-ignore-output"]
chapter_train = data.animal_train_subset(10)
x_train = vision.efficientnet_inputs(chapter_train.images, SIZE)
y_train = torch.as_tensor(chapter_train.labels)
gen = torch.Generator().manual_seed(0)
model.eval()
for epoch in range(5):
    for idx in torch.randperm(len(x_train), generator=gen).split(32):
        logits = model(x_train[idx].to(device))  # forward
        loss = loss_fn(logits, y_train[idx].to(device))  # loss
        loss.backward()  # backward: gradients reach the head only
        optimizer.step()  # step
        optimizer.zero_grad()  # zero the gradients for the next batch
    print(f"epoch {epoch + 1}: loss on the last batch {loss.item():.3f}")

with torch.no_grad():  # evaluation
    pred = torch.cat([model(x.to(device)).argmax(-1).cpu() for x in test_x.split(250)])
chapter_acc = (pred == test_y).float().mean().item()
print(f"the chapter's recipe at k = 10: test accuracy {chapter_acc:.1%} (chance: 10 %)")

# %%
print("the chapter's recipe is more than 40 points above chance:", chapter_acc > 0.5)
assert chapter_acc > 0.5, f"a trained head on ImageNet features should be far above chance, got {chapter_acc:.3f}"

# %% [markdown]
# `course_lib.training.fit` is this same loop with a progress bar and a per-epoch history
# (plus an option to keep batch norm in eval mode); the rest of the lesson uses it.
#
# ## 4. Feature extraction: a linear head on cached features
#
# With the backbone frozen, its output for an image never changes, so we compute the 1,280-d
# features **once** and cache them; every head after that is fitted on the cache without
# running the backbone again (full-batch logistic regression with LBFGS, in float64 and solved
# to tight tolerances, so that the machine it runs on hardly matters). This is the cheapest
# kind of transfer.

# %%
train_f = vision.extract_features(net, pool.images, size=SIZE)
test_f = vision.extract_features(net, test.images, size=SIZE)
print("cached features:", tuple(train_f.shape), tuple(test_f.shape))

# %%
KS = [1, 5, 10, 20, 50, 100]
probe = {k: vision.probe_accuracy(train_f, pool.labels, test_f, test.labels, k) for k in KS}
for k, acc in probe.items():  # whole percents: a probe fitted on 10 images is the most sensitive
    print(f"k = {k:3d} labels per class: linear probe {acc:.0%}")

# %%
assert probe[100] > probe[10] > probe[1], f"more labels should help the probe: {probe}"
assert probe[10] > 0.6 and probe[100] > 0.85, f"the probe should be accurate from k = 10: {probe}"
assert probe[1] > 0.15, "even one label per class is well above chance (10 %)"
print("feature extraction works, and improves with labels")

# %% [markdown]
# ## 5. ImageNet init vs random init: same network, same labels, same steps
#
# Now fine-tune the **whole** network at k = 10 labels per class (100 images): AdamW on
# batches of 32 with flips and small shifts, for the step budget printed below. ImageNet init:
# classifier at 1e-3, backbone at 1e-4, batch norm in eval mode (section 6 says why).
#
# Random init gets the **same number of steps** and its own recipe, one that suits training
# from scratch (`vision.train_from_scratch`): one learning rate for every layer (a random
# backbone has nothing to protect) with a one-cycle schedule, batch norm in *train* mode (a
# random network has no running statistics worth keeping), and its running statistics
# **re-estimated on the training images** before evaluation (batch norm's momentum of 0.01
# would leave them near their initial values after a few dozen steps). Its learning rate is
# the one `scripts/lesson01_curve.py` chose by a sweep scored on a validation split of the
# training pool (never the test set); the sweep is printed below, from the committed file.

# %%
K = 10
train_k = data.animal_train_subset(K)
FT = dict(head_lr=1e-3, backbone_lr=1e-4, epochs=6, min_steps=30, size=SIZE, device=device)
curve = json.loads(assets.path("lesson01-curve").read_text())
sweep = curve["lr_sweep"]
RANDOM_LR = curve["config"]["random_init"]["lr"]
print(f"learning-rate sweep for random init (k = {sweep['k']}, seed {sweep['seed']}, {sweep['val_images']} validation "
      f"images from the training pool): " + ", ".join(f"{lr} -> {a:.1%}" for lr, a in sweep["val_acc"].items()))
print("chosen:", RANDOM_LR)
best = max(sweep["val_acc"], key=lambda lr: (sweep["val_acc"][lr], -float(lr)))
assert float(best) == RANDOM_LR, f"the chosen rate should be the sweep's best on validation: {sweep}"

# %% tags=["nbval-ignore-output"]
_, ft_imagenet = vision.finetune_efficientnet(train_k, test_x, test.labels, pretrained=True, name="ImageNet init", **FT)
_, ft_random = vision.train_from_scratch(train_k, test_x, test.labels, lr=RANDOM_LR, size=SIZE, device=device)
for r in (ft_imagenet, ft_random):
    print(f"{r.name:14s} test accuracy {r.test_acc:.1%} ({r.config['steps']} steps, {r.seconds:.0f} s)")

# %%
print("both runs take the same number of optimizer steps:", ft_imagenet.config["steps"] == ft_random.config["steps"])
gap = ft_imagenet.test_acc - ft_random.test_acc
print(f"random init is more than 5 points above chance at k={K}:", ft_random.test_acc > 0.15)
print(f"ImageNet init beats random init by more than 30 points at k={K}:", gap > 0.30)
assert ft_imagenet.config["steps"] == ft_random.config["steps"], "compare at equal step budgets"
assert ft_random.test_acc > 0.15, f"random init with its own recipe should clear chance (10 %), got {ft_random.test_acc:.3f}"
assert gap > 0.30, f"ImageNet init should win by a wide margin: {ft_imagenet.test_acc:.3f} vs {ft_random.test_acc:.3f}"

# %% [markdown]
# The same 3.4 million weights, the same data, the same number of steps: the random network,
# even with a recipe of its own, learns a little (above chance), the ImageNet one is accurate.
# What ImageNet gave it is a stack of features (edges, shapes, parts) that takes millions of
# images to learn and that silhouettes reuse.
#
# ## 6. The batch-norm trap
#
# Batch norm normalises each channel with the **batch's** statistics while training and with
# stored **running** statistics at test time. EfficientNet's running statistics are ImageNet's,
# and its momentum is small (0.01): in a few dozen steps they move only part of the way toward
# the silhouettes' statistics. Fine-tune with batch norm in *train* mode and the weights adapt
# to batch statistics that the test-time model never uses; the mismatch costs accuracy.
# The fix is one line: keep every batch-norm layer in eval mode while training
# (`keep_bn_eval=True`, which calls `set_batchnorm_eval`).

# %% [markdown]
# How would we know the mismatch is the cause? Evaluate the *same* trap-trained weights while
# letting batch norm use the statistics of each test batch (as it did in training): if accuracy
# comes back, the weights were fine and only the stored statistics were wrong.
# `vision.accuracy_with_batch_stats` does exactly that (batch norm in train mode, dropout off,
# the model's state restored afterwards).

# %%
print("batch-norm momentum of EfficientNet-Lite0:", round(net._bn0.momentum, 3))
assert abs(net._bn0.momentum - 0.01) < 1e-9, net._bn0.momentum

# %% tags=["nbval-ignore-output"]
bn_model, ft_bn_train = vision.finetune_efficientnet(
    train_k, test_x, test.labels, pretrained=True, keep_bn_eval=False, name="BN train mode", **FT
)
acc_batch_stats = vision.accuracy_with_batch_stats(bn_model, test_x, test.labels)
print(f"BN in eval mode (the fix):               {ft_imagenet.test_acc:.1%}")
print(f"BN in train mode (the trap):             {ft_bn_train.test_acc:.1%}")
print(f"trap weights, test-batch statistics:     {acc_batch_stats:.1%}")

# %%
trap = ft_imagenet.test_acc - ft_bn_train.test_acc
print("BN kept in eval mode beats BN in train mode by more than 3 points:", trap > 0.03)
print("the trap's weights do better with batch statistics than with the stored ones:",
      acc_batch_stats > ft_bn_train.test_acc)

# %%
assert trap > 0.03, f"BN in eval mode should beat the trap: {ft_imagenet.test_acc:.3f} vs {ft_bn_train.test_acc:.3f}"
assert acc_batch_stats > ft_bn_train.test_acc, f"batch statistics should rescue the trap's weights: {acc_batch_stats:.3f}"

# %% [markdown]
# The trap has a mirror image. Keep batch norm in eval mode on a **random** network and its
# running statistics stay at their initial values (mean 0, variance 1): batch norm never
# normalises, and the signal fades layer after layer. On test images, the pooled features of
# an untrained random network in eval mode are all but zero, so its logits hardly depend on
# the image (the committed curve in section 9 shows where that leads after training):

# %%
rnd = models.load_efficientnet_lite0(pretrained=False)
rnd.eval()
with torch.no_grad():
    rnd_features = rnd.extract_features(test_x[::10].to(model_device(rnd))).mean((2, 3))
print("random network, batch norm in eval mode: largest |pooled feature| below 1e-6:",
      bool(rnd_features.abs().max() < 1e-6))
assert rnd_features.abs().max() < 1e-6, float(rnd_features.abs().max())

# %% [markdown]
# ## 7. Gradual unfreezing with discriminative learning rates
#
# ULMFiT's recipe: train the new head first (the backbone frozen), then unfreeze the top
# blocks, then everything, each phase a couple of epochs; and give lower blocks smaller
# learning rates (general features should move little; task-specific ones more). Here each
# block below the head gets half the rate of the block above it.

# %%
demo = models.load_efficientnet_lite0(pretrained=True)
vision.replace_classifier(demo, 10)
for phase, blocks in enumerate(vision.DEFAULT_UNFREEZE_PHASES, 1):
    vision.train_blocks(demo, blocks)
    groups = vision.parameter_groups(demo, head_lr=1e-3, backbone_lr=1e-4, factor=2)
    s = vision.parameter_summary(demo)
    print(f"phase {phase}: {s.percent:5.1f} % trainable; " + ", ".join(f"{g['name']} {g['lr']:.0e}" for g in groups[:4])
          + (" ..." if len(groups) > 4 else ""))

# %% tags=["nbval-ignore-output"]
_, gradual = vision.gradual_unfreeze(train_k, test_x, test.labels, epochs_per_phase=2, size=SIZE, device=device)
print(f"gradual unfreezing: {gradual.test_acc:.1%} (accuracy after each phase: "
      + ", ".join(f"{a:.1%}" for a in gradual.history.val_acc) + ")")

# %%
table = {
    "feature extraction (probe)": probe[K],
    "fine-tuning, BN eval": ft_imagenet.test_acc,
    "gradual unfreezing": gradual.test_acc,
    "fine-tuning, BN train (trap)": ft_bn_train.test_acc,
    "random init, own recipe, same steps": ft_random.test_acc,
}
plots.bar_table(list(table), [100 * v for v in table.values()], "test accuracy (%)", f"k = {K} labels per class")
plt.show()
print("gradual unfreezing beats random init by more than 30 points:", gradual.test_acc > ft_random.test_acc + 0.3)
assert gradual.test_acc > ft_random.test_acc + 0.3, f"{gradual.test_acc:.3f} vs {ft_random.test_acc:.3f}"
assert max(gradual.test_acc, ft_imagenet.test_acc) > probe[K] - 0.02, "adapting the backbone should not lose to the probe"

# %% [markdown]
# ## 8. The nuance: a small CNN from scratch
#
# Animal-MNIST is simple: white shapes on black. A small CNN (73 thousand parameters, 3
# convolutional blocks) built for 28 x 28 images has the right inductive bias, and each of its
# steps is far cheaper than one of EfficientNet's. How does it do with the same 10 labels per
# class?

# %% tags=["nbval-ignore-output"]
cnn_test_x = vision.small_cnn_inputs(test.images)
_, cnn = vision.train_small_cnn(train_k, cnn_test_x, test.labels, device=device)
print(f"small CNN from scratch: {cnn.test_acc:.1%} with {cnn.trainable:,} parameters "
      f"({cnn.config['epochs']} epochs, {cnn.seconds:.0f} s)")

# %%
print("the small CNN is more than 20 points above the big network from random init:", cnn.test_acc > ft_random.test_acc + 0.2)
print(f"at k = {K}, the pretrained network wins:", ft_imagenet.test_acc > cnn.test_acc)
assert cnn.test_acc > ft_random.test_acc + 0.2, f"{cnn.test_acc:.3f} vs {ft_random.test_acc:.3f}"
assert ft_imagenet.test_acc > cnn.test_acc, f"{ft_imagenet.test_acc:.3f} vs {cnn.test_acc:.3f}"

# %% [markdown]
# ## 9. The data-size curve: how many labels do you need?
#
# The chapter's table, measured: every method at k = 1, 5, 10, 50, 100 labels per class on the
# full 2,000-image test set, averaged over the seeds printed below. These runs do not fit this
# notebook's budget, so `scripts/lesson01_curve.py` ran them (its config, seeds, learning-rate
# sweep, devices and log are in the file, `data/lesson01/curve.json`); a slow test re-runs part
# of it and compares. The file's notes say which methods ran on which machine.
#
# Two random-init rows: **random init, own recipe** is the fair baseline of section 5 (its
# rate chosen on validation data, batch norm in train mode and re-estimated, the fine-tuning
# step budget). **Random init, fine-tuning recipe** is the fine-tuning recipe applied verbatim
# to a random network, batch norm in eval mode included: the mirror-image trap of section 6.
# It is kept as a warning, not as a baseline.

# %%
labels = {
    "finetune": "fine-tuning (ImageNet init)", "gradual": "gradual unfreezing", "probe": "feature extraction (probe)",
    "small_cnn": "small CNN from scratch", "finetune_bn_train": "fine-tuning, BN train (trap)",
    "random_init": "random init, own recipe", "random_init_ft_recipe": "random init, fine-tuning recipe",
}
ks = curve["config"]["ks"]
mean = {m: [100 * curve["mean_test_acc"][m][str(k)] for k in ks] for m in labels if m in curve["mean_test_acc"]}
assert set(mean) == set(labels), f"the curve should hold every method: {sorted(curve['mean_test_acc'])}"
print("made by", curve["made_by"], "|", len(curve["runs"]), "runs")
for note in curve["notes"]:
    print("note:", note)
print("seeds per method:", {m: len(seeds) for m, seeds in curve["seeds_by_method"].items()})
print(f"{'labels per class':32s}" + "".join(f"{k:>7d}" for k in ks))
for m, ys in mean.items():
    print(f"{labels[m]:32s}" + "".join(f"{y:7.1f}" for y in ys))
plots.plot_curves(ks, {labels[m]: ys for m, ys in mean.items()}, "labels per class", "test accuracy (%)",
                  "Animal-MNIST, 2,000 test images", logx=True, chance=10)
plt.show()

# %% [markdown]
# The budgets behind the curve, in optimizer steps per run (batches of 32): fine-tuning, the
# batch-norm trap and both random-init rows share one budget; gradual unfreezing gets its
# 6 epochs (fewer steps where k is small); the small CNN gets 30 epochs, at least 150 steps.

# %%
n_batches = {k: -(-10 * k // 32) for k in ks}  # batches per epoch at k labels per class
budget = {
    "fine-tuning, BN trap, random init": [vision.optimizer_steps(10 * k, 32, 6, 30) for k in ks],
    "gradual unfreezing": [3 * 2 * n_batches[k] for k in ks],
    "small CNN from scratch": [vision.optimizer_steps(10 * k, 32, 30, 150) for k in ks],
}
print(f"{'optimizer steps per run':34s}" + "".join(f"{k:>6d}" for k in ks))
for name, steps in budget.items():
    print(f"{name:34s}" + "".join(f"{n:6d}" for n in steps))
ratio = [c / f for c, f in zip(budget["small CNN from scratch"], budget["fine-tuning, BN trap, random init"], strict=True)]
print("small CNN steps / fine-tuning steps:", [round(r, 1) for r in ratio])
assert all(4.5 <= r <= 5.5 for r in ratio), ratio

# %% [markdown]
# Check the claims on the committed numbers (a regression in the script fails here), and
# check that this notebook's own probe agrees with the script's (different test subsets,
# so within a few points).

# %%
acc = {m: dict(zip(ks, np.array(ys) / 100, strict=True)) for m, ys in mean.items()}


def points(a, b):
    """a minus b in percentage points, per k, rounded to whole points."""
    return {k: round(100 * (acc[a][k] - acc[b][k])) for k in ks}


print("fine-tuning minus random init (own recipe), points:", points("finetune", "random_init"))
print("random init (own recipe) minus chance, points:     ", {k: round(100 * acc["random_init"][k] - 10) for k in ks})
print("random init (fine-tuning recipe), every run:       ",
      sorted({r["test_acc"] for r in curve["runs"] if r["method"] == "random_init_ft_recipe"}))
print("fine-tuning minus probe, points:                   ", points("finetune", "probe"))
print("fine-tuning minus gradual unfreezing, points:      ", points("finetune", "gradual"))
print("BN eval minus BN train (the trap's cost), points:  ", points("finetune", "finetune_bn_train"))
print("fine-tuning minus small CNN, points (one decimal): ",
      {k: round(float(100 * (acc["finetune"][k] - acc["small_cnn"][k])), 1) for k in ks})

# %%
# ImageNet init beats the fair random init by more than 20 points at every k
assert all(acc["finetune"][k] - acc["random_init"][k] > 0.2 for k in ks), points("finetune", "random_init")
# the fair random init learns: more than 10 points above chance at every k, and far better
# (by more than 15 points) with 50 or 100 labels per class than with 10 or fewer
assert all(acc["random_init"][k] > 0.2 for k in ks), acc["random_init"]
assert min(acc["random_init"][k] for k in (50, 100)) > max(acc["random_init"][k] for k in (1, 5, 10)) + 0.15, acc["random_init"]
# the fine-tuning recipe on a random network predicts at chance in every run
assert {r["test_acc"] for r in curve["runs"] if r["method"] == "random_init_ft_recipe"} == {0.1}
# fine-tuning adds points over the probe at every k; gradual unfreezing lands between the two
assert all(acc["finetune"][k] > acc["probe"][k] + 0.02 for k in ks), points("finetune", "probe")
assert all(acc["probe"][k] < acc["gradual"][k] < acc["finetune"][k] for k in ks), points("finetune", "gradual")
# the batch-norm trap costs at every k; most at 5 and 10 labels per class, least at 100
trap_cost = points("finetune", "finetune_bn_train")
assert all(c > 5 for c in trap_cost.values()), trap_cost
assert max(trap_cost, key=trap_cost.get) in (5, 10) and min(trap_cost, key=trap_cost.get) == 100, trap_cost
# the nuance: fine-tuning wins at 5 and 10 (by more than 3 points at 10); the small CNN is
# ahead at 1, 50 and 100, by less than 2 points
assert acc["finetune"][5] > acc["small_cnn"][5] and acc["finetune"][10] > acc["small_cnn"][10] + 0.03
assert all(0 < acc["small_cnn"][k] - acc["finetune"][k] < 0.02 for k in (1, 50, 100)), acc["small_cnn"]
for k in (10, 50, 100):
    assert abs(acc["probe"][k] - probe[k]) < 0.06, (k, acc["probe"][k], probe[k])
print("committed curve and this notebook's probe agree within 6 points at k = 10, 50, 100")

# %% [markdown]
# What the curve says (each claim is an `assert` above, each number printed above):
#
# - **ImageNet init beats random init at every k**, by more than 20 points, against a random
#   init with a recipe of its own at the same step budget. That fair baseline does learn: it
#   is more than 10 points above chance at every k, and far better with 50 or 100 labels per
#   class than with 10 or fewer, but at most 192 steps on at most 1,000 silhouettes do not
#   build what ImageNet built.
# - The **fine-tuning recipe applied verbatim to a random network** scores exactly 10 % in
#   every run: batch norm frozen at its initial statistics, the network gives every image
#   the same class. A baseline at exactly chance is a bug until shown otherwise.
# - **Feature extraction** is nearly free and already useful with ten labels per class;
#   **fine-tuning** adds points on top at every k; **gradual unfreezing** lands between the
#   two at every k here: it spends a third of its steps on the head alone, and where k is small
#   it gets fewer steps than fine-tuning (the budget table).
# - **Batch norm in train mode** costs points at every k: the most at 5 and 10 labels per
#   class, the least at 100 (the trap's cost per k is printed above). The trap is real.
# - The **small CNN from scratch** is the honest nuance, and it is stronger than the chapter
#   suggests. Silhouettes are simple, and a 73k-parameter network built for 28 x 28 shapes
#   is ahead of the fine-tuned ImageNet network at 1, 50 and 100 labels per class, by less
#   than 2 points. The pretrained network wins at 5 and 10 labels per class, where labels are
#   few but not absurdly few (by more than 3 points at 10), and it gets there in about a fifth
#   of the small CNN's optimizer steps (each one far more expensive, though). On photos, where
#   ImageNet features fit better, the advantage of transfer should be larger.
#
# ## 10. Widgets
#
# **Freeze toggles and learning rates.** Press a block to unfreeze it (pressed = trainable);
# the count updates at once. Pick the head's and the backbone's learning rates on log scales,
# then press **Train**: it fine-tunes a fresh ImageNet model on k = 10 labels per class for 3
# epochs, with a progress bar and a live loss curve, and reports test accuracy.

# %% tags=["nbval-ignore-output"]
def fresh_model():
    m = models.load_efficientnet_lite0(pretrained=True)
    vision.replace_classifier(m, 10)
    vision.freeze_all_but_classifier(m)
    return m


panel = vision.train_panel(fresh_model, train_k, test_x, test.labels, epochs=3, size=SIZE, device=device)
panel

# %% [markdown]
# The logic behind the widget is plain functions; here is what the toggles do, driven from
# code. Unfreezing `stage7` adds its parameters to the count; freezing everything and pressing
# Train says so instead of training.

# %% tags=["nbval-ignore-output"]
def shown(label):
    return label.value.replace("<b>", "").replace("</b>", "").replace("&mdash;", "-")


toggles = panel.freezer.toggles
print(shown(panel.freezer.label))
for b in ["stage7", "head"]:
    toggles[b].value = True
print(shown(panel.freezer.label))
assert vision.parameter_summary(panel.freezer.model).trainable == 12810 + summary.per_block["stage7"][1] + summary.per_block["head"][1]
for t in toggles.values():
    t.value = False
print(shown(panel.freezer.label))
panel.button.click()
print(panel.message)
assert "nothing to train" in panel.message
toggles["classifier"].value = True

# %% [markdown]
# **Labels per class.** The probe refits on cached features each time the slider moves (the
# refit time is printed below; a test holds every stored refit time to the course's slider
# budget). Asking for more labels than the cache holds says so.

# %% tags=["nbval-ignore-output"]
slider = vision.probe_slider(train_f, pool.labels, test_f, test.labels, k=10, max_k=120)
slider

# %% tags=["nbval-ignore-output"]
t0 = time.perf_counter()
slider.slider.value = 50
print(f"refit in {time.perf_counter() - t0:.2f} s (budget: under 2 s, checked by tests/test_stored_outputs.py)")
print(f"k = 50 from the slider matches the probe above: {slider.accuracy == probe[50]}")
assert slider.accuracy == probe[50], "the slider refits the same probe"
slider.slider.value = 120
print(slider.text)
assert slider.accuracy is None and "only 100" in slider.text, slider.text

# %% [markdown]
# ## Bad input, handled
#
# Nothing here crashes the kernel: each mistake raises one clear `CourseError`.

# %%
frozen = fresh_model()
vision.train_blocks(frozen, [])
print("trainable parameters:", count_parameters(frozen))
for attempt in (
    lambda: fit(frozen, [(test_x[:4], torch.zeros(4, dtype=torch.long))], epochs=1, progress=False),
    lambda: data.animal_train_subset(5000),
    lambda: vision.train_blocks(frozen, ["stage9"]),
):
    try:
        attempt()
    except CourseError as e:
        print(f"{type(e).__name__}: {e}")

# %% [markdown]
# ## Summary
#
# - The chapter's code runs as written, in today's torchvision style: freeze a pretrained
#   network, replace its classifier, optimise the new head only, with a plain training loop.
# - A network pretrained on ImageNet transfers to silhouettes it never saw: a frozen backbone
#   plus a linear head is already good with a handful of labels per class, and the head
#   refits on cached features without running the backbone again.
# - Fine-tuning the same network from **ImageNet init** beats **random init** by more than
#   20 points at every k of the curve, at the same labels and step budget, against a random
#   init with its own learning rate and batch-norm handling: the pretrained features are the
#   difference.
# - **Batch norm** in train mode on few labels is a trap: the stored statistics no longer
#   match what the weights learned. Keep batch norm in eval mode when fine-tuning a pretrained
#   network on little data, but not on a random one: there, train mode and re-estimated
#   statistics are the fix.
# - **Gradual unfreezing** and **discriminative learning rates** are cheap to try; here gradual
#   unfreezing does not beat full fine-tuning: it is below it at every k of the curve.
# - A small CNN with the right bias is a strong baseline on simple images: the pretrained
#   network wins at 5 and 10 labels per class, the small CNN is ahead by less than 2 points at
#   1, 50 and 100, and it takes about five times as many (much cheaper) optimizer steps.
#
# **Try this**
#
# - Freeze everything but `classifier`, press Train; then unfreeze `head` and `stage7` too.
#   How do the trainable percentage and the accuracy change?
# - Set the backbone learning rate to 1e-2 with everything unfrozen. What happens to the loss?
# - Move the labels slider from 1 to 100. Where does the probe's curve flatten?
#
# **Exercises:** `01_scratch_vs_transfer_exercises.ipynb` (replace the head, freeze all but
# the head, discriminative parameter groups, count trainable parameters; then write your own
# loop that fine-tunes the top block with batch norm kept in eval mode, graded on images you
# never see, and read this lesson's curve).
