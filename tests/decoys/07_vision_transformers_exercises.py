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
}
