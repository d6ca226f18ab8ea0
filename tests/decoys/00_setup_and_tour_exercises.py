"""Plausible wrong answers that pass the visible tests and fail the hidden ones."""

DECOYS = {
    # Forgets to subtract the maximum: fine on small logits, NaN on large ones.
    "softmax_t": '''def softmax_t(logits, temperature=1.0):
    e = (logits.float() / temperature).exp()
    return e / e.sum(dim=-1, keepdim=True)
''',
    # Never returns more than two classes.
    "top_k": '''def top_k(probs, names, k=5):
    order = torch.as_tensor(probs).argsort(descending=True)[: min(k, 2)]
    return [(names[int(i)], float(probs[int(i)])) for i in order]
''',
}
