"""Plausible wrong answers to lesson 08's exercises: each passes the visible tests, fails the hidden ones."""

DECOYS = {
    # only the image -> text direction (equal to the symmetric loss when the logits are symmetric)
    "ex1_clip_loss": '''def clip_loss(image_emb, text_emb, temperature):
    logits = image_emb @ text_emb.T / temperature
    return F.cross_entropy(logits, torch.arange(len(logits)))
''',
    # forgets to normalise: right only for unit-length inputs
    "ex2_zero_shot": '''def zero_shot_probs(image_emb, class_emb, temperature=0.07):
    return torch.softmax(image_emb @ class_emb.T / temperature, dim=1)
''',
    # averages raw prompt vectors, so a long one outweighs a short one
    "ex3_ensemble": '''def ensemble_class_embeddings(prompt_emb):
    return F.normalize(prompt_emb.mean(dim=1), dim=-1)
''',
    # shuffles images and texts with two different permutations: the batch's "pairs" no longer match
    "ex4_clip_train": '''def train_clip_heads(image_feats, text_feats, dim=32, epochs=10, batch_size=64, lr=1e-2, temperature=0.1, seed=0):
    torch.manual_seed(seed)
    image_head = torch.nn.Linear(image_feats.shape[1], dim)
    text_head = torch.nn.Linear(text_feats.shape[1], dim)
    optimizer = torch.optim.Adam(list(image_head.parameters()) + list(text_head.parameters()), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        image_order = torch.randperm(len(image_feats), generator=gen)
        text_order = torch.randperm(len(text_feats), generator=gen)
        for start in range(0, len(image_order), batch_size):
            u = F.normalize(image_head(image_feats[image_order[start : start + batch_size]]), dim=1)
            v = F.normalize(text_head(text_feats[text_order[start : start + batch_size]]), dim=1)
            logits = u @ v.T / temperature
            target = torch.arange(len(logits))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return image_head, text_head
''',
    # well formed, wrong: reads the last epoch as the best one
    "ex5_log": 'log_answer = "A"\n',
}
