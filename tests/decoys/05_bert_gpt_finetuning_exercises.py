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
}
