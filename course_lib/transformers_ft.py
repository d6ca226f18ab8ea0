"""Lesson 05: fine-tuning an encoder (MiniLM, BERT-style) and a decoder (SmolLM2, GPT-style).

Pooling (mean, [CLS], last token), MiniLM fine-tuning with frozen layers, the SmolLM2 loader,
last-token features, zero-shot and few-shot scoring, per-token language-model loss, a
last-block fine-tune on cached hidden states, and the lesson's widgets.
"""

from __future__ import annotations

import copy
import hashlib
import os
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import assets
from course_lib.errors import InputError
from course_lib.models import mean_pool
from course_lib.textdata import TextSplit
from course_lib.training import count_parameters

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = "Review: {text}\nSentiment:"
LABEL_WORDS = (" negative", " positive")  # index = label
# linear-probe settings (course_lib.training.fit_linear_probe) chosen at n=100 on lesson 05's data
PROBE_MINILM = {"weight_decay": 0.1, "standardize": False}
PROBE_SMOLLM2 = {"weight_decay": 1e-3, "standardize": True}
CACHE_DIR = Path(os.environ.get("COURSE_CACHE", Path.home() / ".cache" / "course_lib")) / "lesson05"

def committed_results() -> dict:
    """The larger runs of ``scripts/lesson05_runs.py`` (config, seed, accuracies, log), read
    checksum-verified through the asset registry (entry ``lesson05-results``)."""
    import json

    return json.loads(assets.path("lesson05-results").read_text())


# ---------------------------------------------------------------- pooling


def cls_pool(hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The first position's hidden state ([CLS] in BERT): [B, T, H] -> [B, H]."""
    return hidden[:, 0]


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token of each row, for left or right padding (or none)."""
    t = mask.shape[1]
    positions = torch.arange(t, device=mask.device).expand_as(mask)
    return torch.where(mask.bool(), positions, torch.full_like(positions, -1)).max(1).values.clamp_min(0)


def last_token_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Hidden state of the last real token (what a causal LM has read the whole text at)."""
    idx = last_token_index(mask)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), idx]


POOLINGS = {"mean": mean_pool, "cls": cls_pool, "last": last_token_pool}


# ---------------------------------------------------------------- small helpers


def subset(split: TextSplit, n: int, seed: int = 0) -> TextSplit:
    """A stratified, seeded subset of n items (n/2 per class), in the original order."""
    if n >= len(split):
        return split
    rng = np.random.default_rng(seed)
    idx = np.sort(np.concatenate([rng.permutation(np.flatnonzero(split.labels == c))[: n // 2] for c in (0, 1)]))
    return TextSplit([split.texts[i] for i in idx], split.labels[idx])


def polarity_validation(n: int = 200, after: int = 500) -> TextSplit:
    """``n`` labelled sentences of the polarity training pool (n/2 per class) that lie outside
    ``polarity_train(after)`` and the test set: for choosing a recipe (e.g. a learning rate)
    without the test set. Sentences whose text also occurs in the training subset are dropped."""
    from course_lib.textdata import polarity_train

    big, used = polarity_train(after + n), set(polarity_train(after).texts)
    keep = [i for i, t in enumerate(big.texts) if t not in used]
    return TextSplit([big.texts[i] for i in keep], big.labels[keep])


def accuracy(pred: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray) -> float:
    """Fraction of equal entries."""
    return float((torch.as_tensor(pred) == torch.as_tensor(labels)).float().mean())


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode())
    return h.hexdigest()[:16]


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cached(name: str, key: str, compute, use_cache: bool = True):
    """Load ``name-key.pt`` from :data:`CACHE_DIR` or compute and save it (derived features only).

    Every cache file is written with its sha256 beside it (``.pt.sha256``) and read only when
    the checksum matches: a truncated, corrupt or altered file is recomputed, never used.
    """
    path = CACHE_DIR / f"{name}-{key}.pt"
    digest = path.with_suffix(".pt.sha256")
    if use_cache and path.is_file():
        try:
            if digest.read_text().strip() != _file_sha256(path):
                raise ValueError("checksum mismatch")
            return torch.load(path, weights_only=True)
        except Exception:  # a missing checksum, a mismatch or an unreadable file: recompute
            path.unlink(missing_ok=True)
            digest.unlink(missing_ok=True)
    value = compute()
    if use_cache:
        try:
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(value, tmp)
            digest.write_text(_file_sha256(tmp) + "\n")
            tmp.replace(path)
        except OSError:
            pass
    return value


def _batches_by_length(lengths: list[int], batch_size: int) -> list[np.ndarray]:
    """Index batches of similar length (less padding), in a fixed order."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


# ---------------------------------------------------------------- MiniLM (encoder)


def minilm_layers(model: nn.Module) -> nn.ModuleList:
    """The encoder blocks of MiniLM, bare or with a classification head."""
    base = getattr(model, "bert", model)
    return base.encoder.layer


def freeze_minilm(model: nn.Module, n_frozen: int) -> int:
    """Freeze the embeddings and the first ``n_frozen`` encoder blocks (0 = train everything).

    ``n_frozen`` equal to the number of blocks leaves only what sits on top (pooler, head) trainable.
    Returns the number of trainable parameters.
    """
    layers = minilm_layers(model)
    if not 0 <= n_frozen <= len(layers):
        raise InputError(f"n_frozen must be between 0 and {len(layers)}, got {n_frozen}")
    base = getattr(model, "bert", model)
    for p in model.parameters():
        p.requires_grad = True
    if n_frozen > 0:
        for p in base.embeddings.parameters():
            p.requires_grad = False
        for layer in layers[:n_frozen]:
            for p in layer.parameters():
                p.requires_grad = False
    return count_parameters(model)


@lru_cache(maxsize=1)
def _minilm_tokenizer():
    from course_lib.models import load_minilm_tokenizer

    return load_minilm_tokenizer()


def text_loader(split: TextSplit, tokenizer, batch_size: int = 16, max_length: int = 64, shuffle: bool = False, seed: int = 0):
    """A list of tokenised batches (dicts with input_ids, attention_mask, labels), padded per batch.

    Shuffled batches are drawn with a fixed seed; unshuffled ones are grouped by length.
    """
    enc = tokenizer(list(split.texts), truncation=True, max_length=max_length)
    ids = enc["input_ids"]
    if shuffle:
        order = np.random.default_rng(seed).permutation(len(ids))
        groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    else:
        groups = _batches_by_length([len(x) for x in ids], batch_size)
    batches = []
    for g in groups:
        b = tokenizer.pad({"input_ids": [ids[i] for i in g]}, return_tensors="pt")
        batches.append(
            {
                "input_ids": b["input_ids"],
                "attention_mask": b["attention_mask"],
                "labels": torch.as_tensor(split.labels[g], dtype=torch.long),
            }
        )
    return batches


class EpochLoader:
    """Tokenised, shuffled text batches (as :func:`text_loader`) drawn afresh every epoch (a plain
    list would repeat the same batches), with a length for :func:`course_lib.training.fit`'s bar."""

    def __init__(self, split, tokenizer, batch_size, max_length, seed):
        self.args = (split, tokenizer, batch_size, max_length)
        self.seed = seed
        self.epoch = 0
        self._len = -(-len(split) // batch_size)

    def __len__(self):
        return self._len

    def __iter__(self):
        batches = text_loader(*self.args, shuffle=True, seed=self.seed * 1000 + self.epoch)
        self.epoch += 1
        return iter(batches)


@torch.no_grad()
def minilm_features(
    texts: list[str],
    pooling: str | tuple[str, ...] = "mean",
    max_length: int = 64,
    batch_size: int = 64,
    progress: bool = True,
    model=None,
):
    """Frozen pretrained MiniLM sentence features, [N, 384], with ``mean`` or ``cls`` pooling.

    A tuple of poolings returns a dict of features from one pass over the texts.
    """
    from course_lib.models import load_minilm

    names = (pooling,) if isinstance(pooling, str) else tuple(pooling)
    if not names or any(p not in ("mean", "cls") for p in names):
        raise InputError(f"pooling must be 'mean' or 'cls' (or a tuple of them), got {pooling!r}")
    model = model or load_minilm().eval()
    tok = _minilm_tokenizer()
    enc = tok(list(texts), truncation=True, max_length=max_length)
    out = {p: torch.zeros(len(texts), model.config.hidden_size) for p in names}
    groups = _batches_by_length([len(x) for x in enc["input_ids"]], batch_size)
    for g in tqdm(groups, desc="MiniLM features", disable=not progress, leave=False):
        b = tok.pad({"input_ids": [enc["input_ids"][i] for i in g]}, return_tensors="pt")
        hidden = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state
        for p in names:
            out[p][torch.as_tensor(g)] = POOLINGS[p](hidden, b["attention_mask"])
    return out[pooling] if isinstance(pooling, str) else out


class MeanPoolClassifier(nn.Module):
    """A BERT-style encoder with mean pooling over real tokens and a linear head: MiniLM
    (pretrained or random init) by default, or the ``encoder`` given (e.g. lesson 05's small
    BERT, ``mlm_model.bert``).

    The encoder sits in ``.bert`` (so :func:`freeze_minilm` works); BERT's unused pooler is dropped.
    """

    def __init__(self, pretrained: bool = True, num_labels: int = 2, seed: int = 0, encoder: nn.Module | None = None):
        super().__init__()
        from course_lib.models import load_minilm

        self.bert = encoder if encoder is not None else load_minilm(pretrained=pretrained, seed=seed)
        self.bert.pooler = None
        self.head = nn.Linear(self.bert.config.hidden_size, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_) -> torch.Tensor:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(mean_pool(hidden, attention_mask))


@dataclass
class FinetuneResult:
    """Outcome of one MiniLM fine-tuning run."""

    accuracy: float
    train_loss: list[float] = field(default_factory=list)
    trainable: int = 0
    seconds: float = 0.0
    config: dict = field(default_factory=dict)
    val_acc: list[float] = field(default_factory=list)  # after each epoch, if a validation split was given
    train_acc: float | None = None  # on the training sentences after the last epoch, if asked
    steps: int = 0


def finetune_minilm(
    train: TextSplit,
    test: TextSplit,
    *,
    pretrained: bool = True,
    lr: float = 5e-5,
    head_lr: float = 1e-3,
    epochs: int = 4,
    n_frozen: int = 0,
    batch_size: int = 16,
    max_length: int = 64,
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
    val: TextSplit | None = None,
    train_accuracy: bool = False,
) -> FinetuneResult:
    """Fine-tune MiniLM with mean pooling and a fresh 2-way head (or the same network from
    random init); returns the test accuracy. AdamW, the encoder at ``lr`` and the new head at
    ``head_lr``, with linear warm-up (10 %) and decay.

    ``val`` (a split disjoint from train and test) is evaluated after every epoch, for choosing
    a recipe without the test set; ``train_accuracy`` also measures the fit on ``train``.
    """
    from course_lib.seed import seed_everything
    from course_lib.training import evaluate, fit

    seed_everything(seed)
    model = MeanPoolClassifier(pretrained=pretrained, seed=seed)
    trainable = freeze_minilm(model, n_frozen)
    tok = _minilm_tokenizer()
    loader = EpochLoader(train, tok, batch_size, max_length, seed)
    encoder_params = [p for p in model.bert.parameters() if p.requires_grad]
    groups = [{"params": list(model.head.parameters()), "lr": head_lr}]
    if encoder_params:
        groups.append({"params": encoder_params, "lr": lr})
    opt = torch.optim.AdamW(groups, weight_decay=0.01)
    total = epochs * len(loader)
    warm = max(1, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    t0 = time.perf_counter()
    val_loader = text_loader(val, tok, batch_size=64, max_length=max_length) if val is not None else None
    hist = fit(model, loader, val_loader, epochs=epochs, optimizer=opt, scheduler=sched, progress=progress, desc=desc or ("fine-tune" if pretrained else "random init"))
    _, acc = evaluate(model, text_loader(test, tok, batch_size=64, max_length=max_length))
    train_acc = evaluate(model, text_loader(train, tok, batch_size=64, max_length=max_length))[1] if train_accuracy else None
    config = dict(n=len(train), n_test=len(test), pretrained=pretrained, lr=lr, head_lr=head_lr, epochs=epochs, n_frozen=n_frozen, batch_size=batch_size, max_length=max_length, seed=seed)
    return FinetuneResult(acc, hist.train_loss, trainable, time.perf_counter() - t0, config, list(hist.val_acc), train_acc, total)


# ---------------------------------------------------------------- SmolLM2 (decoder)


def smollm2_dir() -> Path:
    """Verified folder holding SmolLM2's GGUF file."""
    return assets.path("smollm2-135m").parent


def _quiet_gguf_load(fn):
    """Run a GGUF load without transformers' de-quantisation progress bar (stable notebook output)."""
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    original = gguf_utils.tqdm
    gguf_utils.tqdm = lambda it, *a, **k: it
    try:
        return fn()
    finally:
        gguf_utils.tqdm = original


@lru_cache(maxsize=1)
def load_smollm2():
    """(model, tokenizer) of SmolLM2-135M-Instruct, dequantised to float32; loaded once per kernel.

    The tokenizer pads on the right with ``<|im_end|>``; the model is in eval mode.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = smollm2_dir()

    def load():
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
        return model, tok

    model, tok = _quiet_gguf_load(load)
    tok.padding_side = "right"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.eval()
    for p in model.parameters():
        p.requires_grad = False
    return model, tok


def label_token_ids(tok, words: tuple[str, ...] = LABEL_WORDS) -> list[int]:
    """The single token id of each label word (with its leading space)."""
    ids = []
    for w in words:
        t = tok(w, add_special_tokens=False)["input_ids"]
        if len(t) != 1:
            raise InputError(f"{w!r} is {len(t)} tokens for this tokenizer; choose single-token label words")
        ids.append(t[0])
    return ids


def chat_prompt(tok, user_text: str) -> str:
    """The instruct model's chat template around one user message, ready for the reply."""
    return tok.apply_chat_template([{"role": "user", "content": user_text}], tokenize=False, add_generation_prompt=True)


@torch.no_grad()
def generate(model, tok, prompt: str, max_new_tokens: int = 30, temperature: float = 0.0, seed: int = 0, chat: bool = True) -> str:
    """Continue ``prompt``: greedy at temperature 0, else seeded sampling. Returns the new text."""
    if max_new_tokens < 1:
        raise InputError("max_new_tokens must be at least 1")
    text = chat_prompt(tok, prompt) if chat else prompt
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    torch.manual_seed(seed)
    kwargs = dict(do_sample=True, temperature=float(temperature), top_k=0, top_p=1.0) if temperature > 0 else dict(do_sample=False)
    out = model.generate(**enc, max_new_tokens=int(max_new_tokens), pad_token_id=tok.pad_token_id, **kwargs)
    return tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)


@torch.no_grad()
def token_losses(model, tok, sentence: str) -> list[tuple[str, float]]:
    """The next-token objective on one sentence: (token, -log p(token | tokens before)) for each
    token after the first. Their mean is the language-model loss."""
    ids = tok(sentence, return_tensors="pt", add_special_tokens=False)["input_ids"]
    logits = model(input_ids=ids).logits[0, :-1]
    nll = nn.functional.cross_entropy(logits, ids[0, 1:], reduction="none")
    return [(tok.decode([int(t)]), float(v)) for t, v in zip(ids[0, 1:], nll, strict=True)]


@dataclass
class DecoderFeatures:
    """What one pass of SmolLM2 over prompted texts yields.

    ``last``: final (normed) hidden state at the last token [N, 576]; ``scores``: label-word
    logits there [N, 2]; ``block_input``: hidden states entering the last block [N, T, 576]
    (right-padded, kept only if asked); ``lengths``: tokens per text.
    """

    last: torch.Tensor
    scores: torch.Tensor
    lengths: torch.Tensor
    block_input: torch.Tensor | None = None


def _tokenize_prompts(tok, texts, template, max_length):
    prompts = [template.format(text=t) for t in texts]
    enc = tok(prompts, add_special_tokens=False)["input_ids"]
    # truncate the review, never the "Sentiment:" cue at the end
    suffix = tok(template.split("{text}")[1], add_special_tokens=False)["input_ids"]
    return [ids if len(ids) <= max_length else ids[: max_length - len(suffix)] + suffix for ids in enc]


@torch.no_grad()
def decoder_features(
    model,
    tok,
    texts: list[str],
    template: str = PROMPT,
    max_length: int = 64,
    batch_size: int = 32,
    keep_block_input: bool = False,
    prefix: str = "",
    progress: bool = True,
    use_cache: bool = True,
) -> DecoderFeatures:
    """Run SmolLM2 once over ``prefix + template.format(text=...)`` for every text.

    A ``prefix`` (few-shot examples) is encoded once and its key/value cache reused for every
    batch. Results are cached on disk, keyed by the model file, texts and settings.
    """
    key = _digest(assets.get("smollm2-135m").files, list(texts), template, max_length, keep_block_input, prefix)

    def compute():
        ids = _tokenize_prompts(tok, texts, template, max_length)
        label_ids = torch.tensor(label_token_ids(tok))
        h = model.config.hidden_size
        n = len(ids)
        t_max = max(len(x) for x in ids)
        last = torch.zeros(n, h)
        scores = torch.zeros(n, 2)
        block = torch.zeros(n, t_max, h) if keep_block_input else None
        prefix_cache, p_len = None, 0
        if prefix:
            p_ids = tok(prefix, return_tensors="pt", add_special_tokens=False)["input_ids"]
            p_len = p_ids.shape[1]
            prefix_cache = model.model(input_ids=p_ids, use_cache=True).past_key_values
        n_layers = model.config.num_hidden_layers
        for g in tqdm(_batches_by_length([len(x) for x in ids], batch_size), desc="SmolLM2 features", disable=not progress, leave=False):
            b = tok.pad({"input_ids": [ids[i] for i in g]}, return_tensors="pt")
            mask = b["attention_mask"]
            kwargs = {}
            if prefix_cache is not None:
                cache = copy.deepcopy(prefix_cache)
                cache.batch_repeat_interleave(len(g))
                kwargs = dict(past_key_values=cache, use_cache=True)
                full_mask = torch.cat([torch.ones(len(g), p_len, dtype=mask.dtype), mask], 1)
            else:
                full_mask = mask
            with warnings.catch_warnings():  # as in greedy_continues: past_key_values, renamed in transformers 5.x
                warnings.simplefilter("ignore", FutureWarning)
                out = model.model(input_ids=b["input_ids"], attention_mask=full_mask, output_hidden_states=keep_block_input,
                                  **kwargs)
            final = last_token_pool(out.last_hidden_state, mask)
            gi = torch.as_tensor(g)
            last[gi] = final
            scores[gi] = model.lm_head(final)[:, label_ids]
            if keep_block_input:
                block[gi, : mask.shape[1]] = out.hidden_states[n_layers - 1] * mask.unsqueeze(-1)
        lengths = torch.tensor([len(x) for x in ids])
        return {"last": last, "scores": scores, "lengths": lengths, **({"block_input": block} if keep_block_input else {})}

    d = _cached("smollm2", key, compute, use_cache)
    return DecoderFeatures(d["last"], d["scores"], d["lengths"], d.get("block_input"))


def few_shot_prefix(examples: TextSplit, template: str = PROMPT) -> str:
    """Labelled examples written in the prompt format, one after another (in-context learning)."""
    parts = [template.format(text=t) + LABEL_WORDS[int(y)] + "\n\n" for t, y in zip(examples.texts, examples.labels, strict=True)]
    return "".join(parts)


def zero_shot_predict(scores: torch.Tensor) -> torch.Tensor:
    """Label whose word has the larger logit (0 = negative, 1 = positive)."""
    return scores.argmax(1)


# ---------------------------------------------------------------- last block + head on cached states


class LastBlockClassifier(nn.Module):
    """A copy of SmolLM2's last decoder block and final norm, plus a 2-way head, run on cached
    hidden states that enter the last block. The head starts as the LM head's rows for the
    label words, so before training it reproduces the zero-shot prediction."""

    def __init__(self, model, label_ids: list[int], train_block: bool = True):
        super().__init__()
        self.block = copy.deepcopy(model.model.layers[-1])
        self.norm = copy.deepcopy(model.model.norm)
        self.rotary = model.model.rotary_emb
        self.head = nn.Linear(model.config.hidden_size, 2, bias=True)
        with torch.no_grad():
            self.head.weight.copy_(model.lm_head.weight[label_ids])
            self.head.bias.zero_()
        for p in list(self.block.parameters()) + list(self.norm.parameters()):
            p.requires_grad = train_block
        for p in self.head.parameters():
            p.requires_grad = True

    def forward(self, block_input: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        b, t, _ = block_input.shape
        pos = torch.arange(t, device=block_input.device).unsqueeze(0).expand(b, t)
        cos_sin = self.rotary(block_input, pos)
        causal = torch.full((t, t), float("-inf"), device=block_input.device).triu(1)
        out = self.block(block_input, attention_mask=causal.expand(b, 1, t, t), position_ids=pos, position_embeddings=cos_sin)
        out = out[0] if isinstance(out, tuple) else out
        out = self.norm(out)
        final = out[torch.arange(b), (lengths - 1).clamp_min(0)]
        return self.head(final)


def train_last_block(
    model,
    tok,
    feats: DecoderFeatures,
    labels: np.ndarray,
    *,
    train_block: bool = True,
    epochs: int = 4,
    lr: float = 1e-4,
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = True,
) -> LastBlockClassifier:
    """Fine-tune the last block (and the head) on cached block inputs; returns the classifier."""
    if feats.block_input is None:
        raise InputError("decoder_features(..., keep_block_input=True) is needed to train the last block")
    torch.manual_seed(seed)
    clf = LastBlockClassifier(model, label_token_ids(tok), train_block=train_block)
    params = [p for p in clf.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    y = torch.as_tensor(labels, dtype=torch.long)
    n = len(y)
    gen = torch.Generator().manual_seed(seed)
    steps = epochs * -(-n // batch_size)
    bar = tqdm(total=steps, desc="last block", disable=not progress, leave=False, mininterval=1.0)
    clf.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            t = int(feats.lengths[idx].max())
            logits = clf(feats.block_input[idx, :t], feats.lengths[idx])
            loss = nn.functional.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    return clf.eval()


@torch.no_grad()
def predict_last_block(clf: LastBlockClassifier, feats: DecoderFeatures, batch_size: int = 64) -> torch.Tensor:
    """Predicted labels of the last-block classifier on cached block inputs."""
    clf.eval()
    preds = []
    for i in range(0, len(feats.lengths), batch_size):
        sl = slice(i, i + batch_size)
        t = int(feats.lengths[sl].max())
        preds.append(clf(feats.block_input[sl, :t], feats.lengths[sl]).argmax(1))
    return torch.cat(preds)


# ---------------------------------------------------------------- widgets


@lru_cache(maxsize=1)
def _minilm_param_table() -> tuple[int, int, tuple[int, ...], int]:
    """(embeddings, head, per-block, total) parameter counts of MiniLM with mean pooling and a 2-way head."""
    m = MeanPoolClassifier()
    emb = sum(p.numel() for p in m.bert.embeddings.parameters())
    blocks = tuple(sum(p.numel() for p in layer.parameters()) for layer in m.bert.encoder.layer)
    total = sum(p.numel() for p in m.parameters())
    return emb, total - emb - sum(blocks), blocks, total


def trainable_minilm(n_frozen: int) -> tuple[int, int]:
    """(trainable, total) parameters of :class:`MeanPoolClassifier` with ``n_frozen`` frozen blocks."""
    emb, rest, blocks, total = _minilm_param_table()
    if not 0 <= n_frozen <= len(blocks):
        raise InputError(f"n_frozen must be between 0 and {len(blocks)}, got {n_frozen}")
    trainable = rest + sum(blocks[n_frozen:]) + (emb if n_frozen == 0 else 0)
    return trainable, total


def describe_freezing(n_frozen: int, lr: float) -> str:
    """One line for the widget: what trains, how many parameters, at which rate."""
    trainable, total = trainable_minilm(n_frozen)
    what = "everything" if n_frozen == 0 else f"blocks {n_frozen + 1}-6 + head" if n_frozen < 6 else "the head only"
    return f"frozen blocks: {n_frozen} | trains {what} | {trainable:,} of {total:,} parameters ({trainable / total:.1%}) | lr {lr:.0e}"


def finetune_widget(train: TextSplit | None = None, test: TextSplit | None = None, epochs: int = 3):
    """Sliders for the learning rate (log scale) and frozen blocks, and a Train button that
    fine-tunes MiniLM on ``train`` with a progress bar and reports the test accuracy.

    Without data the button is disabled (the count still updates): e.g. for a quick demo.
    ``panel.result`` is the freezing line shown; ``panel.train`` the Train button.
    """
    import ipywidgets as W
    from IPython.display import HTML, display

    from course_lib.widgets import ActionButton, live_panel, log_slider

    controls = {"lr": log_slider("learning rate", 5e-5, 1e-6, 1e-2, step=0.25),
                "n_frozen": W.IntSlider(value=0, min=0, max=6, description="frozen blocks", continuous_update=False,
                                        style={"description_width": "initial"})}

    def describe(lr: float, n_frozen: int) -> str:
        line = describe_freezing(n_frozen, lr)
        display(HTML(f"<code>{line}</code>"))
        return line

    def run(progress) -> str:
        res = finetune_minilm(train, test, lr=controls["lr"].value, n_frozen=controls["n_frozen"].value, epochs=epochs,
                              progress=True)
        button.result = res
        return f"test accuracy {res.accuracy:.1%} in {res.seconds:.1f} s ({res.trainable:,} trainable parameters)"

    button = ActionButton(run, disabled=train is None or test is None)
    panel = live_panel(controls, describe, train=button)
    panel.children = [*panel.children, button]
    return panel


def prompt_widget(model, tok):
    """A prompt box for SmolLM2 with max new tokens and temperature (0 = greedy), and a
    Generate button (``panel.generate``); the text appears below it."""
    import ipywidgets as W

    from course_lib.widgets import ActionButton, Panel

    text = W.Textarea(value="Write one sentence about transfer learning.", layout=W.Layout(width="90%"))
    max_tokens = W.IntSlider(value=40, min=5, max=120, step=5, description="max tokens", continuous_update=False)
    temperature = W.FloatSlider(value=0.0, min=0.0, max=1.5, step=0.1, description="temperature", continuous_update=False)

    def run(progress) -> str:
        print(generate(model, tok, text.value, max_new_tokens=max_tokens.value, temperature=temperature.value))
        return f"generated at most {max_tokens.value} tokens at temperature {temperature.value:g}"

    button = ActionButton(run, description="Generate", icon="pencil")
    return Panel([text, W.HBox([max_tokens, temperature]), button],
                 {"prompt": text, "max_tokens": max_tokens, "temperature": temperature}, button.out, generate=button)


def widget_demo():
    """The frozen-layers / learning-rate widget with a live trainable-parameter count.

    Loads only MiniLM (about a second), not SmolLM2; the Train button is disabled here.
    """
    return finetune_widget(None, None)


# ---------------------------------------------------------------- in-context learning on a word task

# Written for this course: a word and its accepted opposites (the first is the usual one).
ANTONYMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hot", ("cold",)), ("big", ("small", "little")), ("up", ("down",)), ("fast", ("slow",)),
    ("happy", ("sad", "unhappy")), ("light", ("dark", "heavy")), ("rich", ("poor",)), ("hard", ("soft", "easy")),
    ("early", ("late",)), ("open", ("closed", "close", "shut")), ("wet", ("dry",)), ("long", ("short",)),
    ("high", ("low",)), ("full", ("empty",)), ("strong", ("weak",)), ("clean", ("dirty",)), ("good", ("bad", "evil")),
    ("true", ("false",)), ("left", ("right",)), ("love", ("hate",)), ("win", ("lose",)), ("push", ("pull",)),
    ("buy", ("sell",)), ("day", ("night",)), ("black", ("white",)), ("thick", ("thin",)), ("heavy", ("light",)),
    ("loud", ("quiet", "soft")), ("first", ("last",)), ("inside", ("outside",)), ("friend", ("enemy", "foe")),
    ("begin", ("end", "finish")), ("give", ("take", "receive")), ("alive", ("dead",)), ("young", ("old",)),
    ("safe", ("dangerous", "unsafe")), ("cheap", ("expensive", "dear")), ("top", ("bottom",)), ("north", ("south",)),
    ("east", ("west",)), ("before", ("after",)), ("above", ("below", "beneath")), ("always", ("never",)),
    ("accept", ("reject", "refuse", "decline")), ("increase", ("decrease", "reduce")), ("remember", ("forget",)),
    ("success", ("failure",)), ("sweet", ("sour", "bitter")), ("question", ("answer",)), ("near", ("far",)),
    ("wide", ("narrow",)), ("deep", ("shallow",)), ("arrive", ("leave", "depart")), ("laugh", ("cry",)),
    ("war", ("peace",)), ("sharp", ("dull", "blunt")), ("asleep", ("awake",)), ("male", ("female",)),
    ("enter", ("exit", "leave")), ("future", ("past",)),
)
ANTONYM_HEADER = "Write the opposite of each word.\n\n"


def pair_prompt(word: str) -> str:
    """One line of the word task, waiting for its answer: ``"hot ->"``."""
    return f"{word} ->"


def pairs_prefix(shots, header: str = ANTONYM_HEADER) -> str:
    """The task's header, then the worked examples ``(word, answers)``, one per line (first answer shown)."""
    return header + "".join(f"{pair_prompt(w)} {answers[0]}\n" for w, answers in shots)


@dataclass
class GreedyCheck:
    """Whether greedy decoding continues each prompt with one of its answers (``correct``), and its
    first greedy token (``first``)."""

    correct: np.ndarray
    first: list[str]

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())


@torch.no_grad()
def greedy_continues(model, tok, prompts: list[str], answers: list[tuple[str, ...]], prefix: str = "",
                     batch_size: int = 64) -> GreedyCheck:
    """For each prompt, does greedy decoding after ``prefix + prompt`` produce one of its answers
    (each with a leading space) as its next tokens?

    One forward pass per (prompt, answer) with the answer appended (teacher forcing): greedy decoding
    produces the answer exactly when the arg-max at every answer position is the answer's next token.
    The prefix (header and examples) is encoded once and its key/value cache reused. Inputs go to
    the model's device.
    """
    from course_lib.device import model_device

    if len(prompts) != len(answers) or not prompts:
        raise InputError("give one tuple of answers per prompt (and at least one prompt)")
    dev = model_device(model)
    rows, spans, owner = [], [], []
    for i, (p, alts) in enumerate(zip(prompts, answers, strict=True)):
        p_ids = tok(p, add_special_tokens=False)["input_ids"]
        for a in alts:
            a_ids = tok(" " + a, add_special_tokens=False)["input_ids"]
            rows.append(p_ids + a_ids)
            spans.append((len(p_ids), len(a_ids)))
            owner.append(i)
    prefix_cache, p_len = None, 0
    if prefix:
        p_ids = tok(prefix, return_tensors="pt", add_special_tokens=False)["input_ids"].to(dev)
        p_len = p_ids.shape[1]
        prefix_cache = model.model(input_ids=p_ids, use_cache=True).past_key_values
    ok = np.zeros(len(rows), dtype=bool)
    first = [""] * len(rows)
    for s in range(0, len(rows), batch_size):
        idx = list(range(s, min(s + batch_size, len(rows))))
        b = tok.pad({"input_ids": [rows[j] for j in idx]}, return_tensors="pt")
        ids, mask = b["input_ids"].to(dev), b["attention_mask"].to(dev)
        kwargs = {}
        if prefix_cache is not None:
            cache = copy.deepcopy(prefix_cache)
            cache.batch_repeat_interleave(len(idx))
            kwargs = dict(past_key_values=cache, use_cache=True)
            mask = torch.cat([torch.ones(len(idx), p_len, dtype=mask.dtype, device=dev), mask], 1)
        with warnings.catch_warnings():  # transformers 5.x renames past_key_values to cache; 4.x knows only the old name
            warnings.simplefilter("ignore", FutureWarning)
            pred = model(input_ids=ids, attention_mask=mask, **kwargs).logits.argmax(-1).cpu()
        for k, j in enumerate(idx):
            lp, la = spans[j]
            ok[j] = bool((pred[k, lp - 1 : lp - 1 + la] == torch.as_tensor(rows[j][lp : lp + la])).all())
            first[j] = tok.decode([int(pred[k, lp - 1])])
    correct = np.zeros(len(prompts), dtype=bool)
    firsts = [""] * len(prompts)
    for j, i in enumerate(owner):
        correct[i] |= ok[j]
        firsts[i] = firsts[i] or first[j]
    return GreedyCheck(correct, firsts)
