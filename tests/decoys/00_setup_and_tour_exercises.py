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
    # Forgets optimizer.zero_grad(): gradients pile up from step to step.
    "train_loop": '''def train_head(model, X, y, epochs=10, lr=0.1, batch_size=50, seed=0):
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=gen)
        total = 0.0
        for start in range(0, len(X), batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        losses.append(total / len(X))
    return losses
''',
    # Well-formed, wrong: a higher temperature sharpens nothing.
    "temperature": 'answer = "C"\n',
}
