"""Lesson 05's decoder (SmolLM2-135M-Instruct, GPT-style): loading, prompting and generation,
the per-token language-model loss, last-token features with zero-shot and few-shot scoring, and a
last-block fine-tune on cached hidden states."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import assets, cache, textdata, training
from course_lib.errors import InputError
from course_lib.textdata import TextSplit
from course_lib.transformers_ft.data import CACHE_DIR, length_order
from course_lib.transformers_ft.encoder import last_token_pool

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = "Review: {text}\nSentiment:"
LABEL_WORDS = (" negative", " positive")  # index = label
# linear-probe settings (course_lib.training.fit_linear_probe) chosen at n=100 on lesson 05's data
PROBE_SMOLLM2 = {"weight_decay": 1e-3, "standardize": True}

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
    training.set_requires_grad(model, False)
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
    key = cache.digest(assets.get("smollm2-135m").files, list(texts), template, max_length, keep_block_input, prefix)

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
        order = length_order([len(x) for x in ids])
        groups = [order[i : i + batch_size] for i in range(0, n, batch_size)]
        for g in tqdm(groups, desc="SmolLM2 features", disable=not progress, leave=False):
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

    d = cache.on_disk("smollm2", key, compute, use_cache, directory=CACHE_DIR)
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
        training.set_requires_grad([self.block, self.norm], train_block)
        training.set_requires_grad(self.head, True)

    def forward(self, block_input: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        b, t, _ = block_input.shape
        pos = torch.arange(t, device=block_input.device).unsqueeze(0).expand(b, t)
        cos_sin = self.rotary(block_input, pos)
        causal = torch.full((t, t), float("-inf"), device=block_input.device).triu(1)
        out = self.block(block_input, attention_mask=causal.expand(b, 1, t, t), position_ids=pos, position_embeddings=cos_sin)
        out = out[0] if isinstance(out, tuple) else out
        out = self.norm(out)
        final = out[torch.arange(b, device=out.device), (lengths - 1).clamp_min(0)]
        return self.head(final)


def cached_state_batches(feats: DecoderFeatures, labels: torch.Tensor | None, batch_size: int,
                         order: torch.Tensor) -> Iterator[dict[str, torch.Tensor]]:
    """Cached block inputs in ``order``, cut into dict batches (``block_input`` trimmed to the
    batch's longest text, ``lengths``, and ``labels`` when given) for :class:`LastBlockClassifier`."""
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        t = int(feats.lengths[idx].max())
        batch = {"block_input": feats.block_input[idx, :t], "lengths": feats.lengths[idx]}
        if labels is not None:
            batch["labels"] = labels[idx]
        yield batch


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
    """Fine-tune the last block (and the head) on cached block inputs with
    :func:`course_lib.training.fit` (AdamW, no weight decay; every epoch in a fresh order drawn
    from one generator seeded with ``seed``); returns the classifier in eval mode."""
    if feats.block_input is None:
        raise InputError("decoder_features(..., keep_block_input=True) is needed to train the last block")
    torch.manual_seed(seed)
    clf = LastBlockClassifier(model, label_token_ids(tok), train_block=train_block)
    opt = torch.optim.AdamW([p for p in clf.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    y = torch.as_tensor(labels, dtype=torch.long)
    n = len(y)
    gen = torch.Generator().manual_seed(seed)
    loader = textdata.EpochBatches(lambda _: cached_state_batches(feats, y, batch_size, torch.randperm(n, generator=gen)), -(-n // batch_size))
    training.fit(clf, loader, epochs=epochs, optimizer=opt, progress=progress, desc="last block")
    return clf.eval()


def predict_last_block(clf: LastBlockClassifier, feats: DecoderFeatures, batch_size: int = 64) -> torch.Tensor:
    """Predicted labels of the last-block classifier on cached block inputs."""
    batches = cached_state_batches(feats, None, batch_size, torch.arange(len(feats.lengths)))
    return training.predict(clf, ((b, None) for b in batches)).argmax(1)
