"""Plausible wrong answers for lesson 06's exercises: each passes the visible tests and fails the hidden ones."""

DECOYS = {
    # forgets the alpha / r scaling (right only when alpha == r, as in the visible test)
    "ex1_lora": '''def lora_forward(x, W, b, A, B, alpha):
    return x @ W.T + b + (x @ A.T) @ B.T


def lora_merge(W, A, B, alpha):
    return W + B @ A
''',
    # ReLU instead of GELU: identical whenever W_up = 0
    "ex2_adapter": '''def adapter_forward(x, W_down, b_down, W_up, b_up):
    h = torch.relu(x @ W_down.T + b_down)
    return x + h @ W_up.T + b_up
''',
    # masks the virtual tokens out (zeros): the encoder would ignore the prompt
    "ex3_prompt": '''def prepend_prompt(embeds, mask, prompt):
    batch = embeds.shape[0]
    p = prompt.unsqueeze(0).expand(batch, -1, -1)
    zeros = torch.zeros(batch, prompt.shape[0], dtype=mask.dtype)
    return torch.cat([p, embeds], dim=1), torch.cat([zeros, mask], dim=1)
''',
    # MiniLM's width written as a constant in the head: right for hidden = 384 only
    "ex4_count": '''def trainable_params(method, hidden, layers, num_labels, r=8, bottleneck=32, n_virtual=20):
    head = 384 * num_labels + num_labels
    if method == "linear probe":
        return head
    if method == "LoRA":
        return head + 2 * layers * r * (hidden + hidden)
    if method == "adapter":
        one = hidden * bottleneck + bottleneck + bottleneck * hidden + hidden
        return head + 2 * layers * one + (2 * layers + 1) * 2 * hidden
    if method == "prompt tuning":
        return head + n_virtual * hidden
    raise ValueError(f"unknown method {method!r}")
''',
    # "makes sure everything trains": also unfreezes the base weights, which then drift
    "ex5_lora_train": '''class LoRA(nn.Module):
    def __init__(self, base, r=4, alpha=8.0):
        super().__init__()
        self.base = base
        self.A = nn.Parameter(0.01 * torch.randn(r, base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + self.scale * (x @ self.A.T) @ self.B.T


def add_lora(model, r=4, alpha=8.0):
    for i, layer in enumerate(model.body):
        if isinstance(layer, nn.Linear):
            model.body[i] = LoRA(layer, r, alpha)
    model.requires_grad_(True)
    return model


def train_lora(model, X, y, epochs=10, lr=1e-2, batch_size=32, seed=0):
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=gen)
        for start in range(0, len(X), batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model
''',
    # well formed, wrong: the adapter also makes the bar, but stores about four times as much per task
    "ex6_serving": 'serving_method = "adapter"\n',
}
