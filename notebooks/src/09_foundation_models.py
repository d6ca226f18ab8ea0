# %% [markdown]
# # 09 Foundation models: one model, many tasks
#
# The chapter ends with its central idea. Bommasani et al. (2021) named it: a **foundation
# model** is a model trained on broad data at scale that can be adapted to a wide range of
# downstream tasks. Its properties: **adaptation** (one model, adapted cheaply per task),
# **homogenization** (many tasks built on the same model, so they share its strengths and its
# flaws) and **emergence** (abilities that appear with scale and were never trained for).
#
# This lesson closes the course by measuring that idea at laptop scale:
#
# 1. **One base, many tasks.** One frozen pretrained MiniLM adapted to three different tasks,
#    each by a linear probe and by a small LoRA.
# 2. **Multi-task serving.** The base loaded once, each task's LoRA weights and head swapped in
#    at inference, checked against the separately trained models; storage and memory of
#    "one base + N adapters" against "N fully fine-tuned copies", measured.
# 3. **Homogenization and emergence**, shown honestly at this scale.
# 4. **The chapter's two tables** (the comparison of adaptation methods and the paradigm
#    shift) filled with this course's measurements, with the cells where they disagree.
# 5. **A synthesis**: each of the chapter's takeaways, the lesson that measured it, and the number.
#
# The base is MiniLM, `sentence-transformers/all-MiniLM-L6-v2`: a 6-layer BERT-style encoder
# (384 dimensions, 22.7M parameters), distilled from a larger model and then contrastively
# fine-tuned on over a billion sentence pairs to make sentence embeddings. It is not a raw
# masked-language-model checkpoint (no MLM head ships with it), and at 22.7M parameters it is
# a small stand-in for the models the chapter has in mind: the mechanics are the same, the
# scale is not, and the lesson says where that matters.

# %%
import copy
import json
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib import foundation as F
from course_lib import peft as P
from course_lib import seed_everything
from course_lib.assets import path as asset_path
from course_lib.device import describe_device
from course_lib.models import load_minilm, load_minilm_tokenizer
from course_lib.textdata import batches, encode
from course_lib.training import accuracy, count_parameters, fit_linear_probe
from course_lib.transformers_ft import committed_results, minilm_features

seed_everything(0)
device = torch.device("cpu")  # a 22.7M-parameter model and a few hundred sentences: the CPU is enough
print(describe_device(device))

# %% [markdown]
# ## 1. One base, three tasks
#
# Three tasks the course already has offline, chosen to be different in kind:
#
# - **polarity**: is a movie-review sentence positive or negative (Pang & Lee; lessons 05-06);
# - **BBC topic**: the first 40 words of a BBC News article (title and lead): business,
#   entertainment, politics, sports or tech (lesson 04);
# - **Brown genre**: one sentence of the Brown corpus: news, romance, learned (scientific
#   prose) or hobbies; test sentences come from other files than training sentences.
#
# Each gets a few hundred labelled examples. Inputs are cut to 40 tokens.

# %%
MAX_LEN = 40
tokenizer = load_minilm_tokenizer()
base = load_minilm().eval()  # the frozen base every task shares; never changed below
base_before = {k: v.clone() for k, v in base.state_dict().items()}
print(f"MiniLM: {count_parameters(base, trainable_only=False):,} parameters, {base.config.num_hidden_layers} layers, "
      f"{base.config.hidden_size} dimensions")
tasks = F.lesson_tasks()
for t in tasks.values():
    print(f"{t.name:<12} {t.num_classes} classes, {len(t.train)} training and {len(t.test)} test examples: {t.about}")
    print(f"{'':<12} e.g. '{t.train.texts[1][:70]}...' -> {t.classes[t.train.labels[1]]}")

# %% [markdown]
# ## 2. Adaptation by linear probes on cached features
#
# The cheapest adaptation: embed every sentence once with the frozen base (mean pooling over
# the real tokens), then fit a logistic-regression head per task. The head's weight decay is
# chosen per task by 4-fold cross-validation **on the training set** (never the test set).

# %% tags=["nbval-ignore-output"]
feats = {}
for name, t in tqdm(tasks.items(), desc="embed each task once"):
    feats[name] = (minilm_features(t.train.texts, max_length=MAX_LEN, progress=False, model=base),
                   minilm_features(t.test.texts, max_length=MAX_LEN, progress=False, model=base))

# %%
probes, probe_acc, decay = {}, {}, {}
for name, t in tasks.items():
    train_x, test_x = feats[name]
    decay[name], _ = F.choose_weight_decay(train_x, t.train.labels)
    probes[name] = fit_linear_probe(train_x, torch.as_tensor(t.train.labels), num_classes=t.num_classes,
                                    weight_decay=decay[name])
    with torch.no_grad():
        probe_acc[name] = accuracy(probes[name](test_x), torch.as_tensor(t.test.labels))
    print(f"{name:<12} probe: {100 * probe_acc[name]:.0f} % test accuracy (chance {100 / t.num_classes:.0f} %), "
          f"weight decay {decay[name]:g}, {P.parameter_report(probes[name].linear)['trainable']:,} parameters")
for name, t in tasks.items():
    assert probe_acc[name] > 1 / t.num_classes + 0.1, f"{name}: the frozen features should put the probe far above chance"

# %% [markdown]
# How many labels does each task need? Probes fit on k labelled examples per class (k = 1 to
# 60, which is all of BBC's and Brown's training examples and half of polarity's), averaged
# over 3 random draws of the examples, on the cached features (no model runs):

# %%
KS = [1, 2, 5, 10, 20, 60]
curves = {name: F.label_curve(feats[name][0], t.train.labels, feats[name][1], t.test.labels, KS, decay[name])
          for name, t in tasks.items()}
fig, ax = plt.subplots(figsize=(6.5, 3.6))
for name, t in tasks.items():
    ks = sorted(curves[name])
    line, = ax.plot(ks, [100 * curves[name][k] for k in ks], marker="o", label=name)
    ax.axhline(100 / t.num_classes, color=line.get_color(), ls=":", lw=1)
ax.set_xscale("log")
ax.set(xlabel="labelled examples per class (log scale)", ylabel="test accuracy (%)",
       title="linear probes on one frozen base (dotted: chance)")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
plt.show()
for name in tasks:
    print(f"{name:<12} " + "  ".join(f"k={k}: {100 * a:.0f} %" for k, a in curves[name].items()))
bbc_5 = curves["BBC topic"][5]
assert bbc_5 > 0.6, "five labelled articles per topic should already classify most BBC articles"
assert curves["polarity"][60] > curves["polarity"][20] + 0.03, "polarity still gains from more labels"

# %% [markdown]
# With **five labelled articles per topic** the probe already sorts most BBC articles (the
# printed k = 5 accuracy is asserted above 60 %, against 20 % chance): the base did most of the
# work before any label was seen. The sentence tasks are harder for the frozen features:
# polarity is still climbing at the last k (asserted: more than 3 points from k = 20 to 60).
#
# ## 3. Adaptation by LoRA, one per task
#
# LoRA (lesson 06's `course_lib.peft`): rank r = 4 on the query and value projections of all
# 6 layers, α = 8, AdamW at 5e-4, 3 epochs, batch 16. Each task trains its own A and B on its
# own copy of the base; its head **starts from the task's probe** (linear probing, then
# fine-tuning; Kumar et al. 2022), so the few hundred steps a laptop can afford go into
# adapting the base rather than into finding a head. The training memory is counted tensor by
# tensor for one step (weights, gradients, AdamW's moments, saved activations:
# `peft.training_memory`, lesson 06); times are wall-clock on your machine.

# %%
R, ALPHA, EPOCHS, LR = 4, 8.0, 3, 5e-4
lora_models, runs = {}, {}


def run_lora(name):
    t = tasks[name]
    enc = encode(t.train.texts, tokenizer, MAX_LEN)
    model = F.lora_model(base, t.num_classes, probe=probes[name], r=R, alpha=ALPHA)
    memory = P.training_memory(model, batches(enc, t.train.labels, 16)[0])
    c0 = time.process_time()
    hist = F.train_lora(model, enc, t.train.labels, epochs=EPOCHS, lr=LR, desc=f"LoRA {name}")
    cpu = time.process_time() - c0
    logits = F.logits_of(model.eval(), encode(t.test.texts, tokenizer, MAX_LEN))
    lora_models[name] = model
    runs[name] = {"accuracy": accuracy(logits, torch.as_tensor(t.test.labels)), "seconds": hist.seconds, "cpu": cpu,
                  "memory": memory, "tokens": F.tokens_seen(enc, EPOCHS), **P.parameter_report(model)}
    print(f"{name:<12} LoRA: {100 * runs[name]['accuracy']:.0f} % test accuracy (probe {100 * probe_acc[name]:.0f} %), "
          f"{hist.seconds:.1f} s")


# %% tags=["nbval-ignore-output"]
run_lora("polarity")

# %% tags=["nbval-ignore-output"]
run_lora("BBC topic")

# %% tags=["nbval-ignore-output"]
run_lora("Brown genre")

# %% [markdown]
# One base, three tasks, two ways of adapting it. Accuracies of live training runs are printed
# to the whole percent (their last digit can move between processors):

# %%
rows = []
for name, t in tasks.items():
    probe_mem = P.training_memory(torch.nn.Linear(384, t.num_classes),  # a probe step on 16 cached feature vectors
                                  {"input": feats[name][0][:16], "labels": torch.as_tensor(t.train.labels[:16])})
    rows.append([name, "linear probe", f"{P.parameter_report(probes[name].linear)['trainable']:,}",
                 f"{100 * probe_acc[name]:.0f} %", f"{probe_mem['total'] / 2**20:.1f} MB"])
    run = runs[name]
    rows.append(["", "LoRA r = 4", f"{run['trainable']:,} ({run['percent']:.2f} %)", f"{100 * run['accuracy']:.0f} %",
                 f"{run['memory']['total'] / 2**20:.0f} MB"])
print(F.text_table(rows, ["task", "method", "parameters trained", "accuracy", "training memory (one step)"]))
gain = {name: runs[name]["accuracy"] - probe_acc[name] for name in tasks}
for name, t in tasks.items():
    assert runs[name]["percent"] < 1.0, "each LoRA trains under 1 % of its model"
    assert runs[name]["accuracy"] > 1 / t.num_classes + 0.1, f"{name}: LoRA far above chance"
    assert gain[name] > -0.05, f"{name}: LoRA, started from the probe, should not fall clearly behind it"
assert np.mean(list(gain.values())) > 0.0, "on average over the tasks, adapting the base should add accuracy"
print("LoRA minus probe, points: " + ", ".join(f"{n} {100 * g:+.0f}" for n, g in gain.items()))

# %% [markdown]
# The probe's training memory is tiny because it never backpropagates into the base (the
# table counts a probe step on 16 cached feature vectors); LoRA's is dominated by the
# activations kept for the backward pass through all six layers (lesson 06). LoRA changes
# what the base computes, per task, and on average over the three tasks that adds accuracy on
# top of the probe it started from (asserted above; the printed differences per task show
# where).
#
# ## 4. Multi-task serving: one base, adapters swapped in
#
# A serving process loads the base **once** (`TaskServer`), injects empty LoRA slots into its
# query and value projections once, and keeps per task only what the task trained: A and B
# (LoRA) and a head. Answering for a task copies its A and B into the slots (a probe serves
# with B = 0, i.e. the base as it is) and applies its head. Is that the same model as the one
# trained separately? The check runs the tasks in a shuffled order, so each swap must fully
# replace the previous task's weights.

# %%
server = F.TaskServer(load_minilm().eval(), tokenizer, r=R, alpha=ALPHA, max_length=MAX_LEN)
for name, t in tasks.items():
    server.add(name, F.PROBE, t.classes, probes[name])
    server.add(name, F.LORA, t.classes, copy.deepcopy(lora_models[name].head), F.adapter_state(lora_models[name]))

order = [("polarity", F.LORA), ("BBC topic", F.PROBE), ("Brown genre", F.LORA), ("polarity", F.PROBE),
         ("BBC topic", F.LORA), ("Brown genre", F.PROBE), ("polarity", F.LORA)]
worst, same_preds = 0.0, True
for name, method in order:
    texts = tasks[name].test.texts[::4]
    served = server.logits(name, method, texts)
    if method == F.LORA:
        alone = F.logits_of(lora_models[name], encode(texts, tokenizer, MAX_LEN))
    else:
        with torch.no_grad():
            alone = probes[name](feats[name][1][::4])
    diff = (served - alone).abs().max().item()
    worst, same_preds = max(worst, diff), same_preds and torch.equal(served.argmax(1), alone.argmax(1))
    print(f"{name:<12} {method:<13} {len(texts)} test sentences: max |logit difference| from the separate model < 1e-4: {diff < 1e-4}")
print(f"every prediction identical: {same_preds}")
assert worst < 1e-4 and same_preds, "serving on the shared base must reproduce the separately trained models"
base_same = all(torch.equal(base_before[k], v) for k, v in base.state_dict().items())
served_same = all(torch.equal(base_before[k], v) for k, v in server.base_state().items())
print(f"the base's own weights unchanged, in the lesson's copy and in the server: {base_same and served_same}")
assert base_same and served_same

# %% [markdown]
# Now storage and memory. A "fully fine-tuned copy" per task is what you ship if each task has
# its own network: here, each task's LoRA merged into the base (`peft.merge_lora`) gives
# exactly such a copy, same outputs, base-sized. Bytes are measured: the state dicts as
# `torch.save` writes them, and the tensors each way of serving holds in memory.

# %%
copies = {}
for name in tasks:
    merged = copy.deepcopy(lora_models[name])
    P.merge_lora(merged)
    copies[name] = merged
    texts = tasks[name].test.texts[:32]
    merge_diff = (F.logits_of(merged, encode(texts, tokenizer, MAX_LEN)) -
                  F.logits_of(lora_models[name], encode(texts, tokenizer, MAX_LEN))).abs().max().item()
    assert merge_diff < 1e-4, "a merged copy answers like its LoRA model"

base_bytes = F.state_nbytes(server.base_state())
adapter_bytes = {name: F.state_nbytes(server.task_state(name, F.LORA)) for name in tasks}
probe_bytes = {name: F.state_nbytes(server.task_state(name, F.PROBE)) for name in tasks}
copy_bytes = {name: F.state_nbytes(copies[name].state_dict()) for name in tasks}
shared_files = base_bytes + sum(adapter_bytes.values()) + sum(probe_bytes.values())
copy_files = sum(copy_bytes.values())
shared_ram, copies_ram = F.resident_nbytes(server), F.resident_nbytes(*copies.values())
n = len(tasks)
print(f"base: {base_bytes / 2**20:.1f} MB; per task: LoRA + head {np.mean(list(adapter_bytes.values())) / 2**10:.0f} KB, "
      f"probe head {np.mean(list(probe_bytes.values())) / 2**10:.0f} KB; a full copy {np.mean(list(copy_bytes.values())) / 2**20:.1f} MB")
print(f"storage for {n} tasks: one base + {n} LoRAs + {n} probes {shared_files / 2**20:.1f} MB "
      f"vs {n} full copies {copy_files / 2**20:.1f} MB: {copy_files / shared_files:.1f}x")
print(f"memory for {n} tasks: one server {shared_ram / 2**20:.1f} MB vs {n} copies {copies_ram / 2**20:.1f} MB: "
      f"{copies_ram / shared_ram:.1f}x")
one_adapter = np.mean(list(adapter_bytes.values()))
print(f"one LoRA adapter is {100 * one_adapter / base_bytes:.2f} % of the base; "
      f"{base_bytes // one_adapter:.0f} adapters fit in the bytes of one copy")
assert all(b < 0.01 * base_bytes for b in adapter_bytes.values()), "an adapter is under 1 % of the base"
assert 2.5 < copy_files / shared_files < 3.0 and 2.5 < copies_ram / shared_ram < 3.0, "three copies ~ 3x one base"

# %% [markdown]
# Three tasks cost about three times less with one shared base (asserted between 2.5x and 3x:
# the adapters and heads add a little). The saving grows with the number of tasks: N copies
# grow by a whole base per task, the shared base by one adapter per task. Move the slider
# (sizes measured above):

# %% tags=["nbval-ignore-output"]
full_copy = int(np.mean(list(copy_bytes.values())))
F.footprint_widget(base_bytes, int(one_adapter), full_copy, n_tasks=n, max_tasks=100)

# %%
f100 = F.footprint(base_bytes, int(one_adapter), full_copy, 100)
print(F.footprint_text(base_bytes, int(one_adapter), full_copy, 100))
assert f100["copies"] / f100["shared"] > 50, "at 100 tasks the shared base saves over 50x"

# %% [markdown]
# One caveat the numbers hide: swapping adapters serves **one task at a time** on the shared
# base (or batches of one task). Serving several tasks in the same batch needs the unmerged
# form, where each example's A and B are applied beside the frozen W (what multi-LoRA servers
# do); merging B·A into W removes LoRA's extra compute but ties the weights to one task.
#
# ## 5. Homogenization: one base, one set of blind spots
#
# Every task above reads the world through the same base. Whatever the base cannot see, no
# head can recover. The simplest such blind spot is exact: MiniLM's tokenizer lower-cases
# everything, so two inputs that differ only in case are **the same input** for every task.

# %%
case_pairs = [("Apple unveils a new phone", "apple unveils a new phone"),
              ("The US economy is growing", "The us economy is growing"),
              ("I LOVED THIS FILM", "i loved this film"),
              ("Bush wins the vote", "bush wins the vote")]
same_tokens = all(tokenizer(a)["input_ids"] == tokenizer(b)["input_ids"] for a, b in case_pairs)
same_answers = all(torch.equal(server.logits(name, method, [a for a, _ in case_pairs]),
                               server.logits(name, method, [b for _, b in case_pairs]))
                   for name, method in server.entries)
print(f"identical token ids for every pair: {same_tokens}")
print(f"identical logits for every pair, in all {len(server.entries)} task heads (3 probes, 3 LoRAs): {same_answers}")
assert same_tokens and same_answers, "case is invisible to every task built on this base"

# %% [markdown]
# "Apple" the company and "apple" the fruit, "US" and "us", George Bush and a bush: every task
# inherits the confusion, and no amount of task data fixes it, because the information is
# gone before any task-specific weight sees it. A subtler inherited weakness is **negation**:
# the frozen base places a sentence and its negation close together.

# %%
positive = ["the film is good", "the acting is wonderful", "the story is moving", "the ending is satisfying",
            "the script is clever", "the cast is excellent", "the music is beautiful", "the plot is engaging",
            "the movie is funny", "the characters are believable", "the dialogue is sharp", "the pacing is perfect"]
negated = [s.replace(" is ", " is not ").replace(" are ", " are not ") for s in positive]
other = positive[1:] + positive[:1]  # a different positive sentence about another aspect
with torch.no_grad():
    e_pos, e_neg, e_other = (torch.nn.functional.normalize(server.features(x), dim=1) for x in (positive, negated, other))
cos_neg, cos_other = (e_pos * e_neg).sum(1), (e_pos * e_other).sum(1)
print(f"cosine(sentence, its negation): mean {cos_neg.mean():.2f}; cosine(sentence, another positive sentence): "
      f"mean {cos_other.mean():.2f}")
assert cos_neg.mean() > cos_other.mean(), "the base puts a sentence nearer its negation than another sentence of the same sentiment"
neg_rate = {}
for method in (F.PROBE, F.LORA):
    pos_pred = server.logits("polarity", method, positive).argmax(1)
    neg_pred = server.logits("polarity", method, negated).argmax(1)
    neg_rate[method] = float((neg_pred == 0).float().mean())
    print(f"polarity {method:<13} positive sentences called positive: {int(pos_pred.sum())} of {len(positive)}; "
          f"negated ones called negative: {int((neg_pred == 0).sum())} of {len(negated)}")

# %% [markdown]
# By the base's own geometry, a sentence such as "the film is good" is on average much closer
# to its negation, "the film is not good", than to another positive sentence such as "the
# acting is wonderful" (mean cosines printed above; the order asserted). The polarity heads must
# separate what the base has put side by side; the counts above show how well each does on
# these crafted pairs (a dozen sentences: an illustration, not a benchmark). A head on frozen
# features can only draw a line through the base's geometry; LoRA can move the geometry, but
# only for its own task: the other tasks keep the base's blind spots.
#
# ## 6. Emergence, honestly
#
# Emergent abilities are those that appear only at scale: in-context learning from examples
# in the prompt (GPT-3, Brown et al. 2020, reported few-shot accuracy rising with model size),
# step-by-step reasoning, following instructions never trained as tasks. **This course cannot
# show them**, and it should not pretend to. MiniLM is an encoder: it has no way to generate
# text at all. The largest model the course runs, SmolLM2-135M, was tested in lesson 05:

# %%
l05 = committed_results()
few = l05["smollm2"]["few_shot"]
print(f"SmolLM2-135M, {few['n_test']} test sentences (lesson 05, committed): zero-shot {100 * few['zero_shot_same_subset']:.1f} %, "
      f"with 4 labelled examples in the prompt {100 * few['few_shot']:.1f} %")
assert few["few_shot"] < few["zero_shot_same_subset"], "at 135M parameters, examples in the prompt did not help"

# %% [markdown]
# Four labelled examples in the prompt made SmolLM2-135M **worse** than none (the printed
# numbers; asserted). In-context learning is the textbook emergent ability, and at 135M
# parameters it is not there. The chapter's claims about emergence are about models a
# thousand times larger; this course can only report that it does not see them at its scale.
#
# ## 7. The chapter's comparison table, filled with the course's numbers
#
# The chapter compares adaptation methods qualitatively. Lesson 06 measured all five on one
# task (polarity, n = 500, 64 tokens, 6 epochs, committed by `scripts/lesson06_table.py`, 2
# threads per run); this lesson added live probes and LoRAs on three tasks. Side by side:

# %%
committed = P.load_committed_table()
table = {row["method"]: row for row in committed["table"]}
methods = list(F.CHAPTER_CLAIMS)
full = table["full fine-tuning"]
rows = []
for m in methods:
    c, row = F.CHAPTER_CLAIMS[m], table[m]
    rows.append([m, c["trained"], f"{row['percent']:.3f} %", c["accuracy"], f"{100 * row['accuracy']:.1f} %", c["memory"],
                 f"{row['memory_mb']:.0f} MB", f"{row['cpu_seconds_per_epoch'] / full['cpu_seconds_per_epoch']:.2f}",
                 c["use"]])
print("chapter's claim vs lesson 06's measurement (polarity, n = 500):\n")
print(F.text_table(rows, ["method", "chapter: trains", "measured", "chapter: accuracy", "measured", "chapter: memory",
                          "measured", "CPU/epoch vs full", "chapter: use case"]))
live_probe = np.mean([probe_acc[n] for n in tasks])
live_lora = np.mean([runs[n]["accuracy"] for n in tasks])
print(f"\nthis lesson, live, mean over {len(tasks)} tasks: linear probe {100 * live_probe:.0f} %, LoRA {100 * live_lora:.0f} %")

# %% [markdown]
# Where the course's numbers agree with the chapter, and where they do not (each verdict is
# computed from the table and asserted below):

# %%
acc = {m: table[m]["accuracy"] for m in methods}
mem = {m: table[m]["memory_mb"] for m in methods}
best = max(acc, key=acc.get)
verdicts = [
    ("LoRA trains under 1 %", table["LoRA"]["percent"] < 1.0),
    ("LoRA and adapters come near full fine-tuning (within 3 points)",
     abs(acc["LoRA"] - acc["full fine-tuning"]) < 0.03 and abs(acc["adapter"] - acc["full fine-tuning"]) < 0.03),
    ("full fine-tuning has the best accuracy", best == "full fine-tuning"),
    ("linear probing is the cheapest and the least accurate of the five",
     mem["linear probe"] == min(mem.values()) and acc["linear probe"] == min(acc.values())),
    ("prompt tuning needs the least memory of the gradient-based methods",
     mem["prompt tuning"] < min(mem["LoRA"], mem["adapter"])),
    ("prompt tuning's accuracy trails at this model size", acc["prompt tuning"] < acc["full fine-tuning"] - 0.02),
    ("one base + adapters serve many tasks for the bytes of about one copy (section 4)", copy_files / shared_files > 2.5),
]
for claim, holds in verdicts:
    print(f"{'agrees  ' if holds else 'DISAGREES'}  {claim}")
print(f"\nbest accuracy at n = 500: {best} ({100 * acc[best]:.1f} %, full fine-tuning {100 * acc['full fine-tuning']:.1f} %)")
se = np.sqrt(acc["full fine-tuning"] * (1 - acc["full fine-tuning"]) / 1000)
print(f"one standard error of an accuracy near {100 * acc['full fine-tuning']:.0f} % on 1,000 test sentences: {100 * se:.1f} points")
print(f"training memory: prompt tuning {mem['prompt tuning']:.0f} MB, LoRA {mem['LoRA']:.0f} MB; "
      f"activations are {table['prompt tuning']['memory']['activations'] / (mem['prompt tuning'] * 2**20):.0%} of prompt tuning's")
verdict = dict(verdicts)
assert not verdict["full fine-tuning has the best accuracy"] and best == "LoRA", "LoRA edged out full fine-tuning here"
assert abs(acc["LoRA"] - acc["full fine-tuning"]) < 0.03, "... but by less than the noise of 1,000 test sentences"
assert not verdict["prompt tuning needs the least memory of the gradient-based methods"], "activations dominate"
assert all(verdict[c] for c, _ in verdicts if c not in ("full fine-tuning has the best accuracy",
                                                        "prompt tuning needs the least memory of the gradient-based methods"))

# %% [markdown]
# **The disagreements, explained.**
#
# - *Full fine-tuning: best accuracy.* Not here: LoRA came out on top at n = 500 (printed
#   above), by a margin smaller than the noise of a 1,000-sentence test set (one standard
#   error, printed, is over a point; the margin is asserted under 3 points). With 500 labels, updating 22.7M weights has no advantage over
#   updating 74 thousand; the chapter's claim is about large data sets, where full
#   fine-tuning's extra capacity can be used.
# - *Prompt tuning: very low memory.* Not on this model. Prompt tuning stores almost no
#   gradients or optimizer states, but the backward pass still runs through every layer, and
#   its 20 extra tokens make every sequence longer, so it keeps **more activations** than
#   LoRA; activations dominate its training memory (the printed share). Its savings are in
#   the 12 bytes of gradient and AdamW moments per frozen fp32 weight, which on a 22.7M model
#   is little and on a 10B model is most of the memory.
# - *Prompt tuning: good for very large models.* Consistent, at the course's scale, with the
#   other half of that claim: at 22.7M parameters its accuracy trails full fine-tuning by
#   more than 2 points (asserted). Lester et al. (2021) found the gap closes only at billions
#   of parameters, which the course cannot test.
# - *LoRA: multi-task serving.* Confirmed and measured in section 4: one base plus adapters,
#   same predictions as separate models, a fraction of the storage.
#
# ## 8. The paradigm shift, measured
#
# The chapter contrasts three ways of building a model for a task: traditional ML (train
# from scratch on the task's labels), transfer learning (pretrain, then fine-tune per task)
# and foundation models (pretrain once at scale, adapt cheaply or just prompt). Its table
# compares labels needed and compute. The course's committed runs measure the labels:

# %%
l01 = json.loads(asset_path("lesson01-curve").read_text())["mean_test_acc"]
m05 = l05["minilm"]
rows = [
    ["images (lesson 01)", "EfficientNet from random init, 10 labels per class", f"{100 * l01['random_init']['10']:.1f} %"],
    ["", "small CNN from scratch, 10 labels per class", f"{100 * l01['small_cnn']['10']:.1f} %"],
    ["", "ImageNet features + linear probe, 10 labels per class", f"{100 * l01['probe']['10']:.1f} %"],
    ["polarity (lesson 05)", "MiniLM from random init, 500 labels", f"{100 * m05['n500']['random_init']:.1f} %"],
    ["", "pretrained MiniLM fine-tuned, 500 labels", f"{100 * m05['n500']['finetune']:.1f} %"],
    ["", "SmolLM2-135M zero-shot, 0 labels", f"{100 * l05['smollm2']['zero_shot']:.1f} %"],
    ["BBC topic (this lesson)", "frozen MiniLM + probe, 5 labels per class", f"{100 * curves['BBC topic'][5]:.0f} %"],
]
print(F.text_table(rows, ["task", "model and labels", "test accuracy"]))
assert m05["n500"]["finetune"] > m05["n500"]["random_init"] + 0.1, "pretraining is worth more than 500 labels"
assert l05["smollm2"]["zero_shot"] > m05["n500"]["random_init"] + 0.1, "zero labels on a pretrained LM beat 500 from scratch"
assert l01["probe"]["10"] > l01["random_init"]["10"] + 0.3, "ImageNet features beat random init at 10 labels per class"
assert abs(l01["small_cnn"]["10"] - l01["probe"]["10"]) < 0.05, "a small CNN from scratch is competitive on silhouettes"

# %% [markdown]
# The labels column of the chapter's table, measured: from scratch, 500 polarity labels
# leave MiniLM's architecture far below the pretrained one fine-tuned on the same 500
# (asserted: more than 10 points), and a pretrained language model with **no labels at all**
# beats the from-scratch network too (asserted). One honest nuance from lesson 01: on simple
# silhouettes a small CNN with the right inductive bias, trained from scratch, is competitive
# with ImageNet features at 10 labels per class (within 5 points, asserted); the deep
# EfficientNet from random init falls far behind both.
#
# Now compute. The usual estimate of training compute is 6 FLOPs per parameter per token
# (Kaplan et al. 2020). It is an **estimate**, used here for the order of magnitude only.
# The published figures, with their sources:

# %%
card = F.model_card()
for key in ("minilm_pairs", "minilm_finetune"):
    print(f"all-MiniLM-L6-v2: {F.PUBLISHED[key][0]}  [{F.PUBLISHED[key][1]}]")
assert "1B sentence pairs" in card and "TPU v3-8" in card and "100k steps" in card and "batch size of 1024" in card
for key in ("minilm_finetune_hours", "minilm_distillation_compute"):
    print(f"{key.replace('_', ' ')}: {F.PUBLISHED[key][1]}")
for key in ("bert_base_params", "bert_base_hardware", "bert_base_steps", "bert_base_tokens_per_batch"):
    print(f"BERT-base: {F.PUBLISHED[key][0]:,}  [{F.PUBLISHED[key][1]}]" if not isinstance(F.PUBLISHED[key][0], str)
          else f"BERT-base: {F.PUBLISHED[key][0]}  [{F.PUBLISHED[key][1]}]")

bert_tokens = F.PUBLISHED["bert_base_steps"][0] * F.PUBLISHED["bert_base_tokens_per_batch"][0]
bert_flops = F.training_flops(F.PUBLISHED["bert_base_params"][0], bert_tokens)
minilm_tokens_max = 100_000 * 1024 * 2 * 128  # steps x pairs per batch x 2 sentences x at most 128 tokens
minilm_flops_max = F.training_flops(P.minilm_shapes()["encoder_total"], minilm_tokens_max)
ours_tokens = sum(runs[n]["tokens"] for n in tasks)
ours_flops = F.training_flops(runs["polarity"]["total"], ours_tokens)
ours_seconds = sum(runs[n]["seconds"] for n in tasks)
print("\nestimates (6 x parameters x tokens):")
print(f"  BERT-base pretraining: {bert_tokens:.2e} tokens -> {bert_flops:.1e} FLOPs")
print(f"  all-MiniLM-L6-v2 contrastive fine-tuning: at most {minilm_tokens_max:.2e} tokens -> at most {minilm_flops_max:.1e} FLOPs "
      f"(plus the distillation before it: not published)")
print(f"  this lesson's 3 LoRA runs: {ours_tokens:,} tokens -> {ours_flops:.1e} FLOPs, {ours_seconds:.0f} s on this machine")
ratio = bert_flops / ours_flops
print(f"  one BERT-base-sized pretraining = the compute of about 10^{np.log10(ratio):.0f} adaptations like this lesson's three")
assert 1e5 < ratio < 1e9, "pretraining should dwarf adaptation by many orders of magnitude"
assert 1e19 < bert_flops < 1e20 and minilm_flops_max < bert_flops

# %% [markdown]
# **Compute amortized across users**, in numbers: a BERT-base-sized pretraining (a published
# 4 days on 16 TPU chips; between 10^19 and 10^20 FLOPs by the estimate, asserted) costs as
# much as the printed power of ten of adaptations like the three above (asserted between
# 10^5 and 10^9). Paid once and shared, it is cheap per user: with N users each adapting the
# base, each carries 1/N of the pretraining plus its own adaptation, and the adaptation is
# what a laptop can afford. The same base then serves all of them (section 4). MiniLM itself
# is smaller: its contrastive fine-tuning on over a billion pairs stays below BERT-base's
# pretraining even at its upper bound (asserted; real pairs are mostly shorter than 128
# tokens), on top of a distillation whose compute the model card does not give.
#
# The paradigm-shift table, filled in:

# %%
paradigm = [
    ["labels needed", "many: 500 labels, MiniLM from scratch " + f"{100 * m05['n500']['random_init']:.0f} %",
     "fewer: the same 500, pretrained and fine-tuned " + f"{100 * m05['n500']['finetune']:.0f} %",
     f"few or none: 5 per class {100 * curves['BBC topic'][5]:.0f} % (BBC probe); 0 labels "
     f"{100 * l05['smollm2']['zero_shot']:.0f} % (SmolLM2 zero-shot)"],
    ["compute per task", "a full training per task", "a full fine-tuning per task (22.7M weights)",
     f"a LoRA: {np.mean([runs[n]['trainable'] for n in tasks]):,.0f} weights, ~{ours_flops / len(tasks):.0e} FLOPs"],
    ["compute shared", "none", "one pretraining per domain", f"one pretraining at scale (~{bert_flops:.0e} FLOPs for BERT-base)"],
    ["models stored for 3 tasks", "3 networks", f"3 full copies: {copy_files / 2**20:.0f} MB",
     f"1 base + 3 adapters: {shared_files / 2**20:.0f} MB"],
]
print(F.text_table(paradigm, ["", "traditional ML", "transfer learning", "foundation model"]))

# %% [markdown]
# ## 9. The chapter's takeaways, and where the course measured them
#
# | takeaway | lesson | the measurement that supports (or qualifies) it |
# |---|---|---|
# | Pretrained features beat training from scratch, most where labels are few | 01 | ImageNet probe vs random init at 10 labels per class (section 8's table); a small CNN from scratch is the honest nuance |
# | Static word vectors capture analogies, but one vector per word cannot separate senses | 02, 03 | lesson 02's analogy accuracy and "bank" neighbours; lesson 03's contextual vectors separate the senses |
# | Layers specialise: a task can learn which to use | 03 | lesson 03's scalar mix and per-layer probes |
# | Fine-tuning needs care: discriminative rates, schedules, gradual unfreezing | 04 | lesson 04: a naive high constant rate forgets, the ULMFiT recipe stays robust |
# | Pretrained transformers fine-tune well; generative models classify from their features | 05 | section 8: pretrained 500 labels vs random init; SmolLM2 zero-shot |
# | Parameter-efficient methods match full fine-tuning at a fraction of the parameters | 06 | section 7: LoRA and adapters within 3 points of full fine-tuning at 0.33 % and 1.35 % |
# | Transformers for vision need pretraining | 07 | lesson 07: DINOv2 features vs a ViT trained from scratch on the same labels |
# | Contrastive image-text training gives zero-shot classifiers | 08 | lesson 08: held-out concepts far above chance; out of domain, weak at thousands of pairs |
# | One base, many tasks: adaptation, shared serving, shared flaws | 09 | sections 2-5: three tasks on one base, identical served predictions, the storage ratio, the case blind spot |
# | Emergent abilities come with scale | 09 (05) | **not reproduced**: few-shot prompting hurt SmolLM2-135M (section 6) |
# | Prompt tuning is for very large models; PEFT saves memory | 06, 09 | **qualified**: at 22.7M parameters prompt tuning trails, and activations, not optimizer states, dominate training memory (section 7) |
#
# ## 10. Try it: one base, any task, any method
#
# Pick a task and a method and type a sentence: the server swaps that task's weights into the
# one shared base and answers.

# %% tags=["nbval-ignore-output"]
F.serve_widget(server)

# %%
peak = P.peak_rss_mb()
print(f"peak memory of this notebook's process: {peak:.0f} MB")
assert peak < 4000, "the lesson must stay under 4 GB"

# %% [markdown]
# ## Summary
#
# - A **foundation model** is trained once on broad data and adapted to many tasks. One
#   frozen MiniLM served three unrelated tasks here: polarity, news topics and genre, each
#   by a probe (a head only) and by a LoRA under 1 % of the parameters, started from the probe.
# - **Multi-task serving**: the base loaded once, each task's LoRA weights and head swapped
#   in, gave the same predictions as the separately trained models; the storage for three
#   tasks was about three times smaller than three fine-tuned copies, and the ratio grows
#   with the number of tasks.
# - **Homogenization** cuts both ways: every task inherits the base's abilities and its blind
#   spots (case is invisible to all six heads; a sentence sits close to its negation).
# - **Emergence** is not visible at this scale: few-shot prompting made a 135M model worse.
# - The chapter's comparison table mostly held on the course's numbers; two cells did not:
#   full fine-tuning was not the most accurate at 500 labels, and prompt tuning did not need
#   the least memory, because activations dominate on a small model.
#
# **Try this**
# 1. In the serving widget, type "Apple shares fell" and "apple pie recipe" into the BBC
#    task. What does the topic head make of the fruit?
# 2. Type a negated sentence ("the film is not good at all") into the polarity task with
#    the probe and with LoRA. Which one follows the negation?
# 3. Move the number-of-tasks slider: at what N does the shared base save 10x?
#
# **Exercises:** `09_foundation_models_exercises.ipynb` asks you to train and serve a new task
# beside the others on the shared base, and to choose an adaptation method for five use cases
# from the course's measurements.
