"""Plausible wrong answers to lesson 01's exercises: each passes the visible tests, fails the hidden ones."""

DECOYS = {
    # hard-codes EfficientNet's 1,280 input features instead of reading them from the old layer
    "ex1_replace_head": """def replace_head(model, num_classes):
    model._fc = nn.Linear(1280, num_classes)
    return model._fc
""",
    # only freezes the backbone; a head that was frozen before stays frozen
    "ex2_freeze": """def freeze_all_but_head(model):
    for name, p in model.named_parameters():
        if not name.startswith("_fc."):
            p.requires_grad = False
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
""",
    # ignores requires_grad: frozen parameters end up in the optimizer, empty groups are kept
    "ex3_groups": """def discriminative_groups(model, head_lr, backbone_lr):
    head = [p for n, p in model.named_parameters() if n.startswith("_fc.")]
    backbone = [p for n, p in model.named_parameters() if not n.startswith("_fc.")]
    return [{"params": head, "lr": head_lr}, {"params": backbone, "lr": backbone_lr}]
""",
    # counts every parameter as trainable
    "ex4_count": """def count_trainable(model):
    total = sum(p.numel() for p in model.parameters())
    return total, total, 100.0
""",
    # the habit of model.train() before a training loop: frozen weights stay put, but every
    # batch norm updates its running statistics (and dropout is on): the lesson's batch-norm trap
    "ex5_finetune_top": """def finetune_top(model, x, y, epochs=4, batch_size=32, lr=3e-3, seed=0):
    top = ("_conv_head.", "_bn1.", "_fc.")
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(top))
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
    return losses
""",
    # well formed, wrong: the small CNN leads at k = 1, 50 and 100, but not at 5
    "ex6_curve_reading": 'curve_answers = {"best_at_5": "small CNN from scratch", "trap_cost_at_10": 32, "small_cnn_ahead_at": [1, 50, 100]}\n',
}
