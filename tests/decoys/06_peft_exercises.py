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
}
