"""Plausible wrong answers for lesson 05's exercises: each passes the visible tests and fails the hidden ones."""

DECOYS = {
    # divides by the mask sum without guarding empty rows: nan for an all-padding sentence
    "ex1_mean_pool": '''def mean_pool(hidden, mask):
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1)
''',
    # length - 1 is right only for right padding
    "ex2_last_token": '''def last_token_pool(hidden, mask):
    idx = mask.long().sum(1) - 1
    return hidden[torch.arange(hidden.shape[0]), idx]
''',
    # forgets the tanh of BERT's pooler
    "ex3_head": '''class ClassificationHead(nn.Module):
    def __init__(self, hidden_size, num_labels, dropout=0.1):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden):
        return self.out(self.dropout(self.dense(hidden[:, 0])))
''',
    # freezes blocks 1-5 but forgets the embeddings (and the unused pooler): they stay trainable
    "ex4_top_block": '''def finetune_top_block(model, head, batches, epochs=3, lr=1e-4, head_lr=1e-3, seed=0):
    top = model.encoder.layer[-1]
    for block in model.encoder.layer[:-1]:
        for p in block.parameters():
            p.requires_grad = False
    model.eval()
    with torch.no_grad():
        cached = [model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], output_hidden_states=True).hidden_states[-2]
                  for b in batches]
    optimizer = torch.optim.AdamW([{"params": list(top.parameters()), "lr": lr}, {"params": list(head.parameters()), "lr": head_lr}])
    gen = torch.Generator().manual_seed(seed)
    model.train()
    losses = []
    for _ in range(epochs):
        for i in torch.randperm(len(batches), generator=gen).tolist():
            mask = batches[i]["attention_mask"]
            out = top_block(model, cached[i], mask)
            m = mask.to(out.dtype).unsqueeze(-1)
            pooled = (out * m).sum(1) / m.sum(1).clamp_min(1.0)
            loss = nn.functional.cross_entropy(head(pooled), batches[i]["labels"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    model.eval()
    return losses
''',
    # well formed, wrong: expects fine-tuning to win with 100 labels and in-context examples to help
    "ex5_results_reading": 'results_answers = {"finetune_vs_probe_at_100": "fine-tuning better", "four_examples_in_the_prompt": "helped"}\n',
}
