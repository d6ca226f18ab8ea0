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
}
