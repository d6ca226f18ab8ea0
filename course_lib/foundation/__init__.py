"""Foundation models: one frozen base, many tasks (lesson 09).

A thin layer over the course's kit (``course_lib.peft``'s LoRA, ``course_lib.training``'s fit
loop and linear probe, ``course_lib.textdata``'s batching):

* :mod:`~course_lib.foundation.tasks`: the tasks the course already has offline, as
  :class:`Task` (sentence polarity, BBC topics from each article's first words, Brown-corpus
  genre of a sentence, and the course corpus's source of a sentence for the exercises);
* :mod:`~course_lib.foundation.adapt`: :func:`choose_weight_decay` and :func:`label_curve`
  for probes on cached features; :func:`lora_model` / :func:`train_lora`: a small LoRA per
  task on a copy of the base, its head started from the task's probe (linear probing, then
  fine-tuning);
* :mod:`~course_lib.foundation.serving`: :class:`TaskServer` (the base loaded once, LoRA slots
  injected once, each task's LoRA weights and head swapped in at inference) and the bytes it
  stores and holds (:func:`state_nbytes`, :func:`resident_nbytes`);
* :mod:`~course_lib.foundation.accounting`: :func:`footprint`, a training-compute estimate
  (:func:`training_flops`), the published figures the lesson compares with
  (:data:`PUBLISHED`) and the chapter's comparison table (:data:`CHAPTER_CLAIMS`);
* :mod:`~course_lib.foundation.widgets`: :func:`serve_widget` (task, method, a typed
  sentence) and :func:`footprint_widget` (number of tasks vs storage); :func:`widget_demo`.
"""

from course_lib.foundation.accounting import (
    CHAPTER_CLAIMS,
    PUBLISHED,
    footprint,
    footprint_text,
    model_card,
    shape_sizes,
    text_table,
    tokens_seen,
    training_flops,
)
from course_lib.foundation.adapt import (
    WEIGHT_DECAYS,
    adapter_state,
    choose_weight_decay,
    label_curve,
    logits_of,
    lora_model,
    train_lora,
)
from course_lib.foundation.serving import LORA, PROBE, TaskServer, resident_nbytes, state_nbytes
from course_lib.foundation.tasks import (
    BROWN_GENRES,
    CORPUS_SOURCES,
    Task,
    bbc_task,
    brown_genre_task,
    corpus_source_task,
    lesson_tasks,
    polarity_task,
)
from course_lib.foundation.widgets import (
    footprint_widget,
    plot_footprint,
    prediction_text,
    serve_widget,
    widget_demo,
)

__all__ = [
    "BROWN_GENRES",
    "CHAPTER_CLAIMS",
    "CORPUS_SOURCES",
    "LORA",
    "PROBE",
    "PUBLISHED",
    "WEIGHT_DECAYS",
    "Task",
    "TaskServer",
    "adapter_state",
    "bbc_task",
    "brown_genre_task",
    "choose_weight_decay",
    "corpus_source_task",
    "footprint",
    "footprint_text",
    "footprint_widget",
    "label_curve",
    "lesson_tasks",
    "logits_of",
    "lora_model",
    "model_card",
    "plot_footprint",
    "polarity_task",
    "prediction_text",
    "resident_nbytes",
    "serve_widget",
    "shape_sizes",
    "state_nbytes",
    "text_table",
    "tokens_seen",
    "train_lora",
    "training_flops",
    "widget_demo",
]
