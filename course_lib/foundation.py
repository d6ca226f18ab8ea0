"""Foundation models: one frozen base, many tasks (lesson 09).

A thin layer over the course's kit (``course_lib.peft``'s LoRA, ``course_lib.training``'s fit
loop and linear probe, ``course_lib.transformers_ft.minilm_features``):

* the tasks the course already has offline, as :class:`Task` (sentence polarity, BBC topics
  from each article's first words, Brown-corpus genre of a sentence, and the course corpus's
  source of a sentence for the exercises);
* :func:`choose_weight_decay` and :func:`label_curve` for probes on cached features;
* :func:`lora_model` / :func:`train_lora`: a small LoRA per task on a copy of the base, its
  head started from the task's probe (linear probing, then fine-tuning);
* :class:`TaskServer`: the base loaded once, LoRA slots injected once, each task's LoRA
  weights and head swapped in at inference;
* storage and memory accounting (:func:`state_nbytes`, :func:`resident_nbytes`,
  :func:`footprint`), a training-compute estimate (:func:`training_flops`), the published
  figures the lesson compares with (:data:`PUBLISHED`), and the chapter's comparison table
  (:data:`CHAPTER_CLAIMS`);
* widgets: :func:`serve_widget` (task, method, a typed sentence) and
  :func:`footprint_widget` (number of tasks vs storage); :func:`widget_demo`.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from course_lib import peft as P
from course_lib.errors import InputError
from course_lib.textdata import TextSplit

BROWN_GENRES = ("news", "romance", "learned", "hobbies")
CORPUS_SOURCES = ("wiki", "shakespeare", "factbook")
WEIGHT_DECAYS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
PROBE = "linear probe"
LORA = "LoRA"

# ---------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task:
    """One downstream task: class names, a labelled training set and a held-out test set."""

    name: str
    classes: tuple[str, ...]
    train: TextSplit
    test: TextSplit
    about: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _pick(rng: np.random.Generator, items: Sequence, n: int) -> list:
    if n > len(items):
        raise InputError(f"asked for {n} items, only {len(items)} available")
    return [items[i] for i in np.sort(rng.permutation(len(items))[:n])]


def _split_from(per_class: Mapping[int, Sequence[str]]) -> TextSplit:
    texts = [t for c in sorted(per_class) for t in per_class[c]]
    labels = np.concatenate([np.full(len(per_class[c]), c, dtype=np.int64) for c in sorted(per_class)])
    return TextSplit(texts, labels)


def polarity_task(n_train: int = 240, n_test: int = 400, seed: int = 0) -> Task:
    """Pang & Lee sentence polarity: ``polarity_train(n_train)`` and a stratified subset of the
    fixed test set (lessons 05-06 use the same sentences)."""
    from course_lib.textdata import POLARITY_CLASSES, polarity_test, polarity_train
    from course_lib.transformers_ft import subset

    return Task("polarity", tuple(POLARITY_CLASSES), polarity_train(n_train), subset(polarity_test(), n_test, seed),
                "movie-review sentences: positive or negative (Pang & Lee)")


def bbc_task(per_class_train: int = 40, words: int = 40) -> Task:
    """BBC News topics (5 classes): each article's first ``words`` words (title and lead), the
    labelled subset ``bbc_split(5 * per_class_train)`` for training and its fixed test set
    (60 per class, lesson 04's). The corpus holds some articles twice; training articles whose
    text is also in the test set are dropped, so a class may have a few fewer."""
    from course_lib.ulmfit import BBC_CLASSES, bbc_split, load_bbc

    docs, labels = load_bbc()
    split = bbc_split(len(BBC_CLASSES) * per_class_train)

    def part(idx):
        return TextSplit([" ".join(docs[i][:words]) for i in idx], labels[idx].copy())

    test = part(split["test"])
    train = part(split["labelled"])
    keep = [i for i, text in enumerate(train.texts) if text not in set(test.texts)]  # the corpus repeats some articles
    return Task("BBC topic", tuple(BBC_CLASSES), TextSplit([train.texts[i] for i in keep], train.labels[keep]), test,
                f"the first {words} words of a BBC News article: one of 5 topics")


def brown_genre_task(genres: Sequence[str] = BROWN_GENRES, per_class_train: int = 60, per_class_test: int = 100,
                     min_words: int = 10, seed: int = 0) -> Task:
    """Which Brown-corpus genre a single sentence comes from. Training sentences come from the
    files of the corpus's ``train`` split, test sentences from the ``valid`` and ``test`` files
    (no file is in both); sentences shorter than ``min_words`` words are skipped."""
    from course_lib.corpus import load_brown_tagged

    rng = np.random.default_rng(seed)
    train, test = {}, {}
    for c, genre in enumerate(genres):
        def texts(splits, genre=genre):
            return [" ".join(w for w, _ in s) for sp in splits for s in load_brown_tagged(sp, [genre]) if len(s) >= min_words]

        train[c] = _pick(rng, texts(["train"]), per_class_train)
        test[c] = _pick(rng, texts(["valid", "test"]), per_class_test)
    return Task("Brown genre", tuple(genres), _split_from(train), _split_from(test),
                f"one sentence of the Brown corpus: which of {len(genres)} genres")


def corpus_source_task(sources: Sequence[str] = CORPUS_SOURCES, per_class_train: int = 40, per_class_test: int = 60,
                       min_words: int = 8, seed: int = 0) -> Task:
    """Which source of the course corpus a sentence comes from (train split for training, test
    split for testing: different documents). Used by the exercises as a new task."""
    from course_lib.corpus import load_corpus

    rng = np.random.default_rng(seed)
    train, test = {}, {}
    for c, source in enumerate(sources):
        def texts(split, source=source):
            return [" ".join(s) for s in load_corpus(split, [source]) if len(s) >= min_words]

        train[c] = _pick(rng, texts("train"), per_class_train)
        test[c] = _pick(rng, texts("test"), per_class_test)
    return Task("corpus source", tuple(sources), _split_from(train), _split_from(test),
                f"one sentence of the course corpus: which of {len(sources)} sources")


def lesson_tasks() -> dict[str, Task]:
    """The lesson's three tasks at their default sizes, by name."""
    tasks = [polarity_task(), bbc_task(), brown_genre_task()]
    return {t.name: t for t in tasks}


# ---------------------------------------------------------------- probes on cached features


def choose_weight_decay(features: torch.Tensor, labels, grid: Sequence[float] = WEIGHT_DECAYS, folds: int = 4,
                        seed: int = 0) -> tuple[float, dict[float, float]]:
    """The probe's weight decay with the best mean accuracy in ``folds``-fold cross-validation on
    the training features alone (never the test set); returns (best, {decay: accuracy})."""
    from course_lib.training import accuracy, fit_linear_probe

    labels = torch.as_tensor(np.asarray(labels))
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    parts = order.chunk(folds)
    scores = {}
    for wd in grid:
        accs = []
        for k in range(folds):
            held = parts[k]
            kept = torch.cat([p for j, p in enumerate(parts) if j != k])
            probe = fit_linear_probe(features[kept], labels[kept], num_classes=int(labels.max()) + 1, weight_decay=wd)
            with torch.no_grad():
                accs.append(accuracy(probe(features[held]), labels[held]))
        scores[wd] = float(np.mean(accs))
    best = max(grid, key=lambda wd: (scores[wd], wd))  # ties: the stronger regularisation
    return best, scores


def label_curve(train_feats: torch.Tensor, train_labels, test_feats: torch.Tensor, test_labels,
                ks: Sequence[int], weight_decay: float, draws: int = 3, seed: int = 0) -> dict[int, float]:
    """Test accuracy of probes fit on ``k`` labelled examples per class (k in ``ks``), averaged
    over ``draws`` random draws of the examples (one draw when k is all of them)."""
    from course_lib.training import accuracy, fit_linear_probe

    train_labels = np.asarray(train_labels)
    test_labels = torch.as_tensor(np.asarray(test_labels))
    classes = np.unique(train_labels)
    rng = np.random.default_rng(seed)
    out = {}
    for k in ks:
        full = all(k >= (train_labels == c).sum() for c in classes)
        accs = []
        for _ in range(1 if full else draws):
            idx = np.concatenate([rng.permutation(np.flatnonzero(train_labels == c))[:k] for c in classes])
            probe = fit_linear_probe(train_feats[idx], torch.as_tensor(train_labels[idx]), num_classes=len(classes),
                                     weight_decay=weight_decay)
            with torch.no_grad():
                accs.append(accuracy(probe(test_feats), test_labels))
        out[int(k)] = float(np.mean(accs))
    return out


# ---------------------------------------------------------------- LoRA per task


def lora_model(encoder: nn.Module, num_labels: int, probe: nn.Module | None = None, r: int = 4, alpha: float = 8.0,
               seed: int = 0) -> P.MeanPoolClassifier:
    """A deep copy of ``encoder`` with LoRA (rank ``r``) on query and value, mean pooling and a
    linear head; only A, B and the head train. With ``probe`` (from ``fit_linear_probe``) the
    head starts as that probe (linear probing, then fine-tuning), so the model starts where the
    probe ends. ``encoder`` itself is never changed."""
    torch.manual_seed(seed)
    model = P.MeanPoolClassifier(copy.deepcopy(encoder), num_labels=num_labels)
    P.inject_lora(model.encoder, r=r, alpha=alpha, seed=seed)
    P.freeze_all_but(model, [".A", ".B", "head."])
    if probe is not None:
        P.probe_into_head(probe, model.head)
    return model


def train_lora(model: nn.Module, enc: dict[str, torch.Tensor], labels, epochs: int = 3, lr: float = 5e-4,
               batch_size: int = 16, seed: int = 0, desc: str = "LoRA", progress: bool = True):
    """Train ``model`` (from :func:`lora_model`) with the course's fit loop (AdamW, constant
    ``lr``), re-shuffling each epoch; returns the :class:`course_lib.training.History`."""
    from course_lib.seed import seed_everything
    from course_lib.training import fit

    seed_everything(seed)
    loader = P.EpochBatches(enc, labels, batch_size, seed=seed)
    return fit(model, loader, epochs=epochs, lr=lr, progress=progress, desc=desc)


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The task-specific part of a trained model: a copy of every trainable tensor (LoRA's A and
    B, the head), by parameter name. This is all a task adds to the shared base."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@torch.no_grad()
def logits_of(model: nn.Module, enc: dict[str, torch.Tensor], batch_size: int = 64) -> torch.Tensor:
    """Logits of a :class:`course_lib.peft.MeanPoolClassifier` over an encoded set (eval mode)."""
    from course_lib.training import predict

    return predict(model, P.batches(enc, torch.zeros(len(enc["input_ids"]), dtype=torch.long), batch_size))


# ---------------------------------------------------------------- one base, many tasks


@dataclass
class _Entry:
    classes: tuple[str, ...]
    head: nn.Module
    lora: dict[str, torch.Tensor] | None = None


@dataclass
class TaskServer:
    """One base encoder, loaded once, serving many (task, method) pairs.

    LoRA slots of rank ``r`` are injected into the base's query and value projections once.
    A LoRA task stores only its A and B tensors and its head; :meth:`use` copies its A and B
    into the slots. A probe stores only its head and serves with every B at zero, which leaves
    the base's outputs exactly as they were. The base's own weights never change.
    """

    encoder: nn.Module
    tokenizer: object
    r: int = 4
    alpha: float = 8.0
    max_length: int = 40
    entries: dict[tuple[str, str], _Entry] = field(default_factory=dict)
    active: tuple[str, str] | None = None

    def __post_init__(self):
        self.model = P.MeanPoolClassifier(self.encoder, num_labels=1)
        P.inject_lora(self.model.encoder, r=self.r, alpha=self.alpha)
        self.model.requires_grad_(False).eval()
        self.slots = {f"encoder.{n}": p for n, p in self.model.encoder.named_parameters(prefix="") if n.endswith((".A", ".B"))}

    def add(self, task: str, method: str, classes: Sequence[str], head: nn.Module, lora: Mapping[str, torch.Tensor] | None = None):
        """Register a task's head (and, for LoRA, its A and B tensors, named as in the trained model)."""
        lora_part = None
        if lora is not None:
            lora_part = {n: t.detach().clone() for n, t in lora.items() if n in self.slots}
            missing = set(self.slots) - set(lora_part)
            misfit = [n for n, t in lora_part.items() if t.shape != self.slots[n].shape]
            if missing or misfit:
                raise InputError(f"the LoRA state lacks {len(missing)} and misfits {len(misfit)} of the server's "
                                 f"{len(self.slots)} slots (rank {self.r} on query and value expected)")
        self.entries[(task, method)] = _Entry(tuple(classes), head.eval().requires_grad_(False), lora_part)
        self.active = None

    @torch.no_grad()
    def use(self, task: str, method: str) -> None:
        """Swap the (task, method) pair's LoRA weights into the base (B = 0 for a probe)."""
        if (task, method) not in self.entries:
            raise InputError(f"no {method!r} registered for task {task!r}; have {sorted(self.entries)}")
        if self.active == (task, method):
            return
        lora = self.entries[(task, method)].lora
        for name, slot in self.slots.items():
            if lora is None:
                if name.endswith(".B"):
                    slot.zero_()
            else:
                slot.copy_(lora[name])
        self.active = (task, method)

    @torch.no_grad()
    def _embed(self, texts: Sequence[str] | str) -> torch.Tensor:
        texts = [texts] if isinstance(texts, str) else list(texts)
        enc = P.encode(texts, self.tokenizer, self.max_length)
        return torch.cat([self.model.embed(b["input_ids"], b["attention_mask"])
                          for b in P.batches(enc, np.zeros(len(texts), dtype=np.int64), 64)])

    @torch.no_grad()
    def features(self, texts: Sequence[str] | str) -> torch.Tensor:
        """Mean-pooled features of the base itself (every LoRA B at zero): what probes use."""
        if self.active != ("", "base"):
            for name, slot in self.slots.items():
                if name.endswith(".B"):
                    slot.zero_()
            self.active = ("", "base")
        return self._embed(texts)

    @torch.no_grad()
    def logits(self, task: str, method: str, texts: Sequence[str] | str) -> torch.Tensor:
        """Logits of ``texts`` for one (task, method): swap its weights in, embed, apply its head."""
        self.use(task, method)
        return self.entries[(task, method)].head(self._embed(texts))

    def predict(self, task: str, method: str, text: str) -> list[tuple[str, float]]:
        """Class probabilities for one sentence, most likely first."""
        probs = self.logits(task, method, [text]).softmax(-1)[0]
        classes = self.entries[(task, method)].classes
        return sorted(zip(classes, probs.tolist(), strict=True), key=lambda cp: -cp[1])

    def base_state(self) -> dict[str, torch.Tensor]:
        """The base's own weights (the LoRA slots excluded), named as in the plain encoder."""
        wrapped = [n for n, m in self.model.encoder.named_modules() if isinstance(m, P.LoRALinear)]
        out = {}
        for name, t in self.model.encoder.state_dict().items():
            if name.endswith((".A", ".B")):
                continue
            for path in wrapped:
                name = name.replace(f"{path}.base.", f"{path}.")
            out[name] = t
        return out

    def task_state(self, task: str, method: str) -> dict[str, torch.Tensor]:
        """What one (task, method) adds to the base: its LoRA tensors (if any) and its head."""
        e = self.entries[(task, method)]
        head = {f"head.{n}": t for n, t in e.head.state_dict().items()}
        return {**(e.lora or {}), **head}


# ---------------------------------------------------------------- storage and memory


def state_nbytes(state: Mapping[str, torch.Tensor]) -> int:
    """Bytes of a state dict as ``torch.save`` writes it (the file one would ship)."""
    buf = io.BytesIO()
    torch.save({k: v.detach().contiguous() for k, v in state.items()}, buf)
    return buf.getbuffer().nbytes


def resident_nbytes(*objects) -> int:
    """Bytes of every distinct tensor storage reachable from ``objects`` (modules, tensors, dicts,
    lists, :class:`TaskServer`), each storage counted once: what they hold in memory."""
    seen: dict[int, int] = {}

    def visit(obj):
        if isinstance(obj, torch.Tensor):
            s = obj.untyped_storage()
            seen[s.data_ptr()] = s.nbytes()
        elif isinstance(obj, nn.Module):
            for t in list(obj.parameters()) + list(obj.buffers()):
                visit(t)
        elif isinstance(obj, Mapping):
            for v in obj.values():
                visit(v)
        elif isinstance(obj, list | tuple):
            for v in obj:
                visit(v)
        elif isinstance(obj, TaskServer):
            visit(obj.model)
            for e in obj.entries.values():
                visit(e.head)
                visit(e.lora or {})

    for o in objects:
        visit(o)
    return sum(seen.values())


def footprint(base_bytes: int, adapter_bytes: int, full_bytes: int, n_tasks: int) -> dict[str, int]:
    """Bytes to serve ``n_tasks`` tasks: one base + n adapters vs n full fine-tuned copies."""
    if n_tasks < 1:
        raise InputError(f"n_tasks must be at least 1, got {n_tasks}")
    return {"shared": base_bytes + n_tasks * adapter_bytes, "copies": n_tasks * full_bytes}


def plot_footprint(base_bytes: int, adapter_bytes: int, full_bytes: int, n_tasks: int, max_tasks: int = 50, ax=None):
    """Storage (MB) against the number of tasks for both ways of serving, with ``n_tasks`` marked."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    ns = np.arange(1, max_tasks + 1)
    shared = [footprint(base_bytes, adapter_bytes, full_bytes, int(n))["shared"] / 2**20 for n in ns]
    copies = [footprint(base_bytes, adapter_bytes, full_bytes, int(n))["copies"] / 2**20 for n in ns]
    ax.plot(ns, copies, label="N fully fine-tuned copies", color="tab:red")
    ax.plot(ns, shared, label="one base + N LoRA adapters", color="tab:blue")
    now = footprint(base_bytes, adapter_bytes, full_bytes, n_tasks)
    ax.scatter([n_tasks, n_tasks], [now["copies"] / 2**20, now["shared"] / 2**20], color="black", zorder=3)
    ax.set(xlabel="number of tasks N", ylabel="storage (MB)", title=f"N = {n_tasks}: "
           f"{now['copies'] / now['shared']:.1f}x less with one shared base")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax


def footprint_text(base_bytes: int, adapter_bytes: int, full_bytes: int, n_tasks: int) -> str:
    """What the slider widget prints for ``n_tasks`` tasks."""
    f = footprint(base_bytes, adapter_bytes, full_bytes, n_tasks)
    return (f"N = {n_tasks} tasks: one base + {n_tasks} adapters = {f['shared'] / 2**20:,.1f} MB; "
            f"{n_tasks} full copies = {f['copies'] / 2**20:,.1f} MB ({f['copies'] / f['shared']:.1f}x)")


# ---------------------------------------------------------------- compute


def tokens_seen(enc: dict[str, torch.Tensor], epochs: int) -> int:
    """Real (non-padding) tokens a training run over ``enc`` for ``epochs`` epochs processes."""
    return int(enc["attention_mask"].sum()) * int(epochs)


def training_flops(n_params: int, n_tokens: int) -> float:
    """The usual estimate of training compute, about 6 FLOPs per parameter per token (2 forward,
    4 backward; Kaplan et al. 2020). An order of magnitude, not a measurement: attention's
    own cost and the backward pass LoRA skips for frozen weights are ignored."""
    return 6.0 * float(n_params) * float(n_tokens)


#: Published figures the lesson compares with, each with its source. ``None`` where the
#: source gives no figure; the lesson says "not published" there.
PUBLISHED = {
    "bert_base_params": (110e6, "Devlin et al. 2019 (BERT), section 3: BERT-BASE, 110M parameters"),
    "bert_base_hardware": ("4 Cloud TPUs in Pod configuration (16 TPU chips), 4 days",
                           "Devlin et al. 2019, appendix A.2"),
    "bert_base_steps": (1_000_000, "Devlin et al. 2019, appendix A.2: 1,000,000 steps"),
    "bert_base_tokens_per_batch": (128_000, "Devlin et al. 2019, appendix A.2: 256 sequences x 512 tokens = "
                                   "128,000 tokens per batch"),
    "minilm_pairs": ("over 1 billion sentence pairs", "all-MiniLM-L6-v2 model card (README.md in the model folder)"),
    "minilm_finetune": ("TPU v3-8, 100k steps, batch 1024, sequences of at most 128 tokens",
                        "all-MiniLM-L6-v2 model card"),
    "minilm_finetune_hours": (None, "all-MiniLM-L6-v2 model card: not published"),
    "minilm_distillation_compute": (None, "nreimers/MiniLM-L6-H384-uncased (the starting point): not published "
                                    "in the model card"),
}


def model_card() -> str:
    """The text of all-MiniLM-L6-v2's model card (README.md in the verified model folder)."""
    from pathlib import Path

    from course_lib.models import minilm_path

    return (Path(minilm_path()) / "README.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------- the chapter's comparison table

#: The chapter's qualitative comparison of adaptation methods.
CHAPTER_CLAIMS = {
    "full fine-tuning": {"trained": "all parameters", "accuracy": "best", "memory": "high",
                         "use": "production fine-tuning"},
    "linear probe": {"trained": "a head only", "accuracy": "lower", "memory": "lowest", "use": "quick evaluation"},
    "LoRA": {"trained": "under 1 %", "accuracy": "near full", "memory": "low", "use": "production, multi-task serving"},
    "adapter": {"trained": "a few %", "accuracy": "near full", "memory": "low", "use": "multi-task"},
    "prompt tuning": {"trained": "fewest", "accuracy": "good for very large models", "memory": "very low",
                      "use": "few-shot adaptation, very large models"},
}


def text_table(rows: Sequence[Sequence], header: Sequence[str]) -> str:
    """A fixed-width text table (every cell converted with ``str``)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells[1:]]
    return "\n".join(out)


# ---------------------------------------------------------------- widgets


def _pre(text: str) -> str:
    import html

    return f"<pre style='margin:0'>{html.escape(text)}</pre>"


def prediction_text(server: TaskServer, task: str, method: str, text: str) -> str:
    """What the serving widget shows: the (task, method) pair's class probabilities for ``text``."""
    if not text.strip():
        return "type a sentence"
    probs = server.predict(task, method, text)
    lines = [f"{task} / {method}: '{text}'"]
    lines += [f"  {name:<14} {100 * p:5.1f} %  {'#' * round(30 * p)}" for name, p in probs]
    return "\n".join(lines)


def serve_widget(server: TaskServer, text: str = "The film was a delight from start to finish."):
    """Task and method pickers and a text box on one :class:`TaskServer`: each change swaps that
    task's weights into the shared base and shows its answer. Handles: ``.task``, ``.method``,
    ``.text``, ``.out``."""
    import ipywidgets as widgets

    tasks = list(dict.fromkeys(t for t, _ in server.entries))
    methods = list(dict.fromkeys(m for _, m in server.entries))
    task = widgets.Dropdown(options=tasks, description="task")
    method = widgets.Dropdown(options=methods, description="method")
    box_text = widgets.Text(value=text, description="sentence", continuous_update=False,
                            layout=widgets.Layout(width="70%"))
    out = widgets.HTML()

    def show(*_):
        if (task.value, method.value) not in server.entries:
            out.value = _pre(f"no {method.value} trained for {task.value}")
            return
        out.value = _pre(prediction_text(server, task.value, method.value, box_text.value))

    for w in (task, method, box_text):
        w.observe(show, names="value")
    show()
    box = widgets.VBox([widgets.HBox([task, method]), box_text, out])
    box.task, box.method, box.text, box.out = task, method, box_text, out
    return box


def footprint_widget(base_bytes: int, adapter_bytes: int, full_bytes: int, n_tasks: int = 3, max_tasks: int = 50):
    """A slider for the number of tasks N that redraws storage against N (one base + N adapters
    vs N full copies) and prints both. Handles: ``.slider``, ``.text``, ``.plot``."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    slider = widgets.IntSlider(value=n_tasks, min=1, max=max_tasks, description="tasks N", continuous_update=False)
    text = widgets.HTML()
    plot = widgets.Output()

    def show(*_):
        text.value = _pre(footprint_text(base_bytes, adapter_bytes, full_bytes, slider.value))
        plot.clear_output(wait=True)
        with plot:
            plot_footprint(base_bytes, adapter_bytes, full_bytes, slider.value, max_tasks)
            plt.show()

    slider.observe(show, names="value")
    show()
    box = widgets.VBox([slider, text, plot])
    box.slider, box.text, box.plot = slider, text, plot
    return box


def shape_sizes(r: int = 4, num_labels: int = 2) -> tuple[int, int, int]:
    """fp32 bytes of MiniLM's weights, of one rank-``r`` LoRA adapter (query and value in 6
    layers) with its head, and of one full fine-tuned copy, from the shapes alone (no model)."""
    shapes = P.minilm_shapes()
    h, layers = shapes["hidden"], shapes["layers"]
    head = h * num_labels + num_labels
    base = 4 * shapes["encoder_total"]
    adapter = 4 * (P.lora_parameter_count(h, h, r, n_layers=2 * layers) + head)
    return base, adapter, base + 4 * head


def widget_demo():
    """The number-of-tasks slider over storage, sized from MiniLM's shapes (no model loaded)."""
    return footprint_widget(*shape_sizes())
