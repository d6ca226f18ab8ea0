"""Plausible wrong answers for lesson 09's exercises: each passes the visible tests and fails the hidden ones."""

DECOYS = {
    # trains on standardised features but returns the layer as trained: right for the visible
    # blobs (centred near zero, so the missing shift hardly matters), wrong on real features,
    # whose offsets are large against their spread
    "ex1_new_task": '''def train_head(features, labels, num_classes, steps=300, lr=0.05):
    torch.manual_seed(0)
    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    z = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
    head = torch.nn.Linear(x.shape[1], num_classes)
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(head(z), y).backward()
        opt.step()
    return head


def add_task(server, name, classes, texts, labels):
    head = train_head(server.features(texts), labels, len(classes))
    server.add(name, "linear probe", classes, head)
    return head
''',
    # believes the chapter's table everywhere, and picks adapters for the many-tenant server
    "ex2_choose": '''CHOICES = {
    "many_tenants": "adapter",
    "quick_check": "linear probe",
    "single_task_best": "full fine-tuning",
    "inputs_only": "prompt tuning",
    "modules_between_layers": "adapter",
}
SUPPORTED = {
    "lora_under_1_percent": True,
    "full_ft_best_accuracy": True,
    "prompt_tuning_least_memory": True,
    "ten_adapters_smaller_than_two_copies": True,
}
''',
}
