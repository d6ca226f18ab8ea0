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
# 2. **feature extraction**: freeze the whole backbone, fit only a linear head on cached
#    features: accuracy against labels per class, in a fraction of a second per fit;
# 3. **fine-tuning** vs the **same network from random init**, same labels, same budget;
# 4. the **batch-norm trap**: batch norm left in train mode while layers unfreeze on few
#    labels hurts; why, and the fix;
# 5. **gradual unfreezing** with **discriminative learning rates**;
# 6. the chapter's "how much data do you need" table as a measured curve (from a script, since
#    sixty fine-tuning runs do not fit a notebook's budget);
# 7. an honest nuance: a small CNN with the right inductive bias does well on silhouettes too.
#
# Then the widgets: freeze toggles, learning-rate sliders, a Train button, a labels slider.

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
import torch

from course_lib import assets, data, models, plots, vision
from course_lib.device import describe_device, get_device
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
test = data.animal_test_set(per_class=50)
print("classes:", ", ".join(CLASSES))
print("training images cached:", len(pool), "| test images used here:", len(test), "| per class:", test.counts().tolist())

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
assert feature_extraction.trainable == 1280 * 10 + 10
assert feature_extraction.percent < 0.5

# %% [markdown]
# ## 3. Feature extraction: a linear head on cached features
#
# With the backbone frozen, its output for an image never changes, so we compute the 1,280-d
# features **once** and cache them; every head after that trains in a fraction of a second
# (full-batch logistic regression with LBFGS). This is the cheapest kind of transfer.

# %%
train_f = vision.extract_features(net, pool.images, size=SIZE)
test_f = vision.extract_features(net, test.images, size=SIZE)
print("cached features:", tuple(train_f.shape), tuple(test_f.shape))

# %%
KS = [1, 5, 10, 20, 50, 100]
probe = {k: vision.probe_accuracy(train_f, pool.labels, test_f, test.labels, k) for k in KS}
for k, acc in probe.items():
    print(f"k = {k:3d} labels per class: linear probe {acc:.1%}")

# %%
assert probe[100] > probe[10] > probe[1], "more labels should help the probe"
assert probe[10] > 0.6 and probe[100] > 0.85, probe
assert probe[1] > 0.15, "even one label per class is well above chance (10 %)"
print("feature extraction works, and improves with labels")

# %% [markdown]
# ## 4. ImageNet init vs random init: same network, same labels, same budget
#
# Now fine-tune the **whole** network at k = 10 labels per class (100 images): AdamW, 30 steps
# of 32 images, flips and small shifts. ImageNet init: classifier at 1e-3, backbone at 1e-4,
# batch norm in eval mode (section 5 says why). Random init gets the same steps and a recipe
# suited to training from scratch: one rate of 1e-3 everywhere, batch norm in train mode (a
# random network has no running statistics worth keeping). The committed curve in section 8
# also has random init with the exact fine-tuning recipe.

# %%
K = 10
train_k = data.animal_train_subset(K)
test_x = vision.efficientnet_inputs(test.images, SIZE)
FT = dict(head_lr=1e-3, backbone_lr=1e-4, epochs=6, min_steps=30, size=SIZE, device=device)

# %% tags=["nbval-ignore-output"]
_, ft_imagenet = vision.finetune_efficientnet(train_k, test_x, test.labels, pretrained=True, name="ImageNet init", **FT)
_, ft_random = vision.finetune_efficientnet(
    train_k, test_x, test.labels, pretrained=False, keep_bn_eval=False, name="random init", **{**FT, "backbone_lr": 1e-3}
)
for r in (ft_imagenet, ft_random):
    print(f"{r.name:14s} test accuracy {r.test_acc:.1%} ({r.config['epochs']} epochs, {r.seconds:.0f} s)")

# %%
gap = ft_imagenet.test_acc - ft_random.test_acc
print(f"ImageNet init beats random init by more than 30 points at k={K}:", gap > 0.30)
assert gap > 0.30, (ft_imagenet.test_acc, ft_random.test_acc)
assert ft_random.test_acc < 0.6, "random init should not get far in 30 steps on 100 images"

# %% [markdown]
# The same 3.4 million weights, the same data, the same optimizer: the random network barely
# leaves chance, the ImageNet one is accurate. What ImageNet gave it is a stack of features
# (edges, shapes, parts) that takes millions of images to learn and that silhouettes reuse.
#
# ## 5. The batch-norm trap
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

# %%
@torch.no_grad()
def accuracy_with_batch_stats(model, x, y, batch_size=250):
    state = {k: v.clone() for k, v in model.state_dict().items()}  # train mode updates running stats
    model.eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.train()  # batch norm only: dropout stays off
    correct = sum(int((model(x[i : i + batch_size]).argmax(-1) == torch.as_tensor(y[i : i + batch_size])).sum())
                  for i in range(0, len(x), batch_size))
    model.load_state_dict(state)
    model.eval()
    return correct / len(x)


# %% tags=["nbval-ignore-output"]
bn_model, ft_bn_train = vision.finetune_efficientnet(
    train_k, test_x, test.labels, pretrained=True, keep_bn_eval=False, name="BN train mode", **FT
)
acc_batch_stats = accuracy_with_batch_stats(bn_model, test_x, test.labels)
print(f"BN in eval mode (the fix):               {ft_imagenet.test_acc:.1%}")
print(f"BN in train mode (the trap):             {ft_bn_train.test_acc:.1%}")
print(f"trap weights, test-batch statistics:     {acc_batch_stats:.1%}")

# %%
trap = ft_imagenet.test_acc - ft_bn_train.test_acc
print("BN kept in eval mode beats BN in train mode by more than 3 points:", trap > 0.03)
print("the trap's weights do better with batch statistics than with the stored ones:",
      acc_batch_stats > ft_bn_train.test_acc)

# %%
assert trap > 0.03, (ft_imagenet.test_acc, ft_bn_train.test_acc)
assert acc_batch_stats > ft_bn_train.test_acc, (acc_batch_stats, ft_bn_train.test_acc)

# %% [markdown]
# ## 6. Gradual unfreezing with discriminative learning rates
#
# ULMFiT's recipe: train the new head first (the backbone frozen), then unfreeze the top
# blocks, then everything, each phase a couple of epochs; and give lower blocks smaller
# learning rates (general features should move little; task-specific ones more). Here each
# block below the head gets half the rate of the block above it.

# %%
demo = models.load_efficientnet_lite0(pretrained=True)
vision.replace_classifier(demo, 10)
for phase, blocks in enumerate(vision.DEFAULT_UNFREEZE_PHASES, 1):
    vision.set_trainable(demo, blocks)
    groups = vision.parameter_groups(demo, head_lr=1e-3, backbone_lr=1e-4, decay=0.5)
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
    "random init, same budget": ft_random.test_acc,
}
plots.bar_table(list(table), [100 * v for v in table.values()], "test accuracy (%)", f"k = {K} labels per class")
plt.show()
assert gradual.test_acc > ft_random.test_acc + 0.3
assert max(gradual.test_acc, ft_imagenet.test_acc) > probe[K] - 0.02, "adapting the backbone should not lose to the probe"
print("gradual unfreezing beats random init by more than 30 points:", gradual.test_acc > ft_random.test_acc + 0.3)

# %% [markdown]
# ## 7. The nuance: a small CNN from scratch
#
# Animal-MNIST is simple: white shapes on black. A small CNN (73 thousand parameters, 3
# convolutional blocks) built for 28 x 28 images has the right inductive bias and trains in
# seconds. How does it do with the same 10 labels per class?

# %% tags=["nbval-ignore-output"]
cnn_test_x = vision.small_cnn_inputs(test.images)
_, cnn = vision.train_small_cnn(train_k, cnn_test_x, test.labels, device=device)
print(f"small CNN from scratch: {cnn.test_acc:.1%} with {cnn.trainable:,} parameters "
      f"({cnn.config['epochs']} epochs, {cnn.seconds:.0f} s)")

# %%
print("the small CNN is far above the big network from random init:", cnn.test_acc > ft_random.test_acc + 0.2)
print("the pretrained network still wins:", ft_imagenet.test_acc > cnn.test_acc)
assert cnn.test_acc > ft_random.test_acc + 0.2
assert ft_imagenet.test_acc > cnn.test_acc

# %% [markdown]
# ## 8. The data-size curve: how many labels do you need?
#
# The chapter's table, measured: every method at k = 1, 5, 10, 50, 100 labels per class, three
# seeds each, on the full 2,000-image test set. Sixty fine-tuning runs do not fit this
# notebook's budget, so `scripts/lesson01_curve.py` ran them (its config, seeds, device and log
# are in the file, `data/lesson01/curve.json`); a slow test re-runs part of it and compares.

# %%
curve = json.loads(assets.path("lesson01-curve").read_text())
labels = {
    "finetune": "fine-tuning (ImageNet init)", "gradual": "gradual unfreezing", "probe": "feature extraction (probe)",
    "small_cnn": "small CNN from scratch", "finetune_bn_train": "fine-tuning, BN train (trap)",
    "random_init": "random init, same budget",
}
ks = curve["config"]["ks"]
mean = {m: [100 * curve["mean_test_acc"][m][str(k)] for k in ks] for m in labels if m in curve["mean_test_acc"]}
print("made by", curve["made_by"], "on", curve["device"], "| seeds", curve["config"]["seeds"])
print(f"{'labels per class':30s}" + "".join(f"{k:>7d}" for k in ks))
for m, ys in mean.items():
    print(f"{labels[m]:30s}" + "".join(f"{y:7.1f}" for y in ys))
plots.plot_curves(ks, {labels[m]: ys for m, ys in mean.items()}, "labels per class", "test accuracy (%)",
                  "Animal-MNIST, 2,000 test images", logx=True, chance=10)
plt.show()

# %% [markdown]
# Check the claims on the committed numbers (a regression in the script fails here), and
# check that this notebook's own probe agrees with the script's (different test subsets,
# so within a few points).

# %%
acc = {m: dict(zip(ks, np.array(ys) / 100, strict=True)) for m, ys in mean.items()}
transfer_gap = {k: acc["finetune"][k] - acc["random_init"][k] for k in ks}
print("fine-tuning minus random init, per k:", {k: round(100 * g) for k, g in transfer_gap.items()})
assert all(g > 0.2 for g in transfer_gap.values()), transfer_gap
assert acc["finetune"][50] > 0.85 and acc["random_init"][50] < 0.6
# the nuance, as measured: the pretrained network wins at 5 and 10 labels per class; from 50
# up, the small CNN is level with it (within 3 points, on either side)
assert acc["finetune"][5] > acc["small_cnn"][5] and acc["finetune"][10] > acc["small_cnn"][10] + 0.03
assert all(abs(acc["finetune"][k] - acc["small_cnn"][k]) < 0.03 for k in (50, 100))
assert acc["finetune"][50] - acc["finetune_bn_train"][50] > 0.03
for k in (10, 50, 100):
    assert abs(acc["probe"][k] - probe[k]) < 0.06, (k, acc["probe"][k], probe[k])
print("committed curve and this notebook's probe agree within 6 points at k = 10, 50, 100")

# %% [markdown]
# What the curve says:
#
# - **ImageNet init beats random init at every k**, by the widest margins of the chapter:
#   with the fine-tuning recipe and budget, the random network stays at chance (10 %).
# - **Feature extraction** is nearly free and already useful with ten labels per class;
#   **fine-tuning** adds several points on top; **gradual unfreezing** lands between the two
#   here (it spends a third of its steps on the head alone).
# - **Batch norm in train mode** costs 10 to 30 points at every k: the trap is real.
# - The **small CNN from scratch** is the honest nuance, and it is stronger than the chapter
#   suggests. Silhouettes are simple, and a 73k-parameter network built for 28 x 28 shapes
#   ties the fine-tuned ImageNet network at 1 label per class and is level with it (within a
#   point or so) from 50 labels per class up. The pretrained network wins clearly at 5 and
#   10 labels per class, where labels are few but not absurdly few, and it gets there in
#   30 to 190 optimizer steps where the small CNN takes 150 to 950 (cheaper ones, though).
#   On photos, where ImageNet features fit better, the advantage of transfer is larger.
#
# ## 9. Widgets
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
# **Labels per class.** The probe refits on cached features each time the slider moves
# (well under 2 seconds). Asking for more labels than the cache holds says so.

# %% tags=["nbval-ignore-output"]
slider = vision.probe_slider(train_f, pool.labels, test_f, test.labels, k=10, max_k=120)
slider

# %% tags=["nbval-ignore-output"]
import time

t0 = time.perf_counter()
slider.slider.value = 50
print(f"refit in {time.perf_counter() - t0:.2f} s (the budget, checked by the benchmark: under 2 s)")
print(f"k = 50 from the slider matches the probe above: {slider.accuracy == probe[50]}")
assert slider.accuracy == probe[50]
slider.slider.value = 120
print(slider.text)
assert slider.accuracy is None and "only 100" in slider.text

# %% [markdown]
# ## Bad input, handled
#
# Nothing here crashes the kernel: each mistake raises one clear `CourseError`.

# %%
frozen = fresh_model()
vision.set_trainable(frozen, [])
print("trainable parameters:", count_parameters(frozen))
for attempt in (
    lambda: fit(frozen, [(test_x[:4], torch.zeros(4, dtype=torch.long))], epochs=1, progress=False),
    lambda: data.animal_train_subset(5000),
    lambda: vision.set_trainable(frozen, ["stage9"]),
):
    try:
        attempt()
    except CourseError as e:
        print(f"{type(e).__name__}: {e}")

# %% [markdown]
# ## Summary
#
# - A network pretrained on ImageNet transfers to silhouettes it never saw: a frozen backbone
#   plus a linear head is already good with a handful of labels per class, and its head
#   trains in a fraction of a second on cached features.
# - Fine-tuning the same network from **ImageNet init** beats **random init** by a huge
#   margin at the same labels and budget: the pretrained features are the difference.
# - **Batch norm** in train mode on few labels is a trap: the stored statistics no longer
#   match what the weights learned. Keep batch norm in eval mode when fine-tuning on little data.
# - **Gradual unfreezing** and **discriminative learning rates** are safe, cheap defaults;
#   here they match full fine-tuning rather than beat it.
# - A small CNN with the right bias is a strong baseline on simple images; the pretrained
#   network still wins and needs far fewer steps.
#
# **Try this**
#
# - Freeze everything but `classifier`, press Train; then unfreeze `head` and `stage7` too.
#   How do the trainable percentage and the accuracy change?
# - Set the backbone learning rate to 1e-2 with everything unfrozen. What happens to the loss?
# - Move the labels slider from 1 to 100. Where does the probe's curve flatten?
#
# **Exercises:** `01_scratch_vs_transfer_exercises.ipynb` (replace the head, freeze all but
# the head, discriminative parameter groups, count trainable parameters).
