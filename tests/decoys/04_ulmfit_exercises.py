"""Plausible wrong answers to the lesson-04 exercises: each passes the visible tests, fails the hidden ones."""

DECOYS = {
    # decays over T - cut iterations instead of the paper's cut * (1 / cut_frac - 1):
    # the same when T * cut_frac is a whole number, different otherwise
    "stlr": '''def stlr(t, T, cut_frac=0.1, ratio=32, lr_max=0.01):
    cut = math.floor(T * cut_frac)
    if t < cut:
        p = t / cut
    else:
        p = 1 - (t - cut) / (T - cut)
    return lr_max * (1 + p * (ratio - 1)) / ratio
''',
    # right ratios between layers, but the top layer gets lr_top / factor instead of lr_top
    "discriminative": '''def discriminative_groups(layers, lr_top, factor=2.6):
    n = len(layers)
    return [{"params": list(layer.parameters()), "lr": lr_top / factor ** (n - i)} for i, layer in enumerate(layers)]
''',
    # treats a layer with any trainable parameter as unfrozen
    "unfreeze": '''def unfreeze_next(layers):
    for i in range(len(layers) - 1, -1, -1):
        if not any(p.requires_grad for p in layers[i].parameters()):
            for p in layers[i].parameters():
                p.requires_grad_(True)
            return i
    return None
''',
}
