# %% [markdown]
# # 03 ELMo layer mixing
#
# Word2Vec and GloVe (lesson 02) give a word one vector, whatever the sentence. ELMo (Peters et
# al., 2018) reads the whole sentence with a **bidirectional LSTM language model** (biLM) and
# gives every *token* a vector per layer. A downstream task then uses a learned mix of the
# layers:
#
# $$\mathrm{ELMo}_k = \gamma \sum_{l=0}^{L} \mathrm{softmax}(s)_l \, h_{k,l}$$
#
# where $h_{k,0}$ is the context-free token layer and $h_{k,l}$ the $l$-th LSTM layer
# (forward and backward states concatenated). The chapter's claims, measured here:
#
# 1. contextual vectors separate the senses of "bank", which a static vector cannot;
# 2. the mix weights $s$ are learned per task;
# 3. a syntactic task (part-of-speech tags) prefers lower layers than a semantic one
#    (sentence sentiment).
#
# No ELMo weights are available offline, so the course pretrains its own small biLM
# (`scripts/pretrain_bilm.py`, checkpoint in `data/bilm/`). MiniLM's 7 layers (embeddings +
# 6 transformer layers) are a second, much stronger contextual stack: every effect below is
# measured on both, and asserted where it holds.
#
# **What MiniLM is.** `sentence-transformers/all-MiniLM-L6-v2`: a 6-layer BERT-style encoder
# (384 wide) distilled from a larger model (MiniLM), then contrastively fine-tuned on over a
# billion sentence pairs to make *mean-pooled* sentence vectors of similar sentences close. It
# is not a raw masked-language-model checkpoint, and unlike ELMo it was not trained only on
# language modelling: its upper layers are already tuned for sentence similarity. That
# favours sentence-level tasks (sentiment) and mean pooling in the upper layers, so where
# sentiment peaks in MiniLM is partly a result of that sentence-level tuning, not of
# language-model pretraining alone.

# %%
import json
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch

from course_lib import assets, describe_device, elmo, seed_everything
from course_lib.corpus import load_brown_tagged, load_corpus
from course_lib.models import load_glove, load_minilm, load_minilm_tokenizer
from course_lib.textdata import polarity_test, polarity_train

warnings.filterwarnings("ignore", message="LSTM with projections")
seed_everything(0)
print(describe_device())

# %% [markdown]
# ## 1. The course's biLM
#
# ELMo's shape at a laptop's scale: a token embedding, two LSTM layers reading left to right,
# two reading right to left, and one softmax shared by both directions and tied to the token
# embedding. The script trained it on the course corpus (lesson 02's train split); its
# config, log and held-out perplexities are committed beside the checkpoint. How long it
# trained matters a great deal, so the cell prints it: read it before trusting the biLM's
# numbers below.

# %%
lm = elmo.load_bilm()
record = json.loads((assets.path("bilm") / "training.json").read_text())
n_params = sum(p.numel() for p in lm.parameters())
print(lm.config)
print(f"{n_params:,} parameters; vocabulary {len(lm.vocab):,} words")
print(f"trained {record['steps']:,} steps on {record['tokens_seen']:,} tokens "
      f"({record['tokens_seen'] / record['tokens']['train']:.1%} of one pass over the corpus) on {record['device']}")
print("held-out perplexity from the script:", record["perplexity"]["test"])

# %% [markdown]
# Check it here on 300 test-split sentences it never trained on. Two yardsticks: guessing
# uniformly over the vocabulary (perplexity = vocabulary size), and a *unigram* model fitted
# to this very test text (a cheat: it knows the test's word frequencies). A well-trained
# language model beats both; a briefly trained one beats only the first.

# %%
test_sents = [s for s in load_corpus("test") if 5 <= len(s) <= 40][:300]
ppl_fwd = lm.perplexity(test_sents, "forward")
ppl_bwd = lm.perplexity(test_sents, "backward")
ids = torch.cat([lm.encode(s)[1:] for s in test_sents])  # the tokens the LM predicts (+ <eos>)
freq = torch.bincount(ids, minlength=len(lm.vocab)).float()
unigram_ppl = float(torch.exp(-(freq[freq > 0] * (freq[freq > 0] / freq.sum()).log()).sum() / freq.sum()))
print(f"forward LM perplexity {ppl_fwd:.0f}, backward {ppl_bwd:.0f}; uniform guess {len(lm.vocab)}; "
      f"unigram fitted to the test text {unigram_ppl:.0f}")
print("beats the test-fitted unigram:", ppl_fwd < unigram_ppl and ppl_bwd < unigram_ppl)
assert ppl_fwd < unigram_ppl / 2 and ppl_bwd < unigram_ppl / 2, "the biLM should use context, not just word frequency"

# %% [markdown]
# The two directions predict different things: the forward LM the next word, the backward LM
# the previous one.

# %%
def top_words(logits: torch.Tensor, k: int = 6) -> list[str]:
    probs = logits.softmax(-1)
    probs[[lm.pad_id, lm.unk_id]] = 0
    return [lm.vocab[i] for i in probs.topk(k).indices]


with torch.no_grad():
    ids = lm.encode("she sat on the bank of the river")
    fwd = lm.forward_lm(ids[None])[0]
    bwd = lm.backward_lm(ids[None])[0]
print("after 'she sat on the' ->", top_words(fwd[4]))
print("before 'of the river'   ->", top_words(bwd[6]))

# %% [markdown]
# ## 2. Contextual vectors: the two senses of "bank"
#
# Sixteen sentences, eight about river banks and eight about money banks. GloVe has one vector
# for "bank", the same in all sixteen; the biLM's and MiniLM's vectors depend on the sentence.
# We measure two things per layer: the mean cosine similarity within a sense minus across
# senses (*separation*), and whether each vector's nearest neighbour (leave-one-out) has its
# sense.

# %%
river = [
    "we sat on the bank of the river and watched the water .",
    "the boat drifted towards the muddy bank of the stream .",
    "fish swim near the bank where the river is shallow .",
    "grass grew thick along the bank of the lake .",
    "the flood washed away the river bank near the village .",
    "he climbed up the steep bank from the water 's edge .",
    "trees lined the far bank of the river .",
    "the children fished from the bank of the pond all day .",
]
money = [
    "she put her money in the bank and saved it .",
    "the bank raised its interest rates on loans .",
    "he borrowed money from the bank to buy a house .",
    "the bank opened a new account for the company .",
    "investors feared the bank would lose their deposits .",
    "the central bank controls the supply of money .",
    "he went to the bank to cash a cheque .",
    "the bank lent millions of dollars to the government .",
]
sentences = river + money
senses = np.array([0] * len(river) + [1] * len(money))
bank_vecs, _ = elmo.find_word_vectors(lm, sentences, "bank")  # (3, 16, 2P)
minilm, tokenizer = load_minilm(), load_minilm_tokenizer()
words = [lm.tokenize(s) for s in sentences]
mini_all = elmo.minilm_token_features(minilm, tokenizer, words, progress=False)  # (7, n_words, 384)
starts = np.cumsum([0] + [len(w) for w in words[:-1]])
mini_bank = mini_all[:, [int(o) + w.index("bank") for o, w in zip(starts, words, strict=True)]]

glove = load_glove()
glove_vecs = np.stack([glove["bank"]] * len(sentences))  # one vector, whatever the sentence
rows = {"GloVe (static)": glove_vecs}
for layer in range(bank_vecs.shape[0]):
    rows[f"biLM layer {layer}"] = bank_vecs[layer].numpy()
for layer in (0, 2, 4, 6):
    rows[f"MiniLM layer {layer}"] = mini_bank[layer].numpy()
sep = {name: elmo.sense_separation(v, senses) for name, v in rows.items()}
nn1 = {name: elmo.nearest_sense_accuracy(v, senses) for name, v in rows.items()}
for name in rows:
    print(f"{name:<16} separation {sep[name]:+.3f}   nearest-neighbour sense accuracy {nn1[name]:.0%}")

# %% [markdown]
# GloVe's separation is exactly zero: sixteen copies of one vector carry no sense at all (its
# nearest-neighbour "accuracy" is a tie broken by position). The biLM's token layer (layer 0)
# is context-free too. Its LSTM layers give a different vector in every sentence, and those
# vectors group by sense: most of them have a nearest neighbour from the same sense, although
# the biLM never saw a label, only next and previous words. MiniLM's layers, after its
# embedding layer (which already mixes in position, so it is not quite static), separate the
# senses more cleanly still. The assertions check all three.

# %%
best_layer = max(range(1, bank_vecs.shape[0]), key=lambda layer: sep[f"biLM layer {layer}"])
assert abs(sep["GloVe (static)"]) < 1e-6 and abs(sep["biLM layer 0"]) < 1e-6
assert float(bank_vecs[best_layer].std(0).mean()) > 1e-3, "the biLM's LSTM vectors vary with the sentence"
assert sep[f"biLM layer {best_layer}"] > 0.03 and nn1[f"biLM layer {best_layer}"] >= 0.75, "biLM vectors group by sense"
assert sep["MiniLM layer 4"] > 0.1 and nn1["MiniLM layer 4"] >= 0.9, "contextual vectors separate the senses"

x = bank_vecs[best_layer] - bank_vecs[best_layer].mean(0)
_, _, v = torch.linalg.svd(x, full_matrices=False)
xy = (x @ v[:2].T).numpy()
fig, ax = plt.subplots(figsize=(5.5, 4))
for sense, name, color in ((0, "river", "tab:green"), (1, "money", "tab:orange")):
    ax.scatter(*xy[senses == sense].T, label=f"'bank' ({name} sentences)", color=color)
ax.set(xlabel="principal component 1", ylabel="principal component 2",
       title=f"biLM layer {best_layer}: 16 vectors for one word (GloVe: a single point)")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## 3. ScalarMix
#
# `course_lib.elmo.ScalarMix` holds $L+1$ scalars $s$ and one $\gamma$; its forward pass is
# `gamma * sum(softmax(s)[l] * layers[l])`. With $s = 0$ every layer gets the same weight;
# a large $s_l$ selects layer $l$.

# %%
mix = elmo.ScalarMix(3, s=[0.0, 0.0, 0.0])
layers = torch.stack([torch.full((2, 4), 1.0), torch.full((2, 4), 2.0), torch.full((2, 4), 6.0)])
print("weights", mix.weights().detach().numpy().round(3), "-> mixed", mix(layers)[0, 0].item())
mix = elmo.ScalarMix(3, s=[0.0, 0.0, 8.0], gamma=0.5)
print("weights", mix.weights().detach().numpy().round(3), "-> mixed", round(mix(layers)[0, 0].item(), 3))

# %% [markdown]
# ## 4. Two probes, two stacks
#
# - **POS tagging** (syntax): Brown sentences from the files in the corpus's *test* split (the
#   biLM never trained on them), original Brown tags mapped to 12 coarse tags; 300 sentences
#   to train a probe, 200 to test it; one vector per word.
# - **Sentiment** (semantics): Pang & Lee sentence polarity, 500 training sentences and the
#   fixed 1,000-sentence test set; a sentence is the mean of its token vectors.
#
# Features of every layer are computed once and cached; every probe after that is a linear
# head on fixed features.

# %%
rng = np.random.default_rng(0)
brown = [s for s in load_brown_tagged("test") if 4 <= len(s) <= 40]
pick = rng.permutation(len(brown))[:500]
pos_sents = [brown[i] for i in pick]
pos_words = [[w for w, _ in s] for s in pos_sents]
pos_tags = torch.tensor([elmo.UNIVERSAL_TAGS.index(elmo.brown_to_universal(t)) for s in pos_sents for _, t in s])
n_pos_train = sum(len(s) for s in pos_words[:300])
print(f"POS: {n_pos_train} training tokens, {len(pos_tags) - n_pos_train} test tokens, "
      f"{len(set(pos_tags.tolist()))} tags; majority-tag baseline "
      f"{(pos_tags[n_pos_train:] == pos_tags[:n_pos_train].mode().values).float().mean():.1%}")

sent_train, sent_test = polarity_train(500), polarity_test()
y_sent_train, y_sent_test = torch.tensor(sent_train.labels), torch.tensor(sent_test.labels)
print(f"sentiment: {len(sent_train)} training sentences, {len(sent_test)} test sentences")

# %% tags=["nbval-ignore-output"]
feats = {}
with torch.no_grad():
    f = elmo.bilm_token_features(lm, pos_words)
    feats["biLM", "POS"] = (f[:, :n_pos_train], f[:, n_pos_train:])
    f = elmo.minilm_token_features(minilm, tokenizer, pos_words)
    feats["MiniLM", "POS"] = (f[:, :n_pos_train], f[:, n_pos_train:])
    for split, texts in (("train", sent_train.texts), ("test", sent_test.texts)):
        toks = [lm.tokenize(t) for t in texts]
        pooled = elmo.sentence_means(elmo.bilm_token_features(lm, toks), [len(t) for t in toks])
        feats["biLM", "sentiment", split] = pooled
        feats["MiniLM", "sentiment", split] = elmo.minilm_sentence_features(minilm, tokenizer, texts)
for model in ("biLM", "MiniLM"):
    feats[model, "sentiment"] = (feats.pop((model, "sentiment", "train")), feats.pop((model, "sentiment", "test")))
labels = {"POS": (pos_tags[:n_pos_train], pos_tags[n_pos_train:]), "sentiment": (y_sent_train, y_sent_test)}

# %%
for key, (tr, te) in feats.items():
    print(key, "train", tuple(tr.shape), "test", tuple(te.shape))

# %% [markdown]
# ### One probe per layer
#
# A logistic-regression probe on each layer alone: how much of each task can a linear
# read-out find there?

# %%
per_layer, correct = {}, {}
for (model, task), (tr, te) in feats.items():
    ytr, yte = labels[task]
    correct[model, task] = elmo.probe_layer_correct(tr, ytr, te, yte, weight_decay=0.1)  # (layers, test items)
    per_layer[model, task] = correct[model, task].mean(1).tolist()
    print(f"{model:<7}{task:<10}", " ".join(f"{a:.1%}" for a in per_layer[model, task]))

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for ax, model in zip(axes, ("biLM", "MiniLM"), strict=True):
    for task, color in (("POS", "tab:blue"), ("sentiment", "tab:red")):
        acc = np.array(per_layer[model, task]) * 100
        ax.plot(range(len(acc)), acc, marker="o", color=color, label=task)
        ax.axvline(int(acc.argmax()), color=color, ls=":", lw=1)
    ax.set(xlabel="layer (0 = token / embedding layer)", ylabel="probe test accuracy (%)", title=model)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### The learned mix
#
# Now learn $s$, $\gamma$ and the head together, once per task and stack (layers z-scored
# first, as ELMo's optional layer normalisation does; the L2 penalty acts on $\gamma W$).

# %%
learned = {}
for (model, task), (tr, te) in feats.items():
    ytr, yte = labels[task]
    learned[model, task] = elmo.fit_scalar_mix_probe(tr, ytr, te, yte)
    p = learned[model, task]
    print(f"{model:<7}{task:<10} accuracy {p.accuracy:.1%}  softmax(s) = {np.round(p.weights, 2)}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for ax, model in zip(axes, ("biLM", "MiniLM"), strict=True):
    width = 0.4
    for j, (task, color) in enumerate((("POS", "tab:blue"), ("sentiment", "tab:red"))):
        w = learned[model, task].weights
        ax.bar(np.arange(len(w)) + (j - 0.5) * width, w, width, color=color, label=task)
    ax.set(xlabel="layer", ylabel="softmax(s)", title=f"{model}: learned layer weights")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
fig.tight_layout()
plt.show()


# %% [markdown]
# Where does each task look? The *centre of mass* of the learned weights, $\sum_l l\,w_l$,
# and the best single layer summarise it.

# %%
def centre(w) -> float:
    return float(np.sum(np.arange(len(w)) * w))


for model in ("biLM", "MiniLM"):
    for task in ("POS", "sentiment"):
        print(f"{model:<7}{task:<10} best single layer {int(np.argmax(per_layer[model, task]))}, "
              f"learned-mix centre {centre(learned[model, task].weights):.2f}")

# %% [markdown]
# ### How sure are we?
#
# Some of the differences between layers above are one to four points, from one probe per
# layer on one test set. Are they more than noise? A **paired bootstrap** over the test set
# answers part of that: draw the test set again with replacement 2,000 times, score every layer
# on each draw, and look at where the best layer lands and how wide the 95 % interval of a
# difference is. For POS we redraw whole *sentences* (the tokens of one sentence are not
# independent); for sentiment, single sentences. This measures the test set's sampling noise
# only: each probe was trained once, on one training set.

# %%
def interval(d) -> str:
    lo, hi = np.percentile(d, [2.5, 97.5]) * 100
    return f"{np.mean(d) * 100:+.1f} points, 95 % interval [{lo:+.1f}, {hi:+.1f}]"


sentence_of_token = np.repeat(np.arange(len(pos_words)), [len(w) for w in pos_words])[n_pos_train:]
boot = {(model, "POS"): elmo.bootstrap_layer_accuracy(correct[model, "POS"], groups=sentence_of_token, seed=0)
        for model in ("biLM", "MiniLM")}
boot |= {(model, "sentiment"): elmo.bootstrap_layer_accuracy(correct[model, "sentiment"], seed=1) for model in ("biLM", "MiniLM")}
b_pos, b_sent = boot["MiniLM", "POS"], boot["MiniLM", "sentiment"]
print("MiniLM: share of the 2,000 resamples in which each layer is the best one")
for task, b in (("POS", b_pos), ("sentiment", b_sent)):
    share = np.bincount(b.argmax(1), minlength=b.shape[1]) / len(b)
    print(f"  {task:<10}", "  ".join(f"L{layer}: {x:.0%}" for layer, x in enumerate(share)))
below = float((b_pos.argmax(1) < b_sent.argmax(1)).mean())
print(f"POS's best layer lies below sentiment's in {below:.0%} of the paired resamples")
mini_pos, mini_sent = np.array(per_layer["MiniLM", "POS"]), np.array(per_layer["MiniLM", "sentiment"])
p_top, s_top = int(mini_pos.argmax()), int(mini_sent.argmax())
fall, rise = b_pos[:, p_top] - b_pos[:, -1], b_sent[:, s_top] - b_sent[:, 0]
upper = b_sent[:, 3:].mean(1) - b_sent[:, :3].mean(1)
for name, d in ((f"POS, layer {p_top} minus layer 6", fall), (f"sentiment, layer {s_top} minus layer 0", rise),
                ("sentiment, mean of layers 3-6 minus mean of layers 0-2", upper)):
    print(f"{name:<56}{interval(d)}")

# %% [markdown]
# What the bootstrap supports, and what it does not:
#
# - **POS peaks low and falls at the top**: its best layer is the same in nearly every
#   resample, and the drop to the top layer is far outside the noise.
# - **Sentiment's best layer is higher than POS's** in almost every paired resample. But
#   *which* upper layer is best is not settled (the resamples split it between two layers),
#   and sentiment's profile is shallow: its best layer beats the embedding layer by a few
#   points (an interval that stays above zero, though picking the best layer on this very test
#   set flatters it), and the mean of the upper layers beats the mean of the lower ones by an
#   interval whose lower end is within a point of zero.
#
# So the robust part of the chapter's finding is the contrast (syntax peaks lower, then fades;
# sentiment does not fade), not a precise sentiment layer. The assertions check exactly that.

# %%
assert p_top < s_top, "POS should peak in a lower MiniLM layer than sentiment"
assert below > 0.9, f"POS's peak should lie below sentiment's in most resamples, not {below:.1%}"
assert np.percentile(fall, 2.5) > 0.05, "POS accuracy should fall at the top by more than the noise (5 points at the interval's low end)"
assert np.percentile(rise, 2.5) > 0, "sentiment's best layer should beat the embedding layer beyond the test set's noise"
assert abs(np.percentile(upper, 2.5)) < 0.01, "the upper-vs-lower sentiment contrast is shallow: its interval's low end is near zero"
assert centre(learned["MiniLM", "POS"].weights) < centre(learned["MiniLM", "sentiment"].weights), "the learned mix should sit lower for POS"

# %% [markdown]
# And the biLM? It has only two LSTM layers and saw 4 million tokens, so its pattern is
# coarser, but the first step of ELMo's finding is there: for POS, both LSTM layers beat the
# context-free token layer (a word's tag often depends on its neighbours, e.g. "run" as noun
# or verb), by an interval that stays above zero. Its sentence-level sentiment is weak in
# every layer (about 60 %, chance is 50 %), and which layer is best is within the noise: a
# 2.5M-parameter LM trained on about one pass over 4 million tokens has learned syntax far
# better than sentiment. What holds for both stacks: a learned mix is never far below the best single
# layer, so learning $s$ is a safe default when you do not know which layer a task needs.

# %%
bi_pos, bi_sent = np.array(per_layer["biLM", "POS"]), np.array(per_layer["biLM", "sentiment"])
print(f"biLM: POS best layer {int(bi_pos.argmax())} ({bi_pos.max():.1%}), "
      f"sentiment best layer {int(bi_sent.argmax())} ({bi_sent.max():.1%})")
print(f"biLM POS: token layer {bi_pos[0]:.1%}, best LSTM layer {bi_pos[1:].max():.1%}")
lstm_gain = boot["biLM", "POS"][:, 1 + int(bi_pos[1:].argmax())] - boot["biLM", "POS"][:, 0]
print(f"biLM POS, best LSTM layer minus token layer: {interval(lstm_gain)}")
b_bi_sent = boot["biLM", "sentiment"]
print(f"biLM sentiment, layer 1 minus layer 0: {interval(b_bi_sent[:, 1] - b_bi_sent[:, 0])}; "
      f"layer 2 minus layer 0: {interval(b_bi_sent[:, 2] - b_bi_sent[:, 0])}")
assert bi_pos[1:].max() > bi_pos[0] + 0.01, "context (the LSTM layers) should help POS beyond the token layer"
assert np.percentile(lstm_gain, 2.5) > 0, "the LSTM layers' POS gain should exceed the test set's noise"
for layer in (1, 2):
    lo, hi = np.percentile(b_bi_sent[:, layer] - b_bi_sent[:, 0], [2.5, 97.5])
    assert lo < 0 < hi, "the biLM's sentiment layers are within the noise of each other"
for key, p in learned.items():
    assert p.accuracy > max(per_layer[key]) - 0.05, f"the learned mix should be close to the best layer: {key}"

# %% [markdown]
# ## 5. Mix it yourself
#
# A slider per $s_l$ and one for $\gamma$: on each change the mix is fixed and only a linear
# head is refitted on the cached features (the status line shows how long that took).
# **learn s from data** fits $s$, $\gamma$ and the head jointly, then moves the sliders to the
# learned values. $\gamma$ rescales the whole vector; with a weight-decayed head it acts like
# the inverse of the regularisation strength (in ELMo it also sets the scale the downstream
# network sees).

# %% tags=["nbval-ignore-output"]
(tr, te), (ytr, yte) = feats["MiniLM", "sentiment"], labels["sentiment"]
elmo.mix_widget(tr, ytr, te, yte, [f"L{i}" for i in range(7)], title="MiniLM sentiment")

# %% tags=["nbval-ignore-output"]
(tr, te), (ytr, yte) = feats["biLM", "POS"], labels["POS"]
elmo.mix_widget(tr, ytr, te, yte, ["token", "LSTM 1", "LSTM 2"], title="biLM POS")

# %% [markdown]
# ## Summary
#
# - A contextual model gives each token a vector per layer that depends on its sentence: in
#   MiniLM the two senses of "bank" fall apart, while GloVe's single vector cannot tell them
#   apart.
# - ELMo's scalar mix, $\gamma \sum_l \mathrm{softmax}(s)_l h_l$, is a handful of parameters
#   learned per task.
# - In MiniLM, a probe for syntax (POS) peaks in a lower-middle layer and falls at the top,
#   well beyond the test set's noise; sentiment's best layer lies higher in almost every
#   bootstrap resample, but its profile is shallow and which upper layer wins is not settled.
#   The learned weights shift the same way. MiniLM is a sentence-similarity model (contrastively
#   tuned on sentence pairs), which favours sentence-level information in its upper layers.
# - The course's biLM (2.5M parameters, about one pass over 4M tokens on two CPU cores) is far
#   smaller than ELMo (93M parameters, 800M tokens), yet its LSTM vectors already group "bank"
#   by sense and its LSTM layers beat its token layer for POS. ELMo's full layer pattern needs
#   a bigger model and corpus; MiniLM shows its syntax-low, sentiment-higher contrast here.
#   `scripts/pretrain_bilm.py` retrains the biLM (on a GPU, a bigger one).
#
# **Try this**
#
# - In the MiniLM widget, put all weight on L0 (embeddings), then on L4: how much does
#   sentiment accuracy move? Do the same in the biLM POS widget with the token layer.
# - Set $\gamma$ to 0.01 and to 10: what happens to the accuracy, and why (think of the head's
#   weight decay)?
# - Press **learn s from data** and compare the learned weights with the per-layer curve.
#
# The graded exercises are in `03_elmo_layer_mixing_exercises.ipynb`: the scalar mix, a
# per-layer probe and sense separation; then train a scalar mix and its probe jointly on the
# biLM's layers (graded on held-out words) and read which layers help POS tagging, and where.
