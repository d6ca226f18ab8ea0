# %% [markdown]
# # 00 Setup and tour
#
# Welcome to **Transfer Learning and Foundation Models, as interactive notebooks**.
#
# Every lesson takes one claim of the chapter and proves it on a real pretrained model,
# with numbers measured here, on your machine: a 2-core laptop with no GPU and no internet
# is enough. This notebook checks that everything is installed, shows you the device the
# course will use, runs a real ImageNet model once, and explains how the lessons, the
# widgets and the graded exercises work.
#
# | # | lesson | the claim it proves |
# |---|---|---|
# | 01 | Scratch vs transfer | an ImageNet network beats training from scratch, most where labels are few |
# | 02 | Word2Vec and GloVe | word vectors encode analogies; data scale matters; one vector per word is a limit |
# | 03 | ELMo layer mixing | contextual vectors separate word senses; different layers serve different tasks |
# | 04 | ULMFiT | discriminative rates, slanted triangular schedules and gradual unfreezing keep fine-tuning stable |
# | 05 | BERT and GPT fine-tuning | a pretrained encoder or decoder plus a small head beats the same network from scratch |
# | 06 | Parameter-efficient fine-tuning | LoRA trains under 1 % of the parameters and comes close to full fine-tuning |
# | 07 | Vision Transformers | patches, position embeddings and attention, and why ViTs need pretraining |
# | 08 | CLIP zero-shot | a shared image-text space classifies concepts it never saw labelled |

# %%
import matplotlib.pyplot as plt
import torch

from course_lib import data, models, seed_everything
from course_lib.__main__ import report
from course_lib.device import describe_device, get_device
from course_lib.plots import show_images
from course_lib.tour import topk_explorer

seed_everything(0)
device = get_device()
print(describe_device(device))

# %% [markdown]
# ## 1. Is everything installed?
#
# Each package and each asset is checked: present, and its sha256 checksum matches the
# registry in `course_lib/assets/`. The assets are every file the course reads: the
# pretrained weights, the data sets that ship inside packages (Animal-MNIST, BBC News, the
# Pang & Lee sentences, the analogy and word-similarity benchmarks, scikit-image's photos,
# the ImageNet class names), and the course's own files committed under `data/` (listed in
# `data/manifest.json`). A `FAIL` line says what is wrong and how to fix it. Nothing is ever
# downloaded while you work: the models and data come from ordinary PyPI packages installed
# by `python3 course.py lab`. (`course_lib` finds `data/` in the checkout it sits in; run from
# elsewhere, set `COURSE_ROOT` to the checkout's folder.)

# %%
all_ok = report()
assert all_ok, "Something is missing: run `python3 course.py setup` and restart the kernel."

# %% [markdown]
# The exact versions (they differ from machine to machine, so this cell's output is not
# compared by the tests):

# %% tags=["nbval-ignore-output"]
import platform

import ipywidgets
import transformers

print(f"Python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}, "
      f"ipywidgets {ipywidgets.__version__}")

# %% [markdown]
# ## 2. The device
#
# The course picks CUDA if there is an NVIDIA GPU, then Apple's MPS, then the CPU, and prints
# its choice at the top of every lesson. You can force one with the environment variable
# `COURSE_DEVICE` (for example `COURSE_DEVICE=cpu`). Everything runs on a CPU within the
# budgets; a GPU only makes it faster.

# %%
x = torch.randn(256, 256, device=device)
print("A matrix product on", device.type, "->", tuple((x @ x).shape))

# %% [markdown]
# ## 3. A real pretrained model, once
#
# EfficientNet-Lite0 was trained on the 1.28 million labelled photos of ImageNet. Lesson 01
# adapts it to a small data set. Here we only ask it what it sees in the sample photos that
# ship with scikit-image. The preprocessing is the model's own: resize to 256, centre-crop
# 224, scale pixels to [-1, 1].

# %%
model = models.load_efficientnet_lite0().to(device)
photos = data.skimage_photos(["chelsea", "coffee", "rocket", "astronaut"])
top5 = models.imagenet_top5(model.cpu(), photos)
show_images(list(photos.values()), [f"{k}: {v[0][0]}" for k, v in top5.items()], ncols=4, size=2.4)
plt.show()

# %%
for name, pairs in top5.items():
    print(f"{name:>10}: " + ", ".join(f"{label} {p:.2f}" for label, p in pairs))

# %% [markdown]
# The model has never seen these photos. The cat is a cat, the coffee is espresso, the rocket
# comes out as a missile or projectile. The astronaut is harder: ImageNet has no "astronaut"
# class, so the model picks the closest things it knows. That is the first lesson of transfer
# learning: a pretrained model knows its training distribution, and we adapt it to ours.

# %%
CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
assert top5["chelsea"][0][0] in CAT_CLASSES, top5["chelsea"]
assert top5["coffee"][0][0] == "espresso", top5["coffee"]

# %% [markdown]
# ## 4. Widgets
#
# Lessons have sliders, toggles and buttons: move them and the output updates. Work that
# would take long (extracting features with a big network) is done once and cached, so a
# slider only refits a small part and answers in under two seconds. Training runs show a
# progress bar.
#
# Try it: pick a photo and move the temperature. The model's scores (logits) are divided by
# the temperature before the softmax: below 1 the distribution sharpens, above 1 it flattens.
# (Lesson 08 uses the same knob in CLIP.)

# %%
with torch.no_grad():
    logits = {k: model(models.imagenet_preprocess(v))[0] for k, v in photos.items()}

# %% tags=["nbval-ignore-output"]
topk_explorer(logits, models.imagenet_classes())

# %% [markdown]
# ## 5. How the course works
#
# **Lessons** (`01_...ipynb` to `08_...ipynb`) are read top to bottom and run with
# *Run > Run All Cells*. Each one checks its claims with `assert`s, of two kinds:
#
# - **Live asserts** check numbers the notebook measures as it runs, on your machine: probes,
#   fine-tuning runs, analogy scores, perplexities, parameter counts. Some measure inputs a
#   script made once and committed (the course's Word2Vec vectors in lesson 02, the biLM of
#   lessons 03 and 04, the DINOv2 features of lesson 07, the CLIP heads of lesson 08), but the
#   measurement itself happens here.
# - **Asserts over committed results** check numbers that a script in `scripts/` measured
#   once, because the runs (several seeds, more labels) do not fit a notebook's few minutes
#   on a laptop. The results are committed under `data/` with the script's config, seed and
#   log, and read checksum-verified. They say the effect held when the script ran, not on
#   your machine; rerun the script to check that.
#
# | lesson | committed result | made by | seeds | log |
# |---|---|---|---|---|
# | 01 | `data/lesson01/curve.json`: accuracy against labels per class | `scripts/lesson01_curve.py` | 0, 1, 2 | `log` in the file |
# | 04 | `data/ulmfit/minilm_sweep.json`: recipes against learning rates | `scripts/ulmfit_sweep.py` | 0, 1, 2 | one row per run in the file |
# | 05 | `data/lesson05/results.json`: n = 100 and 500, SmolLM2 | `scripts/lesson05_runs.py` | 0 | `log` in the file |
# | 06 | `data/lesson06/table.json`: every method at n = 500, the rank sweep | `scripts/lesson06_table.py` | 0 | `data/lesson06/log.txt` |
#
# Lessons 01 and 04 also rerun a small part of their script live and assert that it agrees
# with the committed numbers. So if a lesson runs to the end, its live claims held on your
# machine, and its committed results are the ones the script produced.
#
# **Graded exercises** sit beside each lesson (`NN_..._exercises.ipynb`). Each exercise is a
# function to complete between the comments the notebook shows you, followed by a cell of
# tests you can run to check yourself. Your instructor grades your notebook with more
# (hidden) tests, so make the function correct, not only the visible checks green. Each
# exercise is graded on its own: a mistake in one costs only that one.
#
# **Instructors** release student copies and autograde a class with two commands
# (`python3 course.py release`, `python3 course.py grade SUBMISSIONS`): see the README.
#
# **The library** behind the notebooks is `course_lib/`: everything longer than a few lines
# lives there, documented and tested. Read it when you want to see how something is done.
#
# ## Summary
#
# - Packages and assets (every file the course reads) are checked offline, by checksum.
# - The device is chosen automatically (CUDA, MPS, then CPU) and printed.
# - A real ImageNet model recognises photos it never saw: that knowledge is what the course
#   transfers.
#
# **Try this**: set the temperature to 0.1 and then to 10 for the coffee photo; which classes
# appear when the distribution flattens?
#
# **Next**: `00_setup_and_tour_exercises.ipynb` (a warm-up for the grading: two small
# functions, a training loop graded on images it never saw, and a question on the
# temperature), then lesson 01.
