# %% [markdown]
# # 06 Parameter-efficient fine-tuning: LoRA, adapters, prompt and prefix tuning, linear probing
#
# Full fine-tuning updates every weight of a pretrained model: for MiniLM that is 22.7 million
# numbers, each with a gradient and two AdamW moments. The chapter's parameter-efficient
# methods freeze the pretrained network and train something small beside it:
#
# | method | what trains |
# |---|---|
# | **linear probing** | only a linear head on the frozen model's features |
# | **LoRA** (Hu et al., 2021) | a low-rank update B·A beside chosen weight matrices: W + (α/r)·B·A |
# | **bottleneck adapters** (Houlsby et al., 2019) | small down-up MLPs inserted after attention and after the feed-forward block |
# | **prompt tuning** (Lester et al., 2021) | a few learned "virtual token" vectors prepended to the input |
# | **prefix tuning** (Li & Liang, 2021) | learned key and value vectors prepended inside every attention layer |
# | **full fine-tuning** | everything |
#
# In this lesson you build each of them **from scratch** (`course_lib/peft/`, plain
# PyTorch), check the course's LoRA against the `peft` library's numerically, and measure
# the chapter's comparison table on one task: % of parameters trained, accuracy, memory and
# time per epoch. The model is MiniLM, `sentence-transformers/all-MiniLM-L6-v2`: a 6-layer
# BERT-style encoder distilled from a larger model and then **contrastively fine-tuned on over
# a billion sentence pairs** for sentence similarity, not a raw masked-language-model
# checkpoint. Its mean-pooled output is already a good sentence vector, which favours the
# cheap methods here (a linear probe on it starts strong); the gaps between methods would be
# larger on a raw pretrained encoder. It gets mean pooling and a linear head; the task is Pang & Lee sentence polarity (positive or negative movie
# review sentences), the same task as lesson 05.

# %%
import copy

import matplotlib.pyplot as plt
import torch

from course_lib import peft as P
from course_lib import seed_everything
from course_lib.device import describe_device, get_device
from course_lib.models import load_minilm, load_minilm_tokenizer
from course_lib.textdata import batches, encode, polarity_test, polarity_train
from course_lib.training import count_parameters, train_only

seed_everything(0)
device = get_device()
print(describe_device(device))

# %% [markdown]
# ## 1. The data: a small training set, a fixed test set
#
# To fit the whole lesson into a few minutes on a laptop CPU, the live runs use **200
# training sentences** cut to **32 tokens**. The same comparison at n = 500 and 64 tokens,
# which takes longer, was run by `scripts/lesson06_table.py`; its results are committed and
# shown in section 7. The test set is always the same 1,000 sentences (500 per class).

# %%
N_TRAIN, MAX_LEN, EPOCHS = 200, 32, 5
tokenizer = load_minilm_tokenizer()
train, test = polarity_train(N_TRAIN), polarity_test()
train_enc = encode(train.texts, tokenizer, MAX_LEN)
test_enc = encode(test.texts, tokenizer, MAX_LEN)
test_batches = batches(test_enc, test.labels, batch_size=64)
print(f"train: {len(train)} sentences ({int(train.labels.sum())} positive), test: {len(test)}")
print("example:", train.texts[0][:90], "->", ["negative", "positive"][train.labels[0]])

# %% [markdown]
# ## 2. LoRA from scratch
#
# A LoRA layer keeps the pretrained linear layer `W` (out x in) **frozen** and adds a
# trainable low-rank path beside it:
#
# $$ y = x W^\top + b + \frac{\alpha}{r}\, x A^\top B^\top, \qquad A \in \mathbb{R}^{r \times \text{in}},\; B \in \mathbb{R}^{\text{out} \times r}. $$
#
# `A` starts random and `B` starts at **zero**, so at the start the layer computes exactly
# what the pretrained layer did, and training moves away from the pretrained model smoothly.
# Only `A` and `B` train: r·(in + out) numbers instead of in·out. The factor α/r keeps the
# size of the update comparable when you change r.
#
# Here is one of MiniLM's query projections (384 x 384) wrapped in a `LoRALinear` of rank 8:

# %%
encoder = load_minilm()  # the bare MiniLM encoder (no head)
query = encoder.encoder.layer[0].attention.self.query
lora = P.LoRALinear(copy.deepcopy(query), r=8, alpha=16)
x = torch.randn(4, 384)
with torch.no_grad():
    same = torch.equal(lora(x), query(x))
n_lora = count_parameters(lora)
print(lora)
print(f"trainable: {n_lora:,} (A {tuple(lora.A.shape)} + B {tuple(lora.B.shape)}) vs {query.weight.numel():,} in W")
print("with B = 0 the output equals the pretrained layer's exactly:", same)
assert same and n_lora == 8 * (384 + 384)

# %% [markdown]
# ### Into MiniLM: query and value of every layer
#
# `inject_lora` replaces the `query` and `value` projections of all 6 layers (12 linears) by
# `LoRALinear`s, as the LoRA paper did. Three checks, each asserted:
#
# 1. With B = 0 (as initialised) the whole encoder's outputs equal the pretrained model's.
# 2. With random A and B, the course's LoRA gives the same outputs as the **`peft` library's**
#    LoRA given the same A and B.
# 3. After **merging** (W ← W + (α/r)·B·A) the outputs equal the unmerged model's to float
#    tolerance, and the merged model has exactly as many parameters as the original:
#    inference with LoRA costs nothing extra.

# %%
batch = batches(test_enc, batch_size=8)[0]  # input_ids and attention_mask only


def hidden(model):
    with torch.no_grad():
        return model(**batch).last_hidden_state


base_out = hidden(encoder)
lora_encoder = copy.deepcopy(encoder)
layers = P.inject_lora(lora_encoder, r=8, alpha=16)
diff_init = (hidden(lora_encoder) - base_out).abs().max().item()
print(f"{len(layers)} LoRA layers; max |difference| from the pretrained encoder with B = 0: {diff_init}")
assert len(layers) == 12 and diff_init == 0.0

# %%
torch.manual_seed(1)
with torch.no_grad():
    for layer in layers:  # pretend training happened: give B random values
        layer.B.normal_(0, 0.05)
course_out = hidden(lora_encoder)
moved = (course_out - base_out).abs().max().item()

peft_encoder = P.peft_reference_lora(encoder, r=8, alpha=16)  # the peft library's LoRA
copied = P.copy_lora_weights_to_peft(lora_encoder, peft_encoder)
diff_peft = (hidden(peft_encoder) - course_out).abs().max().item()
print(f"LoRA with random B moves the outputs by up to {moved:.2f}")
print(f"copied A and B into {copied} peft LoRA layers; course and peft outputs agree to 1e-5: {diff_peft < 1e-5}")
assert moved > 0.1 and copied == 12 and diff_peft < 1e-5

# %%
params_before = count_parameters(lora_encoder, trainable_only=False)
merged_encoder = copy.deepcopy(lora_encoder)
n_merged = P.merge_lora(merged_encoder)
diff_merge = (hidden(merged_encoder) - course_out).abs().max().item()
params_merged = count_parameters(merged_encoder, trainable_only=False)
params_base = count_parameters(encoder, trainable_only=False)
print(f"merged {n_merged} layers; merged and unmerged outputs agree to 1e-4: {diff_merge < 1e-4}")
print(f"parameters: base {params_base:,}, with LoRA {params_before:,}, merged {params_merged:,}")
assert diff_merge < 1e-4 and params_merged == params_base
assert not any(isinstance(m, P.LoRALinear) for m in merged_encoder.modules())

# %% [markdown]
# ## 3. Adapters and prompt tuning from scratch
#
# A **bottleneck adapter** maps each token vector down to 32 dimensions, through a GELU and
# back up, and adds the result to its input: `x + f(x W_down) W_up`. It sits after the
# attention block's output projection and after the feed-forward block's, in each of the 6
# layers (12 adapters). `W_up` starts at zero, so, like LoRA, the adapted model starts
# identical to the pretrained one. Houlsby et al. also train the LayerNorms; so do we.
#
# **Prompt tuning** leaves every weight of MiniLM frozen. It learns 20 vectors of size 384,
# "virtual tokens" with no word behind them, prepended to each sentence's word embeddings;
# the encoder attends to them like to any token. The head then averages the real tokens.

# %%
adapter_encoder = copy.deepcopy(encoder)
adapters = P.inject_adapters(adapter_encoder, bottleneck=32)
diff_adapter = (hidden(adapter_encoder) - base_out).abs().max().item()
print(f"{len(adapters)} adapters, {count_parameters(adapters[0], trainable_only=False):,} parameters each;"
      f" max |difference| from the pretrained encoder at init: {diff_adapter}")
assert len(adapters) == 12 and diff_adapter == 0.0

prompt_model = P.PromptTuningClassifier(copy.deepcopy(encoder), n_virtual=20)
with torch.no_grad():
    pooled = prompt_model.embed(batch["input_ids"], batch["attention_mask"])
print(f"prompt: {tuple(prompt_model.prompt.shape)} learned vectors; a batch of {batch['input_ids'].shape[1]} tokens "
      f"becomes {batch['input_ids'].shape[1] + prompt_model.n_virtual} inside the encoder; pooled output {tuple(pooled.shape)}")
del adapter_encoder, prompt_model, merged_encoder, peft_encoder, lora_encoder

# %% [markdown]
# **Prefix tuning** goes one step deeper than prompt tuning. Instead of prepending vectors to
# the *input*, which the frozen network must then carry through six layers, it prepends
# learned **keys and values inside every attention layer**: in each layer, every real token's
# query also scores 10 learned keys and mixes in their 10 learned values. Nothing is added to
# the sequence itself, so the output still has one vector per real token. That is 2 × 10 × 384
# numbers per layer, 46,080 in all. Li & Liang found that initialising the prefixes from real
# words' activations trains more stably than random vectors; `prefix_from_words` runs 10
# random vocabulary words through the frozen encoder and takes each layer's own keys and
# values of them.
#
# `PrefixSelfAttention` is written out in plain PyTorch (`course_lib/peft/prompts.py`). Two checks:
# 1. It is exactly what transformers computes when the prefixes are handed to BERT as a
#    **key/value cache** (the mechanism the `peft` library uses), with the real tokens keeping
#    positions 0, 1, 2, ...
# 2. The `peft` library's `PrefixTuningConfig`, given the same prefixes, differs in one detail:
#    BERT treats the cache as 10 earlier tokens and numbers the real tokens from position 10.
#    With the same shift, the course's model matches peft's too.

# %%
prefix_model = P.PrefixTuningClassifier(copy.deepcopy(encoder), n_prefix=10).eval()
n_prefix_params = P.parameter_report(prefix_model)["trainable"] - 770  # minus the head
real = batch["attention_mask"].bool()
n_tok = batch["input_ids"].shape[1]
with torch.no_grad():
    prefix_out = prefix_model.encoder(**batch).last_hidden_state
    cache_out = P.prefix_as_cache_output(encoder, prefix_model.prefixes, batch)
    peft_out = P.peft_prefix_output(encoder, prefix_model.prefixes, batch)
    shifted = prefix_model.encoder(**batch, position_ids=torch.arange(10, 10 + n_tok).expand(len(real), -1)).last_hidden_state
diff_cache = (prefix_out - cache_out)[real].abs().max().item()
diff_peft_as_is = (prefix_out - peft_out)[real].abs().max().item()
diff_peft_shifted = (shifted - peft_out)[real].abs().max().item()
print(f"prefix parameters: {n_prefix_params:,} ({len(prefix_model.prefixes)} layers x 2 x 10 x 384); "
      f"output: one vector per real token {tuple(prefix_out.shape)}")
print(f"course prefix vs BERT with the prefixes as a key/value cache: agree to 1e-4: {diff_cache < 1e-4}")
print(f"course prefix vs peft: differ by up to {diff_peft_as_is:.1f} as is; "
      f"agree to 1e-4 once positions start at 10 as in peft: {diff_peft_shifted < 1e-4}")
assert n_prefix_params == 6 * 2 * 10 * 384, "2 x 10 x 384 prefix numbers per layer"
assert diff_cache < 1e-4 and diff_peft_shifted < 1e-4, "the prefix attention should match transformers and peft"
assert diff_peft_as_is > 0.1, "peft's position shift should be visible"
del prefix_model

# %% [markdown]
# ## 4. Who trains what: parameter accounting
#
# `build_method` turns MiniLM + mean pooling + a linear head into each method's model, with
# `requires_grad` set only on what the method trains. The head (384 x 2 + 2 = 770 numbers)
# trains in every method. The counts, read from the models, are checked against the
# formulas in `trainable_by_method` (which you will write yourself in the exercises).

# %%
for method in P.METHODS:
    model = P.build_method(method)
    rep = P.parameter_report(model)
    assert rep["trainable"] == P.trainable_by_method(method) and rep["total"] == P.total_by_method(method)
    print(f"{method:<17} trains {rep['trainable']:>10,} of {rep['total']:>10,} parameters = {rep['percent']:8.3f} %")
    if method == "LoRA":
        lora_percent = rep["percent"]
del model
assert lora_percent < 1.0, "LoRA should train under 1 % of the parameters"

# %% [markdown]
# **Try it:** move the rank r and α. The count updates at once (no model needed: it is
# r·(384 + 384) per projection, times 12 projections, plus the head). α does not change the
# count, only the scale α/r of the update.

# %% tags=["nbval-ignore-output"]
P.widget_demo()

# %% [markdown]
# ## 5. The comparison table, measured live
#
# Each method trains for 5 epochs with AdamW (no schedule) at the learning rate that suits
# it (full fine-tuning 5e-5, LoRA and adapters 5e-4, prompt tuning 1e-2: small updates to
# many weights, larger updates to few). The linear probe embeds the training set once and
# fits a logistic regression.
#
# What each column measures:
# - **% trained**: trainable parameters over all parameters of that method's model.
# - **accuracy**: on the 1,000 test sentences, after the last epoch.
# - **train memory**: what one training step needs, counted tensor by tensor: the weights,
#   one gradient per trainable parameter, AdamW's two moments per trainable parameter, and
#   the activations autograd keeps for the backward pass (caught with
#   `torch.autograd.graph.saved_tensors_hooks`). It leaves out the Python process itself
#   (about 1 GB with torch and transformers loaded); the script measures that too.
# - **time/epoch**: wall-clock seconds per epoch, and **CPU/epoch**: processor seconds
#   (all threads), which a busy machine inflates less than wall time. Times depend on your
#   machine and on what else it is doing; section 7 compares them in a controlled run.
#
# Accuracies of live training runs are printed to the whole percent: their last decimal can
# move between processors (a few of the 1,000 test sentences flip), the first digits do not.

# %%
live = {}


def run_live(method):
    result, _ = P.run_method(method, train_enc, train.labels, test_batches, epochs=EPOCHS, device=device)
    live[method] = P.result_row(result)
    print(f"{method:<17} accuracy {100 * result.accuracy:.0f} %  ({result.seconds_per_epoch:.1f} s per epoch)")


# %% tags=["nbval-ignore-output"]
run_live("full fine-tuning")

# %% tags=["nbval-ignore-output"]
run_live("linear probe")

# %% tags=["nbval-ignore-output"]
run_live("LoRA")

# %% tags=["nbval-ignore-output"]
run_live("adapter")

# %% tags=["nbval-ignore-output"]
run_live("prompt tuning")

# %% tags=["nbval-ignore-output"]
run_live("prefix tuning")

# %%
rows = [live[m] for m in P.METHODS]
print(f"n = {N_TRAIN}, max length {MAX_LEN}, {EPOCHS} epochs, test set of {len(test)}\n")
print(P.format_table(rows, decimals=0))

# %% [markdown]
# The effects this lesson claims, asserted on the live numbers (chance is 50 %):

# %%
acc = {m: live[m]["accuracy"] for m in P.METHODS}
mem = {m: live[m]["memory"] for m in P.METHODS}
assert live["LoRA"]["percent"] < 1.0, "LoRA should train under 1 % of the parameters"
assert acc["LoRA"] > 0.60, "LoRA should be well above chance"
assert acc["LoRA"] > acc["full fine-tuning"] - 0.08, "LoRA should come close to full fine-tuning"
assert acc["adapter"] > 0.60 and acc["linear probe"] > 0.58 and acc["prompt tuning"] > 0.55, "every method well above chance"
# memory: LoRA's gradients and AdamW states are a tiny fraction of full fine-tuning's ...
lora_opt = mem["LoRA"]["gradients"] + mem["LoRA"]["optimizer"]
full_opt = mem["full fine-tuning"]["gradients"] + mem["full fine-tuning"]["optimizer"]
assert lora_opt < 0.01 * full_opt, "LoRA's gradients and optimizer states should be under 1 % of full fine-tuning's"
full_mem = mem["full fine-tuning"]
assert abs(full_opt / full_mem["weights"] - 3) < 0.01, "full fine-tuning: gradients + two moments = 3x the weights"
# ... but its activations are not: the backward pass still runs through the whole network
assert mem["LoRA"]["activations"] > 0.5 * full_mem["activations"], "LoRA still keeps most activations"
assert mem["prompt tuning"]["activations"] > full_mem["activations"], "20 more tokens keep more activations"
assert mem["linear probe"]["activations"] < 0.01 * full_mem["activations"], "the probe keeps only the head's input"
assert mem["LoRA"]["total"] < full_mem["total"], "LoRA needs less training memory in all"
print(f"LoRA: {live['LoRA']['percent']:.2f} % of the parameters, {100 * acc['LoRA']:.0f} % accuracy "
      f"(full fine-tuning {100 * acc['full fine-tuning']:.0f} %)")
print(f"gradients + AdamW states: LoRA {lora_opt / full_opt:.2%} of full fine-tuning's; "
      f"activations: {mem['LoRA']['activations'] / mem['full fine-tuning']['activations']:.0%} of full fine-tuning's")

# %% [markdown]
# **Prefix against prompt tuning**, trained the same way (5 epochs; prefix tuning's rate, 1e-2,
# was chosen on 400 validation sentences from the training pool by
# `scripts/prefix_lr_sweep.py`, committed in `data/lesson06/prefix_lr_sweep.json`):

# %%
sweep_prefix = P.load_prefix_sweep()
print("prefix tuning's rate, chosen on validation sentences:",
      ", ".join(f"{r['lr']:g} -> {r['validation_accuracy']:.0%}" for r in sweep_prefix["runs"]),
      f"(chosen {sweep_prefix['chosen_lr']:g})")
print(P.format_table([live["prompt tuning"], live["prefix tuning"]], decimals=0))
pm, xm = live["prompt tuning"]["memory"], live["prefix tuning"]["memory"]
print(f"activations kept for the backward pass: prefix tuning {xm['activations'] / pm['activations']:.0%} of prompt tuning's")
assert sweep_prefix["chosen_lr"] == P.DEFAULT_LR["prefix tuning"], "the live run uses the rate the sweep chose"
assert xm["activations"] < pm["activations"], "prefixes add keys and values, not tokens: fewer activations"
assert live["prefix tuning"]["accuracy"] > 0.55, "prefix tuning should be well above chance"

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
P.plot_tradeoff(rows, title=f"live: n = {N_TRAIN}, {EPOCHS} epochs", ax=axes[0])
P.plot_memory(rows, title="memory for one training step (batch of 16)", ax=axes[1])
plt.show()

# %% [markdown]
# Where does training memory go? For full fine-tuning the gradients and AdamW's two moments
# add three times the weights' memory (the weights include the 30,522 x 384 word-embedding
# matrix; asserted above).
# LoRA, adapters and prompt tuning remove almost all of that, but **not the activations**:
# to reach A and B in layer 1, the backward pass must flow through all six layers, so their
# inputs are kept. Prompt tuning even keeps more activations than full fine-tuning, since
# every sentence is 20 tokens longer. Only the linear probe needs no backward pass through
# the encoder: it keeps just the head's input.
# On a 22.7M-parameter model the savings are modest; on a 7B-parameter model, where the
# weights alone are 28 GB in fp32, they decide whether training fits on one GPU at all.
#
# **Try it:** pick a method to highlight its row.

# %% tags=["nbval-ignore-output"]
P.method_picker(rows)

# %% [markdown]
# ## 6. The rank sweep
#
# How small can r be? The parameter count is exact and instant; it is checked here against
# models with LoRA injected at each rank. Accuracy at each rank takes a training run per
# rank, so it comes from the committed script run (next section), at n = 500.

# %%
committed = P.load_committed_table()
sweep = committed["rank_sweep"]
ranks = [row["r"] for row in sweep]
print(" r   trainable   % trained   accuracy (n = 500)")
for row in sweep:
    probe = copy.deepcopy(encoder)
    P.inject_lora(probe, r=row["r"])
    n_ab = train_only(probe, [".A", ".B"])
    assert n_ab + 770 == row["trainable"] == P.trainable_by_method("LoRA", r=row["r"])
    print(f"{row['r']:>2} {row['trainable']:>11,} {row['percent']:>10.3f} % {100 * row['accuracy']:>9.1f} %")
del probe

# %%
full_acc = next(r["accuracy"] for r in committed["table"] if r["method"] == "full fine-tuning")
fig, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(ranks, [100 * r["accuracy"] for r in sweep], marker="o", label="LoRA on query + value")
ax.axhline(100 * full_acc, color="tab:red", ls="--", lw=1, label="full fine-tuning")
ax.set_xscale("log", base=2)
ax.set_xticks(ranks)
ax.set_xticklabels([str(r) for r in ranks])
ax.set(xlabel="rank r (log scale)", ylabel="test accuracy (%)", title="LoRA rank sweep, n = 500")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
plt.show()
spread = max(r["accuracy"] for r in sweep) - min(r["accuracy"] for r in sweep)
r1 = sweep[0]["accuracy"]
assert sweep[0]["r"] == 1 and r1 > full_acc - 0.03, "rank 1 should already come close to full fine-tuning here"
assert spread < 0.04, "accuracy should vary by under 4 points across ranks"
print(f"r = 1 trains {sweep[0]['percent']:.3f} % and reaches {100 * r1:.1f} % (full fine-tuning {100 * full_acc:.1f} %); "
      f"accuracy varies by {100 * spread:.1f} points across ranks")

# %% [markdown]
# On this task the rank hardly matters: even r = 1 (under 0.05 % of the parameters) comes
# within a point or so of full fine-tuning, and the differences between ranks are about the
# size of the noise of a 1,000-sentence test set (one standard error is about 1.3 points).
# This matches the LoRA paper's finding that the weight updates of fine-tuning have a very
# low "intrinsic rank". (An earlier pilot run of the course, with fewer training steps, saw
# accuracy rise a little with r, from 72 % at r = 1 to 75 % at r = 16; with 6 epochs here it
# does not: a reminder that single runs on small test sets are noisy.)
#
# ## 7. The full table at n = 500
#
# `scripts/lesson06_table.py` ran every method, plus the same network from random init, at
# n = 500 with 64 tokens and 6 epochs, each in its own process with 2 torch threads (a
# laptop's 2 cores). It ran 8 such processes at a time on a 16-core machine, so its times
# are those of 2 server cores and its **peak RSS** column is each process's own peak
# resident memory (Python, torch, the model, the data and the training). Its config, seed,
# machine and log are committed beside the table in `data/lesson06/`.

# %%
cfg = committed["config"]
print(f"n = {cfg['n']}, max length {cfg['max_length']}, {cfg['epochs']} epochs, batch {cfg['batch_size']}, "
      f"seed {cfg['seed']}, {cfg['threads']} threads per process\n")
print(P.format_table(committed["table"]))
print()
for row in committed["table"]:
    print(f"  {row['method']:<17} peak RSS of its process {row['peak_rss_mb']:.0f} MB")
table = {row["method"]: row for row in committed["table"]}

# %%
big = {m: r["accuracy"] for m, r in table.items()}
assert table["LoRA"]["percent"] < 1.0, "LoRA should train under 1 % of the parameters"
assert abs(big["LoRA"] - big["full fine-tuning"]) < 0.03, "LoRA within 3 points of full fine-tuning"
assert abs(big["adapter"] - big["full fine-tuning"]) < 0.03, "adapters within 3 points of full fine-tuning"
assert all(big[m] > big["random init"] + 0.05 for m in P.METHODS), "every pretrained method beats random init"
assert big["linear probe"] < big["full fine-tuning"] - 0.03, "the frozen features alone fall short"
assert big["prompt tuning"] < big["full fine-tuning"] - 0.02, "prompt tuning trails at this model size"
assert table["LoRA"]["cpu_seconds_per_epoch"] < table["full fine-tuning"]["cpu_seconds_per_epoch"], "LoRA epochs cost less CPU"
assert table["LoRA"]["peak_rss_mb"] < table["full fine-tuning"]["peak_rss_mb"], "LoRA's process peaks lower"
assert table["prompt tuning"]["cpu_seconds_per_epoch"] > table["LoRA"]["cpu_seconds_per_epoch"], "longer inputs cost CPU"
for m in ["LoRA", "adapter", "prompt tuning", "linear probe"]:
    print(f"{m:<14} {100 * (big[m] - big['full fine-tuning']):+5.1f} points vs full fine-tuning, "
          f"training {table[m]['percent']:.3f} % of the parameters")
print(f"random init    {100 * (big['random init'] - big['full fine-tuning']):+5.1f} points: pretraining is what all of them build on")

# %%
P.plot_tradeoff(committed["table"], title="n = 500, 64 tokens, 6 epochs (committed script run)")
plt.show()

# %% [markdown]
# What the table shows:
#
# - **LoRA and adapters match full fine-tuning** (within 3 points, asserted, inside the noise)
#   while training 0.33 % and 1.35 % of the parameters, and in this controlled run each LoRA
#   epoch took less CPU time than a full fine-tuning epoch (asserted): no weight gradients for
#   the frozen matrices. (Live timings in section 5 come from your machine under whatever load
#   it had, and can say otherwise.)
# - **Prompt tuning** trains the fewest parameters but falls a few points behind: with a
#   22M-parameter model, 20 virtual tokens cannot steer it as well (Lester et al. found the
#   gap closes only for models of billions of parameters). It also took more CPU per epoch
#   than LoRA (asserted), because every sentence grows by 20 tokens.
# - **Linear probing** is by far the cheapest (one forward pass, no backward) and the
#   weakest: the frozen features were never tuned for sentiment.
# - **Random init** with full fine-tuning is the floor: every method's gain comes from the
#   pretrained weights.
#
# ## 8. Train LoRA yourself
#
# Choose r, α and the learning rate, then press **Train**: it fine-tunes MiniLM with LoRA on
# the lesson's 200 training sentences for 4 epochs and tests on 512 of the test sentences,
# with a progress bar.

# %% tags=["nbval-ignore-output"]
P.lora_trainer(train_enc, train.labels, test_batches[:8], epochs=4)

# %% [markdown]
# ## Summary
#
# - **LoRA** adds (α/r)·B·A beside a frozen W, with B = 0 at the start. In MiniLM's query and
#   value projections at r = 8 it trains 0.33 % of the parameters; its outputs equal the
#   `peft` library's for the same weights, and after merging B·A into W the model is the
#   original size and gives the same outputs: no cost at inference.
# - **Adapters** (1.35 %) and LoRA reach full fine-tuning's accuracy on this task;
#   **prompt tuning** (0.04 %) and the **linear probe** (0.003 %) trail it.
# - **Prefix tuning** (46,080 numbers: learned keys and values in every layer) is exactly
#   BERT attending to a key/value cache, and matches the `peft` library's implementation once
#   its position numbering is matched. Since it adds keys and values rather than tokens, it
#   keeps fewer activations than prompt tuning (asserted); its accuracy is printed beside
#   prompt tuning's in section 5.
# - Parameter-efficient methods save the memory of gradients and optimizer states, not of
#   activations: the backward pass still crosses the whole network.
# - The rank barely matters here: r = 1 is already close to full fine-tuning.
#
# **Try this**
# 1. In the rank widget, find the r at which LoRA on query and value trains as many
#    parameters as the adapter (1.35 %).
# 2. Press Train with r = 1 and then r = 16. Is the difference bigger than the noise of a
#    512-sentence test set (about ±2 points)?
# 3. Train with the learning rate at 5e-5 (full fine-tuning's rate). Why is it too small for
#    LoRA? (Hint: B starts at zero.)
#
# **Exercises:** `06_peft_exercises.ipynb` asks you to write LoRA's forward pass and merge,
# the adapter's forward pass, prompt tuning's virtual tokens, and the trainable-parameter
# count of each method; to inject LoRA into a small frozen network and train it (graded on
# held-out accuracy and on frozen weights left bit for bit unchanged); and to choose a method
# for serving many tasks from this lesson's table.
