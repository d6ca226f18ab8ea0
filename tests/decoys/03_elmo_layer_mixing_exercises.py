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
}
