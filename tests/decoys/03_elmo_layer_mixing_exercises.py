"""Plausible wrong answers to lesson 03's exercises: each passes the visible tests, fails the hidden ones."""

DECOYS = {
    # forgets gamma: right only when gamma is 1
    "ex1_scalar_mix": """def scalar_mix(layers, s, gamma=1.0):
    w = torch.softmax(torch.as_tensor(s, dtype=layers.dtype), dim=0)
    return (w.view(-1, *([1] * (layers.ndim - 1))) * layers).sum(0)
""",
    # scores each layer on the training data instead of the test data
    "ex2_layer_probe": """def layer_probe_accuracies(train_layers, y_train, test_layers, y_test):
    classes = torch.unique(y_train)
    accs = []
    for layer in range(train_layers.shape[0]):
        means = torch.stack([train_layers[layer][y_train == c].mean(0) for c in classes])
        pred = classes[torch.cdist(train_layers[layer], means).argmin(1)]
        accs.append(float((pred == y_train).float().mean()))
    return accs
""",
    # keeps each sentence's similarity with itself (always 1) in the within-sense mean
    "ex3_separation": """def sense_separation(vectors, senses):
    v = np.asarray(vectors, dtype=np.float64)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    sim = v @ v.T
    senses = np.asarray(senses)
    same = senses[:, None] == senses[None, :]
    return float(sim[same].mean() - sim[~same].mean())
""",
    # s is made but never handed to the optimizer: the mix stays uniform, never learned
    "ex4_mix_probe": """def fit_mix_probe(layers, y, num_classes, steps=100, lr=0.05, weight_decay=0.01, seed=0):
    torch.manual_seed(seed)
    s = torch.zeros(layers.shape[0], requires_grad=True)
    gamma = torch.tensor(1.0, requires_grad=True)
    head = nn.Linear(layers.shape[2], num_classes)
    optimizer = torch.optim.Adam([gamma, *head.parameters()], lr=lr)
    for _ in range(steps):
        mixed = gamma * torch.einsum("l,lnd->nd", torch.softmax(s, 0), layers)
        loss = nn.functional.cross_entropy(head(mixed), y) + weight_decay * (gamma * head.weight).pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return s, gamma, head
""",
    # well formed, wrong: a word the probe never saw gains less from context than an ambiguous one
    "ex5_pos_reading": 'pos_answers = {"worst_layer": "token", "gain_largest_on": "unseen"}\n',
}
