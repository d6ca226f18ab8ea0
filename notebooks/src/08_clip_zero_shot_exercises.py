# %% [markdown]
# # 08 Exercises: CLIP's loss, the zero-shot classifier, prompt ensembling
#
# Three graded exercises on small seeded tensors (no model is loaded: the whole notebook runs in
# seconds). Each exercise is independent: fill in the solution cell, then run its test cell.
# The visible tests are self-checks; more tests run when your work is graded.
#
# Conventions: embeddings are rows of float tensors; `@` is matrix multiplication;
# `torch.nn.functional` is imported as `F`.

# %%
import torch
import torch.nn.functional as F


def rel_error(a, b):
    """Largest relative difference between two tensors (or numbers)."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return float(((a - b).abs() / (a.abs() + b.abs()).clamp_min(1e-8)).max())


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
