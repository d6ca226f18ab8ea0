"""Committed results: no method may sit at chance in every one of its runs.

A baseline at exactly chance is a bug (too few steps, a wrong learning rate, a collapsed
classifier) until shown otherwise. For every committed results file that holds accuracies,
this test collects each method's accuracies over all its runs (sizes, seeds, rates) and fails
when all of them equal chance (1 / number of classes) within half a point, unless the method
is in :data:`ALLOWED` with the reason a lesson shows it at chance on purpose.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
TOLERANCE = 0.005  # half a point

# (results file, method) -> why that method may sit at chance in every run. Keep it short.
ALLOWED: dict[tuple[str, str], str] = {
    ("lesson01/curve.json", "random_init_ft_recipe"): (
        "lesson 01 keeps random init trained with the fine-tuning recipe verbatim (batch norm in eval mode, so it "
        "never normalises) as a warning: it predicts one class by construction; its fair baseline is random_init"
    ),
}

Runs = dict[str, tuple[float, list[float]]]  # method -> (chance, accuracies over all its runs)


def _load(rel: str) -> dict:
    return json.loads((DATA / rel).read_text())


def _lesson01() -> Runs:
    d = _load("lesson01/curve.json")
    out: dict[str, list[float]] = defaultdict(list)
    for r in d["runs"]:
        out[r["method"]].append(r["test_acc"])
    for method, per_k in d["mean_test_acc"].items():
        out.setdefault(method, list(per_k.values()))
    return {m: (1 / 10, accs) for m, accs in out.items()}  # Animal-MNIST: 10 classes


def _lesson05() -> Runs:
    d = _load("lesson05/results.json")
    out: dict[str, list[float]] = defaultdict(list)
    for row in d["minilm"].values():
        for key, value in row.items():
            if key in ("probe", "finetune", "random_init"):
                out[f"minilm {key}"].append(value)
    for sweep in d.get("random_init_sweep", {}).values():
        out["minilm random_init (every swept rate)"] += [r["test_acc"] for r in sweep["runs"]]
    sm = d["smollm2"]
    if "zero_shot" in sm:
        out["smollm2 zero_shot"].append(sm["zero_shot"])
    for key, row in sm.items():
        if key.startswith("n") and isinstance(row, dict):
            out["smollm2 probe"].append(row["probe"])
            out["smollm2 last_block"].append(row["last_block"])
    if "few_shot" in sm:
        out["smollm2 few_shot"].append(sm["few_shot"]["few_shot"])
    return {m: (1 / 2, accs) for m, accs in out.items()}  # sentence polarity: 2 classes


def _lesson06() -> Runs:
    d = _load("lesson06/table.json")
    out: dict[str, list[float]] = defaultdict(list)
    for row in d["table"] + d.get("rank_sweep", []):
        out[row["method"]].append(row["accuracy"])
    return {m: (1 / 2, accs) for m, accs in out.items()}


def _ulmfit() -> Runs:
    d = _load("ulmfit/minilm_sweep.json")
    out: dict[str, list[float]] = defaultdict(list)
    for row in d["rows"]:
        out[row["key"]].append(row["accuracy"])
    return {m: (1 / 2, accs) for m, accs in out.items()}


def _ulmfit_regimes() -> Runs:
    d = _load("ulmfit/regimes.json")
    out: dict[str, list[float]] = defaultdict(list)
    for row in d["regimes"]:
        out[row["method"]].append(row["accuracy"])
    for row in d["forgetting"]:  # one method per recipe, over its rates and seeds (as _ulmfit does)
        out[f"forgetting: {row['recipe']}"].append(row["accuracy"])
    return {m: (1 / 5, accs) for m, accs in out.items()}


def _lesson08() -> Runs:
    log = _load("lesson08/clip_heads_log.json")
    cfg = _load("lesson08/clip_heads_config.json")
    evals = [log["eval"], *log.get("eval_per_epoch", [])]
    out: Runs = {"held-out zero-shot": (1 / len(cfg["heldout_concepts"]), [e["heldout_zero_shot_acc"] for e in evals])}
    pairs = log["eval"]["retrieval_pairs"]
    for key in ("image_to_text_R@1", "image_to_text_R@5", "text_to_image_R@1", "text_to_image_R@5"):
        k = int(key.rsplit("@", 1)[1])
        out[key] = (k / pairs, [e[key] for e in evals if key in e])  # chance of R@k among `pairs` candidates
    return out


def _lesson07() -> Runs:
    d = _load("lesson07/finetune.json")
    out: dict[str, list[float]] = defaultdict(list)
    for r in d["runs"]:
        out[r["method"]].append(r["test_acc"])
    return {m: (1 / 10, accs) for m, accs in out.items()}  # Animal-MNIST: 10 classes


def _prefix_sweep() -> Runs:
    d = _load("lesson06/prefix_lr_sweep.json")
    return {"prefix tuning (every swept rate)": (1 / 2, [r["validation_accuracy"] for r in d["runs"]])}


SOURCES: dict[str, Callable[[], Runs]] = {
    "lesson01/curve.json": _lesson01,
    "lesson05/results.json": _lesson05,
    "lesson06/table.json": _lesson06,
    "lesson06/prefix_lr_sweep.json": _prefix_sweep,
    "ulmfit/minilm_sweep.json": _ulmfit,
    "ulmfit/regimes.json": _ulmfit_regimes,
    "lesson08/clip_heads_log.json": _lesson08,
    "lesson07/finetune.json": _lesson07,
}


def at_chance_everywhere(runs: Runs) -> dict[str, float]:
    """Methods whose every accuracy is within :data:`TOLERANCE` of chance -> their chance level."""
    return {m: chance for m, (chance, accs) in runs.items() if accs and all(abs(a - chance) <= TOLERANCE for a in accs)}


@pytest.mark.parametrize("rel", sorted(SOURCES))
def test_no_method_sits_at_chance_in_every_run(rel):
    if not (DATA / rel).is_file():
        pytest.skip(f"data/{rel} is not committed")
    runs = SOURCES[rel]()
    assert runs, f"data/{rel}: no accuracies found; has its layout changed?"
    assert all(accs for _, accs in runs.values()), f"data/{rel}: a method without any accuracy: {runs}"
    bad = {m: c for m, c in at_chance_everywhere(runs).items() if (rel, m) not in ALLOWED}
    assert not bad, (
        f"data/{rel}: at chance (1/classes, within {TOLERANCE:.1%}) in every run: "
        + ", ".join(f"{m} (chance {c:.1%}, accuracies {runs[m][1]})" for m, c in bad.items())
        + ". Give the method a recipe that suits it, or add it to ALLOWED with the reason."
    )


def test_every_committed_results_file_is_covered():
    """A new results file with accuracies should be added to SOURCES (or this list)."""
    not_results = {"bilm/training.json", "lesson08/clip_heads_config.json", "lesson08/pairs.json", "manifest.json"}
    found = {str(p.relative_to(DATA)) for p in DATA.rglob("*.json")}
    with_accuracy = {rel for rel in found - not_results if "acc" in (DATA / rel).read_text()}
    assert with_accuracy <= set(SOURCES), f"results files with accuracies that this test does not read: {sorted(with_accuracy - set(SOURCES))}"


def test_allow_list_gives_reasons():
    for (rel, method), reason in ALLOWED.items():
        assert rel in SOURCES, f"ALLOWED names an unknown file: {rel}"
        assert isinstance(reason, str) and len(reason) > 20, f"ALLOWED[{rel}, {method}] needs a reason"


def test_the_check_catches_a_method_at_chance():
    runs = {"collapsed": (0.5, [0.5, 0.503, 0.497]), "learns": (0.5, [0.5, 0.62]), "ten-way": (0.1, [0.1, 0.1])}
    assert at_chance_everywhere(runs) == {"collapsed": 0.5, "ten-way": 0.1}
