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
}
