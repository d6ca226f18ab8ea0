"""BERT's pretraining objective at small scale (lesson 05): masked-language modelling.

A small BERT-style encoder (``transformers.BertForMaskedLM``, word-level vocabulary of the
course corpus) pretrained by ``scripts/pretrain_mlm.py`` on the course corpus, and everything
the lesson does with it:

- :class:`WordTokenizer`: the corpus's tokenisation (:func:`course_lib.corpus.tokenize`) and a
  word vocabulary, with ``[CLS]``/``[SEP]``/``[PAD]``/``[UNK]``/``[MASK]``; it answers the call
  :func:`course_lib.textdata.encode` makes of a tokenizer;
- :func:`mask_tokens`: BERT's rule (15 % of the real tokens are chosen; of those 80 % become
  ``[MASK]``, 10 % a random word, 10 % stay as they are; the loss is on the chosen ones only);
- :func:`mlm_loss` and :func:`masked_predictions` (top-k words for a masked position);
- :func:`load_mlm` (the committed checkpoint, asset ``"mlm"``, or the same network at random
  init) and :func:`finetune_mlm` (its encoder in the course's one classifier,
  :class:`course_lib.models.MeanPoolClassifier`, trained with :func:`course_lib.training.fit`).
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from course_lib import assets, models, textdata, training
from course_lib.corpus import tokenize
from course_lib.device import model_device
from course_lib.errors import InputError
from course_lib.schedules import warmup_linear_decay
from course_lib.seed import seed_everything
from course_lib.transformers_ft import shuffled_loader, text_loader

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIALS = [PAD, UNK, CLS, SEP, MASK]  # ids 0..4
MASK_PROB = 0.15
RULE = (0.8, 0.1, 0.1)  # of the chosen tokens: [MASK], a random word, unchanged
IGNORE = -100  # label of the positions the loss skips (PyTorch's cross-entropy default)


# ---------------------------------------------------------------- vocabulary and tokenizer


def build_word_vocab(sentences: Iterable[Sequence[str]], size: int) -> list[str]:
    """The specials, then the ``size - 5`` most frequent words (ties broken alphabetically)."""
    counts: Counter[str] = Counter()
    for s in sentences:
        counts.update(s)
    for s in SPECIALS:
        counts.pop(s, None)
    ranked = sorted(counts, key=lambda t: (-counts[t], t))
    return SPECIALS + ranked[: size - len(SPECIALS)]


class WordTokenizer:
    """Word-level tokenizer: ``course_lib.corpus.tokenize``, then one id per word (``[UNK]`` for the rest).

    ``tok(texts, truncation=True, max_length=64)["input_ids"]`` gives ``[CLS] words [SEP]`` id lists;
    ``tok.pad({"input_ids": lists})`` pads them on the right and adds the attention mask, and
    ``tok(texts, padding=True, ...)`` does both (the subset of the Hugging Face tokenizer API that
    :func:`course_lib.textdata.encode` uses).
    """

    def __init__(self, vocab: Sequence[str]):
        if list(vocab[: len(SPECIALS)]) != SPECIALS:
            raise InputError(f"the vocabulary must start with {SPECIALS}")
        self.itos = list(vocab)
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.pad_token_id, self.unk_token_id, self.cls_token_id, self.sep_token_id, self.mask_token_id = range(5)

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def special_ids(self) -> list[int]:
        return list(range(len(SPECIALS)))

    def words(self, text: str) -> list[str]:
        """The corpus's tokenisation of ``text`` (lower case, clitics split off)."""
        return tokenize(text)

    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        ids = [self.stoi.get(w, self.unk_token_id) for w in self.words(text)]
        if max_length is not None:
            ids = ids[: max_length - 2]
        return [self.cls_token_id, *ids, self.sep_token_id]

    def __call__(self, texts, truncation: bool = False, max_length: int | None = None, padding: bool = False,
                 **_) -> dict:
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = {"input_ids": [self.encode(t, max_length if truncation else None) for t in texts]}
        return self.pad(out) if padding else out

    def pad(self, batch: dict, return_tensors: str = "pt") -> dict[str, torch.Tensor]:
        seqs = batch["input_ids"]
        t = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), t), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros(len(seqs), t, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.as_tensor(s)
            mask[i, : len(s)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]

    def coverage(self, texts: Iterable[str]) -> float:
        """Fraction of the words of ``texts`` that are in the vocabulary."""
        known = total = 0
        for t in texts:
            w = self.words(t)
            total += len(w)
            known += sum(x in self.stoi for x in w)
        return known / max(total, 1)


# ---------------------------------------------------------------- BERT's masking rule


def mask_tokens(
    input_ids: torch.Tensor,
    vocab_size: int,
    special_ids: Sequence[int] = tuple(range(len(SPECIALS))),
    mask_id: int = SPECIALS.index(MASK),
    mask_prob: float = MASK_PROB,
    rule: tuple[float, float, float] = RULE,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: returns (inputs, labels).

    Each non-special token is chosen with probability ``mask_prob``; a chosen token becomes
    ``[MASK]`` (``rule[0]``), a random non-special word (``rule[1]``) or stays (``rule[2]``).
    ``labels`` holds the original id at the chosen positions and -100 (ignored) elsewhere.
    Random draws come from ``generator`` (on the CPU), so a seeded generator repeats the masking.
    """
    if abs(sum(rule) - 1) > 1e-6:
        raise InputError(f"the rule's three fractions must sum to 1, got {rule}")
    ids = input_ids.detach().cpu()
    special = torch.isin(ids, torch.as_tensor(list(special_ids), dtype=ids.dtype))
    u = torch.rand(ids.shape, generator=generator)
    chosen = (u < mask_prob) & ~special
    v = torch.rand(ids.shape, generator=generator)
    to_mask = chosen & (v < rule[0])
    to_random = chosen & (v >= rule[0]) & (v < rule[0] + rule[1])
    n_special = len(special_ids)
    random_words = torch.randint(n_special, vocab_size, ids.shape, generator=generator)
    inputs = ids.clone()
    inputs[to_mask] = mask_id
    inputs[to_random] = random_words[to_random]
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    return inputs.to(input_ids.device), labels.to(input_ids.device)


# ---------------------------------------------------------------- the model


def bert_config(vocab_size: int, hidden: int = 128, layers: int = 4, heads: int = 4, max_length: int = 64,
                dropout: float = 0.1):
    """A small BERT (``transformers.BertConfig``): feed-forward 4 x hidden, one segment type."""
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                      intermediate_size=4 * hidden, max_position_embeddings=max_length, type_vocab_size=1,
                      hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, pad_token_id=0)


def build_mlm(config, seed: int = 0) -> nn.Module:
    """``BertForMaskedLM`` from ``config`` (a BertConfig or its dict) at a seeded random init."""
    from transformers import BertConfig, BertForMaskedLM
    from transformers.utils import logging as hf_logging

    if isinstance(config, dict):
        config = BertConfig(**config)
    hf_logging.set_verbosity_error()
    torch.manual_seed(seed)
    return BertForMaskedLM(config)


def masked_logits(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Vocabulary logits at the labelled (masked) positions only, and their targets.

    Projecting only those positions onto the vocabulary saves most of the output layer's cost.
    Inputs are moved to the model's device.
    """
    dev = model_device(model)
    input_ids, attention_mask, labels = input_ids.to(dev), attention_mask.to(dev), labels.to(dev)
    hidden = model.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    sel = labels != IGNORE
    return model.cls(hidden[sel]), labels[sel]


def mlm_batch_loss(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the masked positions of one batch."""
    logits, target = masked_logits(model, input_ids, attention_mask, labels)
    return nn.functional.cross_entropy(logits, target)


@torch.no_grad()
def mlm_loss(model: nn.Module, tok: WordTokenizer, texts: Sequence[str], max_length: int = 64, batch_size: int = 64,
             seed: int = 0) -> float:
    """MLM loss (nats per masked token) of ``model`` on ``texts``, with a seeded masking (the same for
    every model given the same texts and seed)."""
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    total, n = 0.0, 0
    for b in textdata.batches(textdata.encode(texts, tok, max_length), batch_size=batch_size):
        inputs, labels = mask_tokens(b["input_ids"], len(tok), tok.special_ids, tok.mask_token_id, generator=gen)
        logits, target = masked_logits(model, inputs, b["attention_mask"], labels)
        total += float(nn.functional.cross_entropy(logits, target, reduction="sum"))
        n += len(target)
    model.train(was_training)
    if n == 0:
        raise InputError("no token was masked: give more or longer texts")
    return total / n


def uniform_loss(vocab_size: int) -> float:
    """Loss of guessing uniformly over the vocabulary: ln(V) nats."""
    return math.log(vocab_size)


@torch.no_grad()
def masked_predictions(model: nn.Module, tok: WordTokenizer, sentence: str, words: Sequence[str], k: int = 5,
                       ) -> dict[str, list[tuple[str, float]]]:
    """Mask the first occurrence of each word of ``words`` in ``sentence`` (all at once, as in
    pretraining) and return, per masked word, the model's top-``k`` (word, probability) guesses."""
    was_training = model.training
    model.eval()
    toks = tok.words(sentence)
    ids = tok.encode(sentence)
    positions = []
    for w in words:
        if w not in toks:
            raise InputError(f"{w!r} is not a word of {sentence!r} (words: {toks})")
        positions.append(toks.index(w) + 1)  # +1 for [CLS]
    x = torch.tensor([ids])
    x[0, positions] = tok.mask_token_id
    dev = model_device(model)
    hidden = model.bert(input_ids=x.to(dev), attention_mask=torch.ones_like(x, device=dev)).last_hidden_state
    probs = model.cls(hidden[0, positions]).softmax(-1)
    out = {}
    for w, p in zip(words, probs, strict=True):
        top = p.topk(k)
        out[w] = [(tok.itos[int(i)], float(v)) for v, i in zip(top.values, top.indices, strict=True)]
    model.train(was_training)
    return out


def masked_sentence(tok: WordTokenizer, sentence: str, words: Sequence[str]) -> str:
    """``sentence`` in the corpus's tokenisation with the first occurrence of each of ``words`` as [MASK]."""
    toks = tok.words(sentence)
    for w in words:
        toks[toks.index(w)] = MASK
    return " ".join(toks)


# ---------------------------------------------------------------- save and load


def save_mlm(model: nn.Module, vocab: Sequence[str], folder: str | Path) -> dict[str, Path]:
    """Write ``model.pt`` (fp16 state dict; the tied output layer stored once), ``config.json``, ``vocab.txt``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    half = copy.deepcopy(model).cpu().half()  # tied weights keep sharing storage: saved once
    paths = {"model": folder / "model.pt", "config": folder / "config.json", "vocab": folder / "vocab.txt"}
    torch.save(half.state_dict(), paths["model"])
    keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "max_position_embeddings", "type_vocab_size", "hidden_dropout_prob", "attention_probs_dropout_prob",
            "pad_token_id")
    paths["config"].write_text(json.dumps({k: getattr(model.config, k) for k in keys}, indent=2) + "\n")
    paths["vocab"].write_text("\n".join(vocab) + "\n")
    return paths


def load_mlm_from(folder: str | Path, pretrained: bool = True, seed: int = 0) -> tuple[nn.Module, WordTokenizer]:
    """(model, tokenizer) from a folder written by :func:`save_mlm`: the trained weights in float32,
    or with ``pretrained=False`` the same network at a seeded random init. Eval mode."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    vocab = (folder / "vocab.txt").read_text().split("\n")[: config["vocab_size"]]
    model = build_mlm(config, seed=seed)
    if pretrained:
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval(), WordTokenizer(vocab)


def mlm_dir() -> Path:
    """Verified folder of the committed checkpoint (asset ``"mlm"``)."""
    p = assets.path("mlm")
    return p if p.is_dir() else p.parent


def load_mlm(pretrained: bool = True, seed: int = 0, device: torch.device | str | None = None) -> tuple[nn.Module, WordTokenizer]:
    """The course's small pretrained BERT (asset ``"mlm"``, checksums verified) and its tokenizer;
    ``pretrained=False``: the same architecture at a seeded random init. A fresh copy per call."""
    model, tok = load_mlm_from(mlm_dir(), pretrained=pretrained, seed=seed)
    return model.to(device or "cpu"), tok


def training_record() -> dict:
    """``training.json`` of the committed checkpoint (settings, losses, timings)."""
    return json.loads((mlm_dir() / "training.json").read_text())


# ---------------------------------------------------------------- fine-tuning on sentence labels


@dataclass
class MLMFinetune:
    """Outcome of one fine-tuning run of the small BERT."""

    accuracy: float
    lr: float
    epochs: int
    steps: int
    pretrained: bool
    val_acc: float | None = None
    train_acc: float | None = None
    seconds: float = 0.0
    train_loss: list[float] = field(default_factory=list)


def finetune_mlm(train, test, *, pretrained: bool = True, lr: float = 1e-3, epochs: int = 10, batch_size: int = 16,
                 max_length: int = 64, seed: int = 0, val=None, train_accuracy: bool = False,
                 device: torch.device | str | None = None, progress: bool = True) -> MLMFinetune:
    """Fine-tune the small BERT (or the same network from random init) with mean pooling and a fresh
    2-way head on ``train`` (a :class:`~course_lib.textdata.TextSplit`); test accuracy on ``test``.

    AdamW (weight decay 0.01) at ``lr`` for every weight, 10 % linear warm-up then linear decay,
    :func:`course_lib.training.fit`. ``val`` is scored after the last epoch (for choosing ``lr``).
    """
    seed_everything(seed)
    bert, tok = load_mlm(pretrained=pretrained, seed=seed)
    model = models.MeanPoolClassifier(bert.bert)  # the head drawn right after loading, seeded by load_mlm
    if device is not None:
        model.to(device)
    loader = shuffled_loader(train, tok, batch_size, max_length, seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    total = epochs * len(loader)
    sched = warmup_linear_decay(opt, total)
    t0 = time.perf_counter()
    hist = training.fit(model, loader, epochs=epochs, optimizer=opt, scheduler=sched, progress=progress,
                        desc="pretrained" if pretrained else "random init")

    def score(split) -> float:
        return training.evaluate(model, text_loader(split, tok, batch_size=64, max_length=max_length))[1]

    acc = score(test)
    val_acc = score(val) if val is not None else None
    train_acc = score(train) if train_accuracy else None
    return MLMFinetune(acc, lr, epochs, total, pretrained, val_acc, train_acc, time.perf_counter() - t0, hist.train_loss)


def choose_lr(train, val, lrs: Sequence[float], *, pretrained: bool, epochs: int = 10, seed: int = 0,
              progress: bool = False) -> tuple[float, dict[float, float]]:
    """The learning rate of ``lrs`` with the best accuracy on ``val`` (ties: the smaller rate), and
    every rate's validation accuracy. ``val`` must be disjoint from the training and test sets."""
    return training.choose_lr(
        lrs, lambda lr: finetune_mlm(train, val, pretrained=pretrained, lr=lr, epochs=epochs, seed=seed, progress=progress).accuracy
    )


def rule_counts(inputs: torch.Tensor, labels: torch.Tensor, original: torch.Tensor, mask_id: int) -> dict[str, int]:
    """How the chosen positions were treated: counts of ``[MASK]``, random word, unchanged (and all tokens)."""
    chosen = labels != IGNORE
    masked = chosen & (inputs == mask_id)
    same = chosen & (inputs == original)
    return {"tokens": int(original.numel()), "chosen": int(chosen.sum()), "mask": int(masked.sum()),
            "random": int((chosen & ~masked & ~same).sum()), "unchanged": int(same.sum())}


def ids_to_text(tok: WordTokenizer, ids: Iterable[int]) -> str:
    return " ".join(tok.convert_ids_to_tokens(ids))


def pretraining_steps(record: dict) -> list[int]:
    """Optimizer steps of each pretraining run behind a checkpoint, oldest first (a run resumed with
    ``--resume`` keeps the earlier run's log in ``resumed_from``)."""
    steps = []
    earlier = record.get("resumed_from") or {}
    if earlier:
        logged = [int(m.group(1)) for line in earlier.get("log", []) if (m := re.match(r"step\s+(\d+) ", line))]
        steps.append(max(logged) if logged else 0)
    return [*steps, int(record["steps"])]


def masked_targets(tok: WordTokenizer, texts: Sequence[str], max_length: int = 64, batch_size: int = 64,
                   seed: int = 0) -> torch.Tensor:
    """The words :func:`mlm_loss` is scored on (same texts, seed and batching give the same masks)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for b in textdata.batches(textdata.encode(texts, tok, max_length), batch_size=batch_size):
        _, labels = mask_tokens(b["input_ids"], len(tok), tok.special_ids, tok.mask_token_id, generator=gen)
        out.append(labels[labels != IGNORE])
    return torch.cat(out)


def unigram_loss(tok: WordTokenizer, fit_texts: Sequence[str], texts: Sequence[str], max_length: int = 64,
                 seed: int = 0) -> float:
    """Loss of a guesser that ignores the context: each masked word predicted by its frequency in
    ``fit_texts`` (add-one smoothed over the vocabulary), on the same masked words as :func:`mlm_loss`."""
    counts = torch.ones(len(tok), dtype=torch.float64)
    for ids in tok(fit_texts)["input_ids"]:
        counts += torch.bincount(torch.as_tensor(ids), minlength=len(tok)).double()
    counts[: len(SPECIALS)] = 0
    logp = (counts / counts.sum()).log()
    return float(-logp[masked_targets(tok, texts, max_length, seed=seed)].mean())
