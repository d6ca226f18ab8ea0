# %% [markdown]
# # 05 Exercises: pooling and a classification head
#
# Five graded exercises from lesson 05, each independent of the others. The first three run on
# small seeded tensors; the fourth fine-tunes MiniLM (all-MiniLM-L6-v2, a BERT-style encoder
# that was fine-tuned contrastively into a sentence encoder); the fifth reads the lesson's
# committed results.
#
# 1. **Mean pooling with an attention mask** (3 points).
# 2. **Last-token pooling** (3 points).
# 3. **A classification head** (4 points).
# 4. **Fine-tune MiniLM's top block** (4 points): freeze the rest, write the training loop;
#    graded on sentences you never see.
# 5. **Reading the results** (2 points): fine-tuning against a frozen probe, and what a
#    few-shot prompt did.
#
# Shapes: `hidden` is `[batch, tokens, hidden_size]` (a transformer's last hidden states) and
# `mask` is `[batch, tokens]`, 1 for a real token and 0 for padding (as the tokenizer returns
# it: an integer tensor).
#
# Write your answer in each solution cell where it says `raise NotImplementedError()` (replace
# that line), run the cell, then run the test cell below it.

# %%
import torch
from torch import nn

from course_lib.models import load_minilm, load_minilm_tokenizer
from course_lib.textdata import polarity_train
from course_lib.transformers_ft import text_loader

torch.manual_seed(0)
torch.set_num_threads(1)  # small tensors: one thread is fastest, and graders run notebooks side by side

# exercise 4: 300 labelled polarity sentences (0 = negative, 1 = positive), tokenised for MiniLM
# into mini-batches of 16 similar-length sentences (dicts with input_ids, attention_mask, labels)
TOKENIZER = load_minilm_tokenizer()
TRAIN_BATCHES = text_loader(polarity_train(300), TOKENIZER, batch_size=16, max_length=48)
print(f"{sum(len(b['labels']) for b in TRAIN_BATCHES)} training sentences in {len(TRAIN_BATCHES)} batches")


def top_block(model, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MiniLM's top (6th) encoder block applied to the hidden states that enter it,
    ``[batch, tokens, 384]``, with padding (``mask`` 0) masked out of its attention."""
    blocked = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
    return model.encoder.layer[-1](hidden, attention_mask=blocked)


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest relative difference between two tensors (cs231n style)."""
    a, b = a.detach(), b.detach()
    return float(((a - b).abs() / (a.abs() + b.abs()).clamp_min(1e-8)).max())


# %% [markdown]
# ## Exercise 1 (3 points): mean pooling with an attention mask
#
# Sentence-embedding encoders such as MiniLM average the hidden states of the **real** tokens.
# Write `mean_pool(hidden, mask)` returning `[batch, hidden_size]`: for each sentence the mean of
# `hidden` over the positions where `mask` is 1. Padding must have no influence, whatever
# numbers sit there. A row whose mask is all zeros (an empty sentence) must give a vector of
# zeros, not `nan`. No Python loop over the batch.

# %% nbgrader={"solution": true, "grade_id": "ex1_mean_pool"}
def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_mean_pool_tests", "points": 3, "locked": true}
h = torch.arange(24, dtype=torch.float32).reshape(2, 4, 3)
m = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
out = mean_pool(h, m)
assert out.shape == (2, 3), out.shape
expected = torch.stack([h[0, :3].mean(0), h[1, :2].mean(0)])
assert rel_error(out, expected) < 1e-6, (out, expected)
h2 = h.clone()
h2[0, 3] = 1e6  # padding content must not matter
assert rel_error(mean_pool(h2, m), expected) < 1e-6
print("visible tests passed")
### BEGIN HIDDEN TESTS
empty = mean_pool(torch.randn(3, 5, 4), torch.tensor([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]]))
assert torch.isfinite(empty).all(), "an all-padding row must not give nan"
assert torch.allclose(empty[1], torch.zeros(4))
g = torch.Generator().manual_seed(1)
hh = torch.randn(4, 7, 5, generator=g)
lengths = [7, 1, 4, 3]
mm = torch.tensor([[1] * n + [0] * (7 - n) for n in lengths])
ref = torch.stack([hh[i, :n].mean(0) for i, n in enumerate(lengths)])
assert rel_error(mean_pool(hh, mm), ref) < 1e-5
left = torch.tensor([[0] * (7 - n) + [1] * n for n in lengths])  # left padding
ref_left = torch.stack([hh[i, 7 - n :].mean(0) for i, n in enumerate(lengths)])
assert rel_error(mean_pool(hh, left), ref_left) < 1e-5
assert mean_pool(hh, mm.bool()).shape == (4, 5)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 (3 points): last-token pooling, left or right padding
#
# In a causal (GPT-style) model only the last real token has seen the whole sentence. Write
# `last_token_pool(hidden, mask)` returning `[batch, hidden_size]`: for each row, the hidden
# state at the position of its **last real token**. It must work when the batch is padded on
# the right (`[1, 1, 1, 0]`), on the left (`[0, 1, 1, 1]`, common for generation) or not at all.
# No Python loop over the batch.

# %% nbgrader={"solution": true, "grade_id": "ex2_last_token"}
def last_token_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    last = torch.where(mask.bool(), positions, torch.full_like(positions, -1)).max(1).values.clamp_min(0)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex2_last_token_tests", "points": 3, "locked": true}
h = torch.arange(30, dtype=torch.float32).reshape(2, 5, 3)
right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
out = last_token_pool(h, right)
assert out.shape == (2, 3), out.shape
assert torch.equal(out, torch.stack([h[0, 2], h[1, 4]])), out
print("visible tests passed (right padding; test left padding yourself too)")
### BEGIN HIDDEN TESTS
left = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 0, 0, 1]])
assert torch.equal(last_token_pool(h, left), torch.stack([h[0, 4], h[1, 4]]))
g = torch.Generator().manual_seed(2)
hh = torch.randn(4, 6, 3, generator=g)
mixed = torch.tensor([[1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1]])
assert torch.equal(last_token_pool(hh, mixed), torch.stack([hh[0, 1], hh[1, 5], hh[2, 5], hh[3, 5]]))
assert torch.equal(last_token_pool(hh, mixed.bool()), last_token_pool(hh, mixed))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3 (4 points): a classification head
#
# BERT's sequence-classification head reads the first token's (`[CLS]`) hidden state and applies
# a dense layer with `tanh` (the "pooler"), dropout, then a linear layer to the labels.
# Complete `ClassificationHead`:
#
# * `self.dense`: `nn.Linear(hidden_size, hidden_size)`; `self.dropout`: `nn.Dropout(dropout)`;
#   `self.out`: `nn.Linear(hidden_size, num_labels)` (use exactly these names);
# * `forward(hidden)` with `hidden` of shape `[batch, tokens, hidden_size]` returns logits
#   `[batch, num_labels]` = `out(dropout(tanh(dense(hidden[:, 0]))))`.

# %% nbgrader={"solution": true, "grade_id": "ex3_head"}
class ClassificationHead(nn.Module):
    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        ### BEGIN SOLUTION
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)
        ### END SOLUTION

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        return self.out(self.dropout(torch.tanh(self.dense(hidden[:, 0]))))
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex3_head_tests", "points": 4, "locked": true}
torch.manual_seed(0)
head = ClassificationHead(8, 3).eval()
x = torch.randn(5, 4, 8)
logits = head(x)
assert logits.shape == (5, 3), logits.shape
assert sum(p.numel() for p in head.parameters()) == 8 * 8 + 8 + 8 * 3 + 3
assert torch.equal(head(x), logits), "in eval mode the head is deterministic"
print("visible tests passed")
### BEGIN HIDDEN TESTS
with torch.no_grad():
    manual = head.out(torch.tanh(head.dense(x[:, 0])))
assert rel_error(logits, manual) < 1e-5
x2 = x.clone()
x2[:, 1:] = torch.randn(5, 3, 8)
assert torch.allclose(head(x2), logits), "only the first token is read"
train_head = ClassificationHead(16, 2, dropout=0.5).train()
xx = torch.randn(64, 2, 16)
assert not torch.equal(train_head(xx), train_head(xx)), "dropout is active in train mode"
assert isinstance(train_head.dropout, nn.Dropout) and train_head.dropout.p == 0.5
### END HIDDEN TESTS


# %% [markdown]
# ## Exercise 4 (4 points): fine-tune MiniLM's top block
#
# Lesson 05 fine-tuned MiniLM with its lower blocks frozen. Here you freeze everything except
# the **top** encoder block, put a linear head on mean-pooled hidden states, and write the
# training loop yourself. MiniLM here is the bare encoder (`load_minilm()`): `model.embeddings`,
# the blocks in `model.encoder.layer` (the top one is `model.encoder.layer[-1]`) and an unused
# `model.pooler`.
#
# The frozen part never changes, so it only needs to run **once** per batch, not once per step:
# `model(input_ids=..., attention_mask=..., output_hidden_states=True).hidden_states` is a tuple
# of tensors, the embeddings' output then each block's output, so `hidden_states[-2]` is what
# enters the top block. The set-up cell's `top_block(model, hidden, mask)` runs the top
# block on such cached states (with the padding masked). The same trick made lesson 05's
# last-block fine-tune of SmolLM2 cheap.
#
# Write `finetune_top_block(model, head, batches, epochs, lr, head_lr, seed)`:
#
# 1. freeze every parameter of `model` (`requires_grad = False`) except those of its top block,
#    which stay trainable, as do the head's;
# 2. once, with the model in evaluation mode and without gradients, compute for each batch the
#    hidden states entering the top block;
# 3. one `torch.optim.AdamW` (its defaults otherwise) with two parameter groups: the top block
#    at `lr`, the head at `head_lr`;
# 4. with the model in training mode, for each epoch visit the batches in the order
#    `torch.randperm(len(batches), generator=...)` (one generator seeded with `seed`, made once);
#    for each: `top_block` on the cached states, the **mean over real tokens** (padding
#    excluded), the head, the cross-entropy with the batch's labels; clear the gradients,
#    backward, step, and record the loss as a Python float.
#
# Return the recorded losses (one per step). Write the pooling yourself: `course_lib`'s
# `mean_pool`, `freeze_minilm`, `finetune_minilm` and `training.fit` are switched off while
# grading. The grader fine-tunes a fresh MiniLM with your function, then checks its accuracy on
# test sentences you never see (through the whole model, with mean pooling and your head), which
# parameters are trainable, and that every frozen parameter is unchanged, bit for bit.

# %% nbgrader={"solution": true, "grade_id": "ex4_top_block"}
def finetune_top_block(model, head, batches, epochs=3, lr=1e-4, head_lr=1e-3, seed=0):
    ### BEGIN SOLUTION
    top = model.encoder.layer[-1]
    for p in model.parameters():
        p.requires_grad = False
    for p in top.parameters():
        p.requires_grad = True
    for p in head.parameters():
        p.requires_grad = True
    model.eval()
    with torch.no_grad():
        cached = [model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], output_hidden_states=True).hidden_states[-2]
                  for b in batches]
    optimizer = torch.optim.AdamW([{"params": list(top.parameters()), "lr": lr}, {"params": list(head.parameters()), "lr": head_lr}])
    gen = torch.Generator().manual_seed(seed)
    model.train()
    losses = []
    for _ in range(epochs):
        for i in torch.randperm(len(batches), generator=gen).tolist():
            mask = batches[i]["attention_mask"]
            out = top_block(model, cached[i], mask)
            m = mask.to(out.dtype).unsqueeze(-1)
            pooled = (out * m).sum(1) / m.sum(1).clamp_min(1.0)
            loss = nn.functional.cross_entropy(head(pooled), batches[i]["labels"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    model.eval()
    return losses
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex4_top_block_tests", "points": 4, "locked": true}
_model = load_minilm()
torch.manual_seed(0)
_head = nn.Linear(384, 2)
_before = {name: p.detach().clone() for name, p in _model.named_parameters()}
_losses = finetune_top_block(_model, _head, TRAIN_BATCHES, epochs=3, lr=1e-4, head_lr=1e-3, seed=0)
_n = len(TRAIN_BATCHES)
assert isinstance(_losses, list) and len(_losses) == 3 * _n, "one loss per step: 3 epochs x the number of batches"
assert all(isinstance(v, float) for v in _losses), "record loss.item(), a Python float"
_first, _last = sum(_losses[:_n]) / _n, sum(_losses[-_n:]) / _n
print(f"mean training loss: first epoch {_first:.1f}, last epoch {_last:.1f}")
assert _last < _first - 0.1, "the training loss should fall"
assert all(p.requires_grad for p in _model.encoder.layer[-1].parameters()), "the top block trains"
assert not any(p.requires_grad for blk in _model.encoder.layer[:-1] for p in blk.parameters()), "blocks 1-5 are frozen"
assert not torch.equal(_model.encoder.layer[-1].output.dense.weight, _before["encoder.layer.5.output.dense.weight"]), "the top block changed"
print("finetune_top_block: visible tests passed")
### BEGIN HIDDEN TESTS
from course_lib.textdata import polarity_test  # noqa: E402
from course_lib.transformers_ft import subset  # noqa: E402

_trainable = {name for name, p in _model.named_parameters() if p.requires_grad}
assert _trainable == {name for name in _before if name.startswith("encoder.layer.5.")}, "only the top block trains"
assert all(p.requires_grad for p in _head.parameters())
_changed = [name for name, p in _model.named_parameters() if not name.startswith("encoder.layer.5.") and not torch.equal(p, _before[name])]
assert not _changed, f"frozen parameters changed: {_changed[:3]}"
_held_out = text_loader(subset(polarity_test(), 300, seed=1), TOKENIZER, batch_size=64, max_length=48)
_right = 0
_model.eval()
_head.eval()
with torch.no_grad():
    for _b in _held_out:
        _states = _model(input_ids=_b["input_ids"], attention_mask=_b["attention_mask"]).last_hidden_state
        _w = _b["attention_mask"].unsqueeze(-1).float()
        _right += int((_head((_states * _w).sum(1) / _w.sum(1)).argmax(1) == _b["labels"]).sum())
_acc = _right / 300
assert _acc >= 0.62, f"held-out accuracy {_acc:.3f} (the reference reaches about 0.7)"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5 (2 points): reading the results
#
# Lesson 05 committed its larger runs (`data/lesson05/results.json`, shown in the lesson):
# MiniLM fine-tuned (every layer trains) against a linear probe on its frozen mean-pooled
# features, and SmolLM2-135M-Instruct (a small GPT-style decoder, instruction-tuned, loaded
# from a 4-bit file) classifying with a prompt alone, zero-shot, or with four labelled examples
# written into the prompt (few-shot). Answer from those results (or predict first, then check):
#
# - `"finetune_vs_probe_at_100"`: with 100 labelled sentences, how does fine-tuned MiniLM
#   compare with the frozen probe? One of `"fine-tuning better"`, `"about the same"` (within 3
#   points), `"probe better"`.
# - `"four_examples_in_the_prompt"`: on the same test sentences, what did the four examples do
#   to SmolLM2's accuracy, compared with the zero-shot prompt? One of `"helped"`,
#   `"about the same"` (within 3 points), `"hurt"`.
#
# Set `results_answers` to a dict with these two keys.

# %% nbgrader={"solution": true, "grade_id": "ex5_results_reading"}
### BEGIN SOLUTION
results_answers = {"finetune_vs_probe_at_100": "about the same", "four_examples_in_the_prompt": "hurt"}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex5_results_reading_tests", "points": 2, "locked": true}
assert isinstance(results_answers, dict)
assert results_answers.get("finetune_vs_probe_at_100") in ("fine-tuning better", "about the same", "probe better")
assert results_answers.get("four_examples_in_the_prompt") in ("helped", "about the same", "hurt")
print("results answers: well formed (graded by hidden tests)")
### BEGIN HIDDEN TESTS
from course_lib.transformers_ft import committed_results  # noqa: E402


def _verdict(delta, better, worse):
    assert abs(abs(delta) - 0.03) > 0.005, f"too close to the 3-point line to grade: {delta:+.3f}"
    return "about the same" if abs(delta) < 0.03 else better if delta > 0 else worse


_res = committed_results()
_n100 = _res["minilm"]["n100"]
assert results_answers["finetune_vs_probe_at_100"] == _verdict(_n100["finetune"] - _n100["probe"], "fine-tuning better", "probe better")
_fs = _res["smollm2"]["few_shot"]
assert results_answers["four_examples_in_the_prompt"] == _verdict(_fs["few_shot"] - _fs["zero_shot_same_subset"], "helped", "hurt")
### END HIDDEN TESTS
