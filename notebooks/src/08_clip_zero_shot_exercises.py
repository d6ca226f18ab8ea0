# %% [markdown]
# # 08 Exercises: CLIP's loss, the zero-shot classifier, prompt ensembling
#
# Five graded exercises on small seeded tensors (no model is loaded: the whole notebook runs in
# seconds): three functions, one contrastive training run that you write (graded on pairs you
# never see), and one question on the lesson's training log. Each exercise is independent:
# fill in the solution cell, then run its test cell.
# The visible tests are self-checks; more tests run when your work is graded.
#
# Conventions: embeddings are rows of float tensors; `@` is matrix multiplication;
# `torch.nn.functional` is imported as `F`.

# %%
import torch
import torch.nn.functional as F

torch.set_num_threads(1)  # small tensors: one thread is fastest, and graders run notebooks side by side


def rel_error(a, b):
    """Largest relative difference between two tensors (or numbers)."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return float(((a - b).abs() / (a.abs() + b.abs()).clamp_min(1e-8)).max())


# Synthetic paired features for Exercise 4: each pair shares a hidden 16-d "concept" z; the
# image side sees it through a nonlinear map, the text side through a linear one, both noisy.
LATENT, IMAGE_DIM, TEXT_DIM = 16, 64, 48
_pair_gen = torch.Generator().manual_seed(8)
_P_IMAGE = torch.randn(LATENT, IMAGE_DIM, generator=_pair_gen) / LATENT**0.5
_P_TEXT = torch.randn(LATENT, TEXT_DIM, generator=_pair_gen) / LATENT**0.5


def make_pairs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n paired (image features, text features): row i of both comes from the same concept."""
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, LATENT, generator=rng)
    image = torch.tanh(z @ _P_IMAGE) + 0.7 * torch.randn(n, IMAGE_DIM, generator=rng)
    text = z @ _P_TEXT + 0.7 * torch.randn(n, TEXT_DIM, generator=rng)
    return image, text


IMAGE_TRAIN, TEXT_TRAIN = make_pairs(2000, seed=0)


# %% [markdown]
# ## Exercise 1: the symmetric contrastive loss (3 points)
#
# A batch holds N pairs: row i of `image_emb` and row i of `text_emb` belong together. Both are
# already L2-normalised (N x D). With logits $s_{ij} = u_i \cdot v_j / T$:
#
# * image to text: for each image i, the cross-entropy of the correct caption i among the N captions
#   (the rows of $s$);
# * text to image: for each caption j, the cross-entropy of the correct image j among the N images
#   (the columns of $s$);
# * the loss is the mean of the two (each already averaged over the batch).
#
# Write `clip_loss(image_emb, text_emb, temperature)` returning a scalar tensor.

# %% nbgrader={"solution": true, "grade_id": "ex1_clip_loss"}
def clip_loss(image_emb, text_emb, temperature):
    ### BEGIN SOLUTION
    logits = image_emb @ text_emb.T / temperature
    target = torch.arange(len(logits))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_clip_loss_tests", "points": 3, "locked": true}
g = torch.Generator().manual_seed(0)
u = F.normalize(torch.randn(4, 8, generator=g), dim=1)
loss = clip_loss(u, u, 0.5)  # identical embeddings: both directions agree
assert loss.ndim == 0, "return a scalar tensor"
expected = F.cross_entropy(u @ u.T / 0.5, torch.arange(4))
assert rel_error(loss, expected) < 1e-5, (float(loss), float(expected))
# a perfectly aligned batch at low temperature has a loss near 0; a shuffled one a large loss
assert clip_loss(u, u, 0.01) < 0.05
assert clip_loss(u, u[[1, 2, 3, 0]], 0.01) > 5
print("visible tests passed")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(1)
a = F.normalize(torch.randn(6, 5, generator=g), dim=1)
b = F.normalize(torch.randn(6, 5, generator=g), dim=1)
s = a @ b.T / 0.3
t = torch.arange(6)
ref = (F.cross_entropy(s, t) + F.cross_entropy(s.T, t)) / 2
assert rel_error(clip_loss(a, b, 0.3), ref) < 1e-5
assert rel_error(clip_loss(b, a, 0.3), ref) < 1e-5  # symmetric in its two inputs
assert rel_error(clip_loss(a, b, 1.0), clip_loss(a * 1.0, b, 1.0)) < 1e-6
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: the zero-shot classifier (3 points)
#
# Given image embeddings (N x D) and one text embedding per class (C x D), neither necessarily
# normalised, return class probabilities (N x C): normalise both to unit length, take cosine
# similarities, divide by `temperature`, softmax over the classes.

# %% nbgrader={"solution": true, "grade_id": "ex2_zero_shot"}
def zero_shot_probs(image_emb, class_emb, temperature=0.07):
    ### BEGIN SOLUTION
    sims = F.normalize(image_emb, dim=1) @ F.normalize(class_emb, dim=1).T
    return torch.softmax(sims / temperature, dim=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex2_zero_shot_tests", "points": 3, "locked": true}
classes = torch.eye(3, 4)  # three unit-length class vectors
images = F.normalize(torch.tensor([[1.0, 0.2, 0.0, 0.0], [0.0, 0.1, 1.0, 0.3]]), dim=1)
p = zero_shot_probs(images, classes, temperature=0.1)
assert p.shape == (2, 3), p.shape
assert torch.allclose(p.sum(1), torch.ones(2), atol=1e-5), "each row must sum to 1"
assert p.argmax(1).tolist() == [0, 2]
expected = torch.softmax(images @ classes.T / 0.1, dim=1)
assert rel_error(p, expected) < 1e-5
print("visible tests passed")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(2)
im = torch.randn(5, 6, generator=g) * 3
cl = torch.randn(4, 6, generator=g) * torch.tensor([[0.1], [5.0], [1.0], [2.0]])
ref = torch.softmax(F.normalize(im, dim=1) @ F.normalize(cl, dim=1).T / 0.2, dim=1)
assert rel_error(zero_shot_probs(im, cl, 0.2), ref) < 1e-5
# scaling an embedding must not change its prediction
assert rel_error(zero_shot_probs(im * 10, cl, 0.2), ref) < 1e-5
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: prompt ensembling (4 points)
#
# `prompt_emb` has shape C x T x D: for each of C classes, the text embeddings of T prompts
# ("a {}", "an icon of a {}", ...). CLIP's ensemble: normalise each prompt embedding to unit
# length, average over the T prompts of a class, and normalise the average again. Return C x D.

# %% nbgrader={"solution": true, "grade_id": "ex3_ensemble"}
def ensemble_class_embeddings(prompt_emb):
    ### BEGIN SOLUTION
    return F.normalize(F.normalize(prompt_emb, dim=-1).mean(dim=1), dim=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex3_ensemble_tests", "points": 4, "locked": true}
prompts = F.normalize(torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
                                    [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]]), dim=-1)
e = ensemble_class_embeddings(prompts)
assert e.shape == (2, 3), e.shape
assert torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5), "class embeddings must have unit length"
assert torch.allclose(e[0], torch.tensor([0.5 ** 0.5, 0.5 ** 0.5, 0.0]), atol=1e-5)
assert torch.allclose(e[1], torch.tensor([0.0, 0.0, 1.0]), atol=1e-5)
print("visible tests passed")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(3)
pe = torch.randn(4, 5, 6, generator=g) * torch.rand(4, 5, 1, generator=g) * 10
ref = F.normalize(F.normalize(pe, dim=-1).mean(1), dim=-1)
assert rel_error(ensemble_class_embeddings(pe), ref) < 1e-5
one = torch.tensor([[[3.0, 4.0, 0.0], [0.0, 0.0, 0.1]]])  # a long and a short prompt vector count equally
assert torch.allclose(ensemble_class_embeddings(one)[0], F.normalize(torch.tensor([0.6, 0.8, 1.0]), dim=0), atol=1e-5)
### END HIDDEN TESTS


# %% [markdown]
# ## Exercise 4: train CLIP-style heads (5 points)
#
# `IMAGE_TRAIN` (2,000 x 64) and `TEXT_TRAIN` (2,000 x 48) are paired features from two frozen
# "towers": row i of both describes the same thing. Train one linear head per side into a
# shared space of size `dim`, with CLIP's symmetric contrastive loss, so that an image's
# nearest caption (cosine similarity) is its own.
#
# Write `train_clip_heads(image_feats, text_feats, dim=32, epochs=10, batch_size=64, lr=1e-2,
# temperature=0.1, seed=0)` returning `(image_head, text_head)`, two `nn.Linear` layers
# (`image_feats.shape[1] -> dim` and `text_feats.shape[1] -> dim`), on its own (do not call
# Exercise 1's function):
#
# - seed torch (`torch.manual_seed` with `seed`), then create both heads and one
#   `torch.optim.Adam` (rate `lr`) over the parameters of both;
# - each epoch, shuffle the pairs (a `torch.Generator` seeded with `seed`) and take
#   mini-batches of `batch_size` **pairs** (the same rows of both inputs);
# - for each mini-batch: project both sides, L2-normalise, logits = similarities /
#   `temperature`, loss = mean of the image-to-text and text-to-image cross-entropies (the
#   i-th image matches the i-th text), then the usual zero_grad, backward, step.
#
# The grader measures retrieval on new pairs you never see: for each image, is its own caption
# the most similar of 200 (recall@1)?

# %% nbgrader={"solution": true, "grade_id": "ex4_clip_train"}
def train_clip_heads(image_feats, text_feats, dim=32, epochs=10, batch_size=64, lr=1e-2, temperature=0.1, seed=0):
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    image_head = torch.nn.Linear(image_feats.shape[1], dim)
    text_head = torch.nn.Linear(text_feats.shape[1], dim)
    optimizer = torch.optim.Adam(list(image_head.parameters()) + list(text_head.parameters()), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(image_feats), generator=gen)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            u = F.normalize(image_head(image_feats[idx]), dim=1)
            v = F.normalize(text_head(text_feats[idx]), dim=1)
            logits = u @ v.T / temperature
            target = torch.arange(len(idx))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return image_head, text_head
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex4_clip_train_tests", "points": 5, "locked": true}
image_head, text_head = train_clip_heads(IMAGE_TRAIN, TEXT_TRAIN, dim=32, epochs=10)
assert image_head(IMAGE_TRAIN[:5]).shape == (5, 32) and text_head(TEXT_TRAIN[:5]).shape == (5, 32)
with torch.no_grad():
    sims = F.normalize(image_head(IMAGE_TRAIN[:500]), dim=1) @ F.normalize(text_head(TEXT_TRAIN[:500]), dim=1).T
train_r1 = (sims.argmax(1) == torch.arange(500)).float().mean().item()
print(f"recall@1 among 500 training pairs: {train_r1:.0%}")
print("visible tests passed")
### BEGIN HIDDEN TESTS
_img, _txt = make_pairs(200, seed=31337)
with torch.set_grad_enabled(False):
    _s = F.normalize(image_head(_img), dim=1) @ F.normalize(text_head(_txt), dim=1).T
_i2t = (_s.argmax(1) == torch.arange(200)).float().mean().item()
_t2i = (_s.argmax(0) == torch.arange(200)).float().mean().item()
assert _i2t >= 0.6 and _t2i >= 0.6, f"held-out recall@1 {_i2t:.3f} / {_t2i:.3f} (the reference reaches about 0.8; chance is 0.005)"
_ih, _th = train_clip_heads(IMAGE_TRAIN[:256], TEXT_TRAIN[:256], dim=8, epochs=1, batch_size=128)
assert _ih.out_features == 8 and _th.out_features == 8 and _ih.in_features == 64 and _th.in_features == 48
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: reading the training log (2 points)
#
# Lesson 08 trained its CLIP-style heads for 20 epochs and committed the log
# (`data/lesson08/clip_heads_log.json`: the training loss and, after each epoch, zero-shot
# accuracy on concepts held out of training). Which sentence describes it? Set
# `log_answer` to one letter.
#
# - `"A"`: the training loss and the held-out zero-shot accuracy both improve until the last
#   epoch.
# - `"B"`: the training loss keeps falling to the last epoch, while the held-out zero-shot
#   accuracy peaks mid-training and ends below its peak.
# - `"C"`: the training loss stops falling after a few epochs, while the held-out zero-shot
#   accuracy keeps rising.
# - `"D"`: the held-out zero-shot accuracy never rises above its value after the first epoch.

# %% nbgrader={"solution": true, "grade_id": "ex5_log"}
### BEGIN SOLUTION
log_answer = "B"
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex5_log_tests", "points": 2, "locked": true}
assert log_answer in ("A", "B", "C", "D"), "one of the letters A, B, C, D"
print("visible tests passed (the answer itself is graded by hidden tests)")
### BEGIN HIDDEN TESTS
import json  # noqa: E402

from course_lib import assets  # noqa: E402

_log = json.loads((assets.path("lesson08-clip-heads").parent / "clip_heads_log.json").read_text())
_loss = _log["train_loss_per_epoch"]
_zs = [e["heldout_zero_shot_acc"] for e in _log["eval_per_epoch"]]
assert all(b < a for a, b in zip(_loss, _loss[1:])), "the loss falls every epoch"
_peak = max(range(len(_zs)), key=_zs.__getitem__)
assert 0 < _peak < len(_zs) - 1 and _zs[-1] < _zs[_peak] - 0.03 and _zs[_peak] > _zs[0] + 0.05
assert log_answer == "B"
### END HIDDEN TESTS
