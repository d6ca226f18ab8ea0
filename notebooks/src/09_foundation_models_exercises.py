# %% [markdown]
# # 09 Exercises: one base, many tasks
#
# Two graded exercises from lesson 09, independent of each other.
#
# The setup cell loads MiniLM (`sentence-transformers/all-MiniLM-L6-v2`, a 6-layer BERT-style
# encoder, 22.7M parameters) **once**, into a `TaskServer` from `course_lib.foundation`: the
# lesson's multi-task server. One task is already served: sentence polarity, by a linear probe
# on the frozen base's mean-pooled features. Useful methods of `server`:
#
# - `server.features(texts)`: the frozen base's mean-pooled features, a `[len(texts), 384]` tensor;
# - `server.add(task, method, classes, head)`: register a head (any module mapping features to
#   logits) for a task;
# - `server.logits(task, method, texts)` and `server.predict(task, method, text)`: serve it.
#
# Write your answer in each solution cell, in place of `raise NotImplementedError()` (between
# the BEGIN and END SOLUTION marker lines), run the cell, then run the test cell below it.

# %%
import hashlib

import numpy as np
import torch

from course_lib import foundation as F
from course_lib.models import load_minilm, load_minilm_tokenizer
from course_lib.seed import seed_everything
from course_lib.training import fit_linear_probe

seed_everything(0)
server = F.TaskServer(load_minilm().eval(), load_minilm_tokenizer(), max_length=32)
polarity = F.polarity_task(n_train=100, n_test=20)
server.add("polarity", "linear probe", polarity.classes,
           fit_linear_probe(server.features(polarity.train.texts), torch.as_tensor(polarity.train.labels)))
new_task = F.corpus_source_task(per_class_train=30, per_class_test=30)
print(f"served: {sorted(server.entries)}")
print(f"new task: {new_task.about}; classes {new_task.classes}; {len(new_task.train)} training sentences")
print("example:", new_task.train.texts[0][:80], "->", new_task.classes[new_task.train.labels[0]])


def base_digest(server) -> str:
    """A fingerprint of the base's own weights (LoRA slots excluded)."""
    h = hashlib.sha256()
    for name, t in sorted(server.base_state().items()):
        h.update(name.encode())
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


digest_before = base_digest(server)  # for the tests: the base and the polarity answers before any exercise
polarity_before = server.logits("polarity", "linear probe", polarity.test.texts)


# %% [markdown]
# ## Exercise 1 (5 points): serve a new task beside the others
#
# Add the **corpus-source** task (which source of the course corpus a sentence comes from:
# Wikipedia, Shakespeare or the CIA World Factbook) to the server, without touching the base
# or the tasks it already serves.
#
# 1. `train_head(features, labels, num_classes)` trains a linear classifier
#    (softmax regression) on fixed features, with your own loop in plain PyTorch (do not call
#    `course_lib`'s `fit_linear_probe`), and returns a `torch.nn.Linear(dim, num_classes)` that
#    maps **raw** features to logits. Full-batch gradient descent with `torch.optim.Adam` and a
#    cross-entropy loss for a few hundred steps works well. Tip: features of different
#    dimensions have very different scales and offsets; standardising them helps the
#    optimiser, but then the returned layer must still accept raw features.
# 2. `add_task(server, name, classes, texts, labels)` embeds the texts with the frozen base,
#    trains a head with `train_head`, registers it as `(name, "linear probe")` and returns it.
#
# The hidden tests check held-out accuracy on sentences of other documents, that the base's
# weights are unchanged, and that the polarity task still gives the same answers.

# %% nbgrader={"solution": true, "grade_id": "ex1_new_task"}
def train_head(features: torch.Tensor, labels, num_classes: int, steps: int = 300, lr: float = 0.05) -> torch.nn.Linear:
    ### BEGIN SOLUTION
    torch.manual_seed(0)
    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    z = (x - mean) / std
    head = torch.nn.Linear(x.shape[1], num_classes)
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(head(z), y).backward()
        opt.step()
    with torch.no_grad():  # fold the standardisation in: head(raw) = W (raw - mean) / std + b
        head.weight.div_(std)
        head.bias.sub_((head.weight * mean).sum(1))
    return head
    ### END SOLUTION


def add_task(server, name: str, classes, texts, labels) -> torch.nn.Linear:
    ### BEGIN SOLUTION
    head = train_head(server.features(texts), labels, len(classes))
    server.add(name, "linear probe", classes, head)
    return head
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_new_task_tests", "points": 5, "locked": true}
from course_lib.training import accuracy, count_parameters  # noqa: E402  (here: a solution cannot shadow them)

g = torch.Generator().manual_seed(0)
centers = 3 * torch.randn(3, 8, generator=g)
centers = centers - centers.mean(0)  # blobs centred on zero
blob_y = torch.arange(3).repeat_interleave(30)
blob_x = centers[blob_y] + torch.randn(90, 8, generator=g)
blob_head = train_head(blob_x, blob_y, 3)
assert isinstance(blob_head, torch.nn.Linear) and tuple(blob_head.weight.shape) == (3, 8)
with torch.no_grad():
    blob_acc = accuracy(blob_head(blob_x), blob_y)
assert blob_acc > 0.95, f"the head should separate three well-separated blobs, got {blob_acc:.2f}"
head = add_task(server, "corpus source", new_task.classes, new_task.train.texts, new_task.train.labels)
assert ("corpus source", "linear probe") in server.entries, "register the head with server.add"
assert isinstance(head, torch.nn.Linear) and head.out_features == 3
print(server.predict("corpus source", "linear probe", "thou art more lovely and more temperate ."))
print("visible tests passed")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(3)
far_y = torch.arange(3).repeat_interleave(30)
far_x = 10 + torch.randn(3, 8, generator=g)[far_y] + 0.5 * torch.randn(90, 8, generator=g)
far_head = train_head(far_x, far_y, 3)
far_acc = accuracy(far_head(far_x).detach(), far_y)
assert far_acc > 0.95, f"the head must take raw features, even far from zero: {far_acc:.2f} on offset blobs"
test_logits = server.logits("corpus source", "linear probe", new_task.test.texts)
held_out = accuracy(test_logits, new_task.test.labels)
assert held_out > 0.8, f"held-out accuracy {held_out:.2f} should be above 0.8"
assert base_digest(server) == digest_before, "the shared base's weights must not change"
assert torch.allclose(server.logits("polarity", "linear probe", polarity.test.texts), polarity_before, atol=1e-5), \
    "the polarity task must answer as before"
assert count_parameters(head, trainable_only=False) == 384 * 3 + 3, "a task adds a head, not a copy of the base"
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 (4 points): which method for which use case?
#
# Lesson 09 filled the chapter's comparison table with the course's own measurements (lesson
# 06's committed runs at n = 500 and the lesson's live runs). Use them.
#
# 1. `CHOICES`: for each use case, the method you would pick, one of `"full fine-tuning"`,
#    `"linear probe"`, `"LoRA"`, `"adapter"`, `"prompt tuning"`:
#    - `"many_tenants"`: one server answers for 200 customers, each with their own classifier
#      trained on a few thousand labels; accuracy close to full fine-tuning; no extra latency
#      at inference (the update can be merged into the weights while one tenant is served).
#    - `"quick_check"`: you have a new labelled data set and want to know within a minute
#      whether the frozen base's features already separate its classes.
#    - `"single_task_best"`: one task, 50,000 labels, a dedicated machine with ample memory,
#      and every point of accuracy matters.
#    - `"inputs_only"`: a very large model behind an interface that lets you prepend learned
#      input vectors but never change or add weights inside the network.
#    - `"modules_between_layers"`: per-task modules inserted between the layers, swapped at
#      run time, accepting a little extra inference latency.
# 2. `SUPPORTED`: for each statement, `True` if the course's measurements support it, `False`
#    if they contradict it:
#    - `"lora_under_1_percent"`: LoRA (r = 8 on query and value) trains under 1 % of MiniLM's
#      parameters.
#    - `"full_ft_best_accuracy"`: in lesson 06's committed n = 500 table, full fine-tuning had
#      the highest accuracy of the five methods.
#    - `"prompt_tuning_least_memory"`: of the methods that backpropagate through the encoder
#      (full fine-tuning, LoRA, adapters, prompt tuning), prompt tuning needed the least
#      training memory in lesson 06's table.
#    - `"ten_adapters_smaller_than_two_copies"`: one base plus 10 LoRA adapters take less
#      storage than two fully fine-tuned copies.

# %% nbgrader={"solution": true, "grade_id": "ex2_choose"}
### BEGIN SOLUTION
CHOICES = {
    "many_tenants": "LoRA",
    "quick_check": "linear probe",
    "single_task_best": "full fine-tuning",
    "inputs_only": "prompt tuning",
    "modules_between_layers": "adapter",
}
SUPPORTED = {
    "lora_under_1_percent": True,
    "full_ft_best_accuracy": False,
    "prompt_tuning_least_memory": False,
    "ten_adapters_smaller_than_two_copies": True,
}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex2_choose_tests", "points": 4, "locked": true}
METHODS = {"full fine-tuning", "linear probe", "LoRA", "adapter", "prompt tuning"}
assert set(CHOICES) == {"many_tenants", "quick_check", "single_task_best", "inputs_only", "modules_between_layers"}
assert all(v in METHODS for v in CHOICES.values()), f"choose among {sorted(METHODS)}"
assert set(SUPPORTED) == {"lora_under_1_percent", "full_ft_best_accuracy", "prompt_tuning_least_memory",
                          "ten_adapters_smaller_than_two_copies"}
assert all(isinstance(v, bool) for v in SUPPORTED.values()), "answer True or False"
print("visible tests passed")
### BEGIN HIDDEN TESTS
assert CHOICES["many_tenants"] == "LoRA", "many tenants, near-full accuracy, mergeable: LoRA"
assert CHOICES["quick_check"] == "linear probe"
assert CHOICES["single_task_best"] == "full fine-tuning"
assert CHOICES["inputs_only"] == "prompt tuning"
assert CHOICES["modules_between_layers"] == "adapter"
assert SUPPORTED["lora_under_1_percent"] is True
assert SUPPORTED["full_ft_best_accuracy"] is False, "LoRA edged it out at n = 500 (within noise)"
assert SUPPORTED["prompt_tuning_least_memory"] is False, "its longer inputs keep more activations than LoRA's"
assert SUPPORTED["ten_adapters_smaller_than_two_copies"] is True
### END HIDDEN TESTS

# %% [markdown]
# That's all. Each exercise is graded on its own: the visible tests above are part of the
# grade, and hidden tests check more (held-out accuracy, the base unchanged, the judgements).
