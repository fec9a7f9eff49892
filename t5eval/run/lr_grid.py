"""`--lr-grid`: BERT's learning-rate search for task heads, as one command.

Devlin et al. 2019 §4.1: "we selected the best fine-tuning learning rate (among 5e-5, 4e-5, 3e-5, and 2e-5)
on the Dev set". Each learning rate is a cell of the run folder, `<task>/lr_<lr>/` (its own result.json,
predictions.jsonl, metrics.json and best/), fine-tuned from the same pre-trained weights with the same seed;
the cell with the highest mean of the task's validation metrics is chosen (ties: the earlier in the grid;
a NaN score never wins), and its predictions.jsonl and metrics.json are copied to `<task>/`, whose
result.json is the chosen cell's entry plus `lr_grid` (every cell's lr, metrics and score). A finished cell
is reused when the run resumes. Selection and the reported score use the same validation split, as BERT's
dev-set figures do (its test figures come from the chosen model on the hidden test set).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from t5eval.io import atomic_write_bytes, atomic_write_json, read_json
from t5eval.run.context import Log
from t5eval.tasks import TaskSpec
from t5eval.train.best import group_score, select_best
from t5eval.train.head_step import HeadHyperparameters


class RunCell(Protocol):
    """Fine-tune and score one task with `hp` (one lr), writing its files into `task_dir`; its entry."""

    def __call__(self, hp: HeadHyperparameters, task_dir: Path) -> dict[str, Any]: ...


def cell_name(lr: float) -> str:
    """The folder of one learning rate: 5e-05 -> 'lr_5e-05'."""
    return f"lr_{lr:g}"


def dev_score(metrics: dict[str, float]) -> float:
    """The recorded score of a cell: `train.best.group_score` (mean of the task's validation metrics), -inf
    when there is none or it is not a number."""
    score = group_score(metrics)
    return score if math.isfinite(score) else -math.inf


def choose(cells: list[tuple[float, dict[str, Any]]]) -> int:
    """Index of the cell with the best dev score: `train.best.select_best`, the rule every training path
    uses for its best step (NaN loses to any number, the first of equals wins)."""
    chosen = select_best([entry for _, entry in cells])
    assert chosen is not None, "choose needs at least one cell"
    return chosen


def run_lr_grid(hp: HeadHyperparameters, spec: TaskSpec, run_dir: Path, log: Log, run_cell: RunCell) -> dict[str, Any]:
    """Fine-tune `spec` once per lr of `hp.lr_grid`; write and return the chosen cell's entry."""
    assert hp.lr_grid, "run_lr_grid needs hyper-parameters with lr_grid"
    task_dir = run_dir / spec.name
    cells: list[tuple[float, dict[str, Any]]] = []
    for lr in hp.lr_grid:
        cell_dir = task_dir / cell_name(lr)
        done = cell_dir / "result.json"
        entry = read_json(done) if done.exists() else run_cell(replace(hp, lr=lr), task_dir=cell_dir)
        cells.append((lr, entry))
    best = choose(cells)
    chosen_lr, chosen = cells[best]
    for name in ("predictions.jsonl", "metrics.json"):
        atomic_write_bytes(task_dir / name, (task_dir / cell_name(chosen_lr) / name).read_bytes())
    grid = {"chosen_lr": chosen_lr, "chosen_cell": cell_name(chosen_lr),
            "selection": "highest mean of the task's validation metrics (ties: the earlier lr in the grid)",
            "source": "Devlin et al. 2019 §4.1 (best of 5e-5, 4e-5, 3e-5, 2e-5 on Dev)",
            "cells": [{"lr": lr, "cell": cell_name(lr), "metrics": entry["metrics"], "score": dev_score(entry["metrics"])}
                      for lr, entry in cells]}
    entry = chosen | {"lr_grid": grid}
    atomic_write_json(task_dir / "result.json", entry)
    log(f"{spec.name}: lr {chosen_lr:g} chosen on validation (" + ", ".join(
        f"{lr:g}: {dev_score(e['metrics']):.2f}" for lr, e in cells) + ")")
    return entry
