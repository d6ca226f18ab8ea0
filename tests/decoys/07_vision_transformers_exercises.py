"""Plausible wrong answers to the lesson-07 exercises: each passes the visible tests, fails the hidden ones."""

DECOYS = {
    # flattens each patch rows, columns, then channel (the "image" order): right for 1 channel only
    "patchify": '''def patchify(x, patch):
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // patch) * (w // patch), patch * patch * c)
''',
    # forgets the CLS token's own position embedding (position 0)
    "cls_pos": '''def add_cls_and_positions(tokens, cls, pos):
    cls = cls.expand(tokens.shape[0], -1, -1)
    return torch.cat([cls, tokens + pos[:, 1:]], dim=1)
''',
    # forgets the 1 / sqrt(d) scaling: right only for heads of size 1
    "cls_attention": '''def cls_attention(x, wq, bq, wk, bk, heads, h):
    d = x.shape[-1] // heads
    q = (x @ wq + bq)[0, h * d : (h + 1) * d]
    k = (x @ wk + bk)[:, h * d : (h + 1) * d]
    return torch.softmax(k @ q, dim=-1)
''',
    # keeps head.state_dict() itself, not a copy: its tensors are the live weights, so the
    # "best" state it loads back at the end is the last epoch's
    "early_stopping": '''def train_with_early_stopping(head, X, y, X_val, y_val, epochs=30, lr=1e-2, batch_size=32, seed=0):
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    val_accs, best, best_state = [], -1.0, None
    for _ in range(epochs):
        head.train()
        order = torch.randperm(len(X), generator=gen)
        for start in range(0, len(X), batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(head(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        head.eval()
        with torch.no_grad():
            acc = (head(X_val).argmax(1) == y_val).float().mean().item()
        val_accs.append(acc)
        if acc > best:
            best = acc
            best_state = head.state_dict()
    head.load_state_dict(best_state)
    return val_accs
''',
    # well formed, wrong: expects the pretrained ViT to win everywhere
    "transfer_reading": 'transfer_answers = {"best_at_50_labels": "DINOv2 probe", "dinov2_last_at": []}\n',
}
