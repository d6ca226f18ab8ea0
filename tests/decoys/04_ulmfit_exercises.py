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
    # steps the scheduler before recording (and before the optimizer): every rate is one step ahead
    "stlr_run": '''def finetune_stlr(model, layers, X, y, epochs=4, batch_size=32, lr_top=1e-2, factor=2.6, cut_frac=0.1, ratio=32, seed=0):
    n = len(layers)
    groups = [{"params": list(layer.parameters()), "lr": lr_top / factor ** (n - 1 - i)} for i, layer in enumerate(layers)]
    optimizer = torch.optim.AdamW(groups)
    T = epochs * math.ceil(len(X) / batch_size)
    cut = math.floor(T * cut_frac)

    def multiplier(t):
        p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
        return (1 + p * (ratio - 1)) / ratio

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
    gen = torch.Generator().manual_seed(seed)
    rates = []
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=gen)
        for start in range(0, len(X), batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            scheduler.step()
            rates.append([group["lr"] for group in optimizer.param_groups])
            optimizer.step()
    return rates
''',
    # well formed, wrong: STLR's warm-up is not what saves the high rate
    "sweep_reading": 'sweep_answers = {"removal_that_hurts_most_at_1e-3": "stlr", "constant_rate_at_3e-3": "chance"}\n',
}
