"""Exercise answers that live in ``course_lib``: the grader switches them off.

Many exercises ask students to write something the course's own library already has
(``schedules.stlr``, ``elmo.scalar_mix``, ``vit.patchify``, ...). A solution that calls that
function, directly, through an alias or through ``importlib``, has not done the exercise. While
a notebook is graded, :func:`guard_source` replaces each answer function in its module by a
tripwire that raises :class:`AnswerImported`, so such a call fails the exercise with a message
saying why; the grader's tamper check (identities of module attributes, taken after the guard)
catches a solution that puts the original back. Everything else in ``course_lib`` stays usable.

``ANSWERS`` maps an exercise notebook's name to its exercises' grade ids and, for each, the
dotted names of the library functions that are its answer. ``tests/test_grading_answers.py``
checks that every name exists and that a solution calling one scores 0.
"""

from __future__ import annotations

import ast
import functools

ANSWERS: dict[str, dict[str, tuple[str, ...]]] = {
    "00_setup_and_tour_exercises": {
        "softmax_t": ("course_lib.training.softmax_with_temperature", "course_lib.clip.softmax_with_temperature"),
        "top_k": ("course_lib.tour.topk",),
        "train_loop": ("course_lib.training.fit",),
    },
    "01_scratch_vs_transfer_exercises": {
        "ex2_freeze": ("course_lib.vision.freeze_all_but_classifier", "course_lib.vision.train_blocks"),
        "ex3_groups": ("course_lib.vision.parameter_groups", "course_lib.schedules.discriminative_param_groups"),
        "ex4_count": ("course_lib.training.count_parameters", "course_lib.peft.parameter_report"),
        "ex5_finetune_top": ("course_lib.training.fit", "course_lib.vision.train_blocks",
                             "course_lib.vision.freeze_all_but_classifier", "course_lib.vision.finetune_efficientnet",
                             "course_lib.vision.gradual_unfreeze"),
    },
    "02_word_embeddings_exercises": {
        "ex1_cosine": ("course_lib.embeddings.cosine_similarity",),
        "ex2_analogy": ("course_lib.embeddings.analogy",),
        "ex3_glove": ("course_lib.embeddings.glove_weight", "course_lib.embeddings.glove_loss"),
        "ex4_section": ("course_lib.embeddings.score_analogies", "course_lib.embeddings.evaluate_analogies"),
        "ex5_sentiment": ("course_lib.training.fit_linear_probe",),
    },
    "03_elmo_layer_mixing_exercises": {
        "ex1_scalar_mix": ("course_lib.elmo.scalar_mix",),
        "ex2_layer_probe": ("course_lib.elmo.probe_layers", "course_lib.elmo.probe_layer_correct"),
        "ex3_separation": ("course_lib.elmo.sense_separation",),
        "ex4_mix_probe": ("course_lib.elmo.scalar_mix", "course_lib.elmo.ScalarMix", "course_lib.elmo.fit_scalar_mix_probe",
                          "course_lib.elmo.mix_probe_accuracy"),
    },
    "04_ulmfit_exercises": {
        "stlr": ("course_lib.schedules.stlr", "course_lib.schedules.stlr_curve"),
        "discriminative": ("course_lib.schedules.discriminative_param_groups", "course_lib.schedules.layer_rates"),
        "unfreeze": ("course_lib.schedules.unfreeze_next",),
        "stlr_run": ("course_lib.schedules.stlr", "course_lib.schedules.stlr_curve", "course_lib.schedules.stlr_scheduler",
                     "course_lib.schedules.discriminative_param_groups", "course_lib.schedules.layer_rates"),
    },
    "05_bert_gpt_finetuning_exercises": {
        "ex1_mean_pool": ("course_lib.models.mean_pool", "course_lib.transformers_ft.mean_pool", "course_lib.peft.mean_pool",
                          "course_lib.clip.mean_pool"),
        "ex2_last_token": ("course_lib.transformers_ft.last_token_pool",),
        "ex4_top_block": ("course_lib.transformers_ft.freeze_minilm", "course_lib.transformers_ft.finetune_minilm",
                          "course_lib.transformers_ft.mean_pool", "course_lib.training.fit"),
    },
    "06_peft_exercises": {
        "ex1_lora": ("course_lib.peft.LoRALinear",),
        "ex2_adapter": ("course_lib.peft.BottleneckAdapter",),
        "ex3_prompt": ("course_lib.peft.PromptTuningClassifier",),
        "ex4_count": ("course_lib.peft.trainable_by_method", "course_lib.peft.lora_parameter_count",
                      "course_lib.peft.adapter_parameter_count"),
        "ex5_lora_train": ("course_lib.peft.LoRALinear", "course_lib.peft.inject_lora"),
    },
    "07_vision_transformers_exercises": {
        "patchify": ("course_lib.vit.patchify",),
        "cls_pos": ("course_lib.vit.embed_by_hand",),
        "cls_attention": ("course_lib.vit.attentions",),
        "early_stopping": ("course_lib.training.fit", "course_lib.training.fit_linear_probe"),
    },
    "08_clip_zero_shot_exercises": {
        "ex1_clip_loss": ("course_lib.clip.clip_loss",),
        "ex2_zero_shot": ("course_lib.clip.zero_shot_logits", "course_lib.clip.softmax_with_temperature",
                          "course_lib.training.softmax_with_temperature"),
        "ex3_ensemble": ("course_lib.clip.class_embeddings",),
        "ex4_clip_train": ("course_lib.clip.train_heads", "course_lib.clip.clip_loss"),
    },
}


class AnswerImported(RuntimeError):
    """Raised by a tripwire: the solution called the library function that is its answer."""


# How many student-defined functions are running now (set by the wrappers of
# :func:`wrap_student_source`). A tripwire raises only inside student code, so the
# instructor's tests can still call the library's version as their reference. A solution that
# changes this number is caught by the grader's tamper check (it is back to 0 between cells).
STUDENT_DEPTH = 0


def answer_names(notebook: str) -> dict[str, tuple[str, ...]]:
    """{grade_id: dotted names} for one exercise notebook (empty if it has none)."""
    return ANSWERS.get(notebook, {})


def tripwire(dotted: str, original):
    """``original`` that raises :class:`AnswerImported` when called from inside student code."""
    @functools.wraps(original)
    def guarded(*args, **kwargs):
        if STUDENT_DEPTH != 0:  # outside student code it is exactly 0
            raise AnswerImported(
                f"{dotted} is the course library's version of this exercise's answer: the exercise "
                "asks you to write it yourself, so a solution that calls it scores 0"
            )
        return original(*args, **kwargs)

    guarded.__course_tripwire__ = dotted
    return guarded


def student_function(fn):
    """``fn`` wrapped so that tripwires know student code is running while it runs."""
    @functools.wraps(fn)
    def student(*args, **kwargs):
        global STUDENT_DEPTH
        STUDENT_DEPTH += 1
        try:
            return fn(*args, **kwargs)
        finally:
            STUDENT_DEPTH -= 1

    return student


def guard_source(notebook: str) -> str:
    """Kernel source that puts a tripwire on every answer function of ``notebook``'s exercises,
    wherever the package holds it: the module that defines it, a package that re-exports it, and
    every course_lib module that imported it by name (so ``from course_lib.vision.train import
    ...`` does not get past it)."""
    names = sorted({n for group in answer_names(notebook).values() for n in group})
    if not names:
        return ""
    return (
        "def __course_guard(names):\n"
        "    import importlib, sys\n"
        "    from course_lib.grading.answers import tripwire\n"
        "    for dotted in names:\n"
        "        module, attr = dotted.rsplit('.', 1)\n"
        "        original = getattr(importlib.import_module(module), attr)\n"
        "        guarded = tripwire(dotted, original)\n"
        "        for name, mod in list(sys.modules.items()):\n"
        "            if (name == 'course_lib' or name.startswith('course_lib.')) and not name.startswith('course_lib.grading'):\n"
        "                for key, value in list(vars(mod).items()):\n"
        "                    if value is original:\n"
        "                        setattr(mod, key, guarded)\n"
        f"__course_guard({names!r})\n"
        "del __course_guard\n"
    )


def wrap_student_source(names) -> str:
    """Kernel source, run right after a solution cell, that marks the functions it defined."""
    return (
        "def __course_mark(names):\n"
        "    import types\n"
        "    from course_lib.grading.answers import student_function\n"
        "    g = globals()\n"
        "    for n in names:\n"
        "        if isinstance(g.get(n), types.FunctionType):\n"
        "            g[n] = student_function(g[n])\n"
        f"__course_mark({sorted(names)!r})\n"
        "del __course_mark\n"
    )


def defined_names(source: str) -> list[str]:
    """Top-level function and class names a solution cell defines (from the instructor's source)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names
