"""Lesson 05's in-context learning on a word task (antonyms): prompts with worked examples, and
whether greedy decoding produces an accepted answer."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from course_lib.device import model_device
from course_lib.errors import InputError

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
