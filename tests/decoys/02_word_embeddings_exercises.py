"""Plausible wrong answers for lesson 02's exercises: each passes the visible tests and fails the hidden ones."""

DECOYS = {
    # divides by |u| twice instead of |u| |v|: right only when both vectors have the same length
    "ex1_cosine": '''def cosine(u, v):
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(u)))
''',
    # leaves out b and c but forgets a
    "ex2_analogy": '''def analogy(words, vectors, a, b, c, topn=1):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    index = {w: i for i, w in enumerate(words)}
    q = unit[index[b]] - unit[index[a]] + unit[index[c]]
    scores = unit @ (q / np.linalg.norm(q))
    for w in (b, c):
        scores[index[w]] = -np.inf
    return [words[i] for i in np.argsort(-scores)[:topn]]
''',
    # forgets to cap the weight at 1 above x_max
    "ex3_glove": '''def glove_weight(x, x_max=100.0, alpha=0.75):
    return (x / x_max) ** alpha


def glove_loss(w, w_tilde, b, b_tilde, x, x_max=100.0, alpha=0.75):
    pred = (w * w_tilde).sum(-1) + b + b_tilde
    return (glove_weight(x, x_max, alpha) * (pred - torch.log(x)) ** 2).sum()
''',
    # counts skipped questions as wrong (divides by all questions)
    "ex4_section": '''def section_accuracy(words, vectors, questions):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    index = {w: i for i, w in enumerate(words)}
    correct = answered = 0
    for q in questions:
        if not all(w in index for w in q):
            continue
        a, b, c, d = (index[w] for w in q)
        scores = unit @ (unit[b] - unit[a] + unit[c])
        scores[[a, b, c]] = -np.inf
        correct += int(np.argmax(scores) == d)
        answered += 1
    return (correct / len(questions) if questions else 0.0), answered
''',
    # climbs the gradient instead of descending it: w and b come out the right shape, the classifier is worse than chance
    "ex5_sentiment": '''def embed_sentences(texts):
    out = np.zeros((len(texts), VECS.shape[1]), dtype=np.float32)
    for k, text in enumerate(texts):
        ids = [INDEX[w] for w in text.split() if w in INDEX]
        if ids:
            out[k] = VECS[ids].mean(axis=0)
    return out


def fit_logistic(X, y, epochs=1000, lr=0.5):
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(epochs):
        p = 1 / (1 + np.exp(-(X @ w + b)))
        w += lr * X.T @ (p - y) / len(y)
        b += lr * float(np.mean(p - y))
    return w, b
''',
    # well formed, wrong: "not" has a vector of its own, so B's averages differ
    "ex6_order": 'same_prediction = "B"\n',
}
