"""`t5eval study report`: a study folder -> Markdown in the paper's layout (one row per level) and a forest
plot of the paired differences. Reads study.json and each cell's run.json / predictions.jsonl only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from t5eval.errors import T5evalError
from t5eval.io import atomic_write_text, read_json
from t5eval.report.loading import Run, load_run, stored_values, task_metric_fn
from t5eval.study.execute import STUDY_FILE, cell_done, read_study_record
from t5eval.study.models import loss_curves, models_table
from t5eval.study.paper_rows import paper_section, task_metrics
from t5eval.study.plan import result_cell_name
from t5eval.study.results import StudyResults, fmt_score
from t5eval.study.schema import Study
from t5eval.study.stats import (
    bold_levels,
    interval,
    mean_std,
    paired_draws,
    pool_seeds,
    same_examples,
    task_score,
)

AVERAGE = "average"


def load_study_results(folder: Path, n_boot: int = 1000) -> StudyResults:
    """Read the study folder's finished run cells and compute scores and paired Δs."""
    path = folder / STUDY_FILE
    record = read_study_record(path)
    try:
        study = Study.model_validate(record["definition"])
    except ValidationError as err:
        raise T5evalError(f"{path}: definition: not a study ({err.errors()[0]['msg']}); this file is written by "
                          "`t5eval study run`: restore it, or rerun the study into a fresh --out") from None
    levels = [study.baseline, *(n for n in study.levels if n != study.baseline)]
    runs, parts, missing = {}, {}, []
    for level in levels:
        for seed in record["seeds"]:
            found, unfinished = level_result_runs(folder, level, seed)
            if found and not unfinished:
                parts[(level, seed)] = found
                runs[(level, seed)] = merge_runs(found)
            else:
                missing += unfinished or [result_cell_name(level, seed)]
    if not runs:
        raise T5evalError(f"{folder}: no finished run cell yet; run `t5eval study run` first")
    tasks = list(dict.fromkeys(t for run in runs.values() for t in run.tasks))
    results = StudyResults(study, record, levels, tasks, runs, missing, parts)
    _fill_scores(results)
    _fill_deltas(results, n_boot)
    return results


def level_result_runs(folder: Path, level: str, seed: int) -> tuple[list[Run], list[str]]:
    """The finished run folders holding a level's scores for one seed, and the unfinished ones: its one
    `runs/<level>_s<seed>`, or (per-task and ensemble levels) every `runs/<level>_s<seed>-<task>`."""
    name = result_cell_name(level, seed)
    if (folder / name).is_dir():
        return ([load_run(folder / name)], []) if cell_done(folder, name) else ([], [name])
    names = sorted(f"runs/{p.name}" for p in (folder / "runs").glob(f"{level}_s{seed}-*") if p.is_dir())
    return [load_run(folder / n) for n in names if cell_done(folder, n)], [n for n in names if not cell_done(folder, n)]


def merge_runs(runs: list[Run]) -> Run:
    """Per-task run folders of one level and seed as one run (each task keeps its own predictions file)."""
    if len(runs) == 1:
        return runs[0]
    tasks = {name: task for run in runs for name, task in run.tasks.items()}
    return Run(path=runs[0].path, record=runs[0].record, tasks=tasks, label=runs[0].label)


def _fill_scores(res: StudyResults) -> None:
    for level in res.levels:
        columns: dict[str, list[float]] = {t: [] for t in [*res.tasks, AVERAGE]}
        for seed in res.record["seeds"]:
            run = res.runs.get((level, seed))
            if run is None or any(t not in run.tasks for t in res.tasks):
                continue
            per_task = [task_score(run.tasks[t].metrics) for t in res.tasks]
            for task, score in zip(res.tasks, per_task, strict=True):
                columns[task].append(score)
            columns[AVERAGE].append(float(np.mean(per_task)))
        res.scores[level] = columns


def _fill_deltas(res: StudyResults, n_boot: int) -> None:
    base = res.study.baseline
    for level in res.levels[1:]:
        seeds = [s for s in res.record["seeds"] if (level, s) in res.runs and (base, s) in res.runs]
        if not seeds:
            continue
        per_task: dict[str, tuple[float, np.ndarray]] = {}
        for task in res.tasks:
            per_seed = [_seed_delta(res, level, seed, task, n_boot) for seed in seeds]
            per_task[task] = pool_seeds(per_seed)
        res.deltas[level] = {t: interval(p, d, len(seeds)) for t, (p, d) in per_task.items()}
        avg_point = float(np.mean([p for p, _ in per_task.values()]))
        avg_draws = np.mean([d for _, d in per_task.values()], axis=0)  # (n_boot,)
        res.deltas[level][AVERAGE] = interval(avg_point, avg_draws, len(seeds))


def _seed_delta(res: StudyResults, level: str, seed: int, task: str, n_boot: int) -> tuple[float, np.ndarray]:
    base_run, level_run = res.runs[(res.study.baseline, seed)], res.runs[(level, seed)]
    targets, base_preds = stored_values(base_run.tasks[task])
    level_targets, level_preds = stored_values(level_run.tasks[task])
    same_examples(f"{level_run.path / task}", targets, level_targets)
    metric_fn = task_metric_fn(task, base_run.protocol)
    if metric_fn is None:
        raise T5evalError(f"{task}: no metric function (task not in the task registry); cannot resample it")
    return paired_draws(targets, base_preds, level_preds, metric_fn, n_boot=n_boot, seed=seed,
                        name=f"study/{task}/seed{seed}")


# ---------------------------------------------------------------- Markdown


def _column_label(res: StudyResults, task: str) -> str:
    return f"{task} ({'/'.join(task_metrics(res.runs.values(), task)) or '?'})"


def _scores_table(res: StudyResults) -> list[str]:
    columns = [*res.tasks, AVERAGE]
    bold: dict[str, set[str]] = {}
    for column in columns:
        means = {lv: mean_std(res.scores[lv][column])[0] for lv in res.levels if res.scores[lv][column]}
        base_values = res.scores[res.study.baseline][column]
        bold[column] = bold_levels(means, mean_std(base_values)[1] if base_values else None)
    header = ["level", "seeds", *[_column_label(res, t) for t in res.tasks], "average"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for level in res.levels:
        cells = [res.study.levels[level].label, str(len(res.scores[level][AVERAGE]))]
        for column in columns:
            values = res.scores[level][column]
            if not values:
                cells.append("—")
                continue
            mean, std = mean_std(values)
            text = f"{mean:.2f} ± {fmt_score(std)}" if std is not None else f"{mean:.2f}"
            cells.append(f"**{text}**" if level in bold[column] else text)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _delta_table(res: StudyResults) -> list[str]:
    header = ["level − baseline", "paired seeds", *res.tasks, "average"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for level in res.levels[1:]:
        deltas = res.deltas.get(level, {})
        paired = deltas[AVERAGE].seeds if AVERAGE in deltas else 0
        cells = [res.study.levels[level].label, str(paired)]
        for column in [*res.tasks, AVERAGE]:
            d = deltas.get(column)
            cells.append("—" if d is None else f"{d.point:+.2f} [{d.low:+.2f}, {d.high:+.2f}] {d.arrow}".rstrip())
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _provenance(res: StudyResults, folder: Path) -> list[str]:
    lines = ["| cell | wall time | run id (runs) / steps and tokens (pre-training) | git commit |", "|---|---|---|---|"]
    for _, runs in sorted(res.parts.items(), key=lambda kv: (res.levels.index(kv[0][0]), kv[0][1])):
        for run in runs:
            env = run.record.get("env") or {}
            lines.append(f"| runs/{run.path.name} | {run.record.get('wall_time_s', 0):.0f} s | {run.run_id} | "
                         f"{str(env.get('git_commit'))[:12]} |")
    for path in sorted((folder / "pretrain").glob("*/pretrain.json")):
        record = read_json(path)
        lines.append(f"| pretrain/{path.parent.name} | {record.get('wall_time_s', 0):.0f} s | "
                     f"{record.get('steps')} steps, {record.get('tokens_seen')} tokens | "
                     f"{str((record.get('env') or {}).get('git_commit'))[:12]} |")
    return lines


def _first_records(res: StudyResults) -> dict[str, dict[str, Any]]:
    """level -> the run.json of its first finished seed (its model and the pre-training it started from)."""
    records: dict[str, dict[str, Any]] = {}
    for (level, _), runs in sorted(res.parts.items(), key=lambda kv: kv[0][1]):
        records.setdefault(level, runs[0].record)
    return records


def _no_separation(res: StudyResults) -> list[str]:
    """A line when every level scored exactly the same on every column (e.g. 0 at `micro`, where two steps
    teach the model nothing): all bold and all tied then say nothing about the factor."""
    values = {round(v, 9) for lv in res.levels for column in res.scores[lv].values() for v in column}
    if len(values) != 1 or len(res.scores) < 2:
        return []
    return [f"**Every level scored {fmt_score(values.pop())} on every task and seed: nothing separates at this scale** "
            "(bold, Δ and ordering below are all ties; `micro` is a smoke test of the machinery, use `tiny` or "
            "larger for results).", ""]


def _partial_warning(res: StudyResults) -> list[str]:
    """Above the tables: which result cells are not finished (their seeds are left out of every number)."""
    if not res.missing:
        return []
    total = len(res.missing) + sum(len(runs) for runs in res.parts.values())
    return [f"**Partial study: {len(res.missing)} of {total} result cells not finished, left out of every number "
            f"below** ({', '.join(res.missing)}); rerun `t5eval study run` with the same options to finish them.", ""]


def render_study_report(res: StudyResults, folder: Path, plot_name: str | None, loss_plot: str | None = None) -> str:
    study, record = res.study, res.record
    seeds = record["seeds"]
    lines = [f"# {study.title}", "",
             f"Study `{study.name}` at scale `{record['scale']}` ({record['scale_definition']['description']}); "
             f"factor: {study.factor}; baseline: {study.levels[study.baseline].label}; seeds {seeds}; "
             f"tasks {', '.join(res.tasks)}; folder `{folder}`.", "",
             *_partial_warning(res),
             "## Scores (validation, mean ± std over seeds)", "",
             *_scores_table(res), "", *_no_separation(res),
             "Task score: the mean of its metrics (T5's averaging group); average: the mean of the task scores. "
             "Bold: the paper's rule, within two standard deviations of the best score in the column, with the "
             "standard deviation of our baseline's seeds (one seed: the best only).", "",
             "## Paired differences against the baseline (95% bootstrap interval)", "",
             *_delta_table(res), "",
             "Each seed's level and baseline runs are resampled on the same examples (1 draw = the same indices "
             "for both; every metric recomputed on the resample), the seeds' differences averaged draw by draw; "
             "▲/▼: the interval excludes 0. Paired seeds: the seeds where both the level and the baseline "
             "finished (0: none yet, so no Δ: —).", ""]
    if plot_name:
        lines += [f"![paired differences]({plot_name})", ""]
    lines += ["## The paper's rows", "", *paper_section(res), ""]
    labels = {lv: res.study.levels[lv].label for lv in res.levels}
    lines += ["## Models and pre-training (first seed)", "", *models_table(res.levels, labels, _first_records(res)),
              "", "P: parameters, each shared tensor once; M: forward matmul FLOPs per token (docs/model.md; an "
              "ensemble sums its members). Pre-training, final loss, corpus and mixture: the pretrain.json of the "
              "model the level's run started from.", ""]
    if loss_plot:
        lines += [f"![training loss per pre-training step]({loss_plot})", ""]
    if study.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in study.notes], ""]
    limits = sorted({str((run.record.get("settings") or {}).get("limit")) for run in res.runs.values()} - {"None"})
    if limits:
        lines += [f"Subset: every task was scored on its first {', '.join(limits)} validation examples (`--limit`); "
                  "not comparable with full-split scores.", ""]
    lines += ["## Cells", "", *_provenance(res, folder), ""]
    return "\n".join(lines)


def write_study_report(folder: Path, out: Path, n_boot: int = 1000) -> Path:
    """Write the Markdown report and, beside it, the forest plot of the Δs."""
    from t5eval.study.plots import plot_deltas, plot_losses

    res = load_study_results(folder, n_boot)
    plot_path = out.with_name(out.stem + "_forest.png")
    columns = [*res.tasks, AVERAGE] if len(res.tasks) > 1 else res.tasks  # one task: its average is itself
    drawn = plot_deltas(res.deltas, res.study, columns, plot_path)
    loss_path = out.with_name(out.stem + "_loss.png")
    labels = {lv: res.study.levels[lv].label for lv in res.levels}
    curves = loss_curves(res.levels, labels, _first_records(res))
    losses = plot_losses(curves, f"{res.study.title}: pre-training loss (first seed)", loss_path)
    atomic_write_text(out, render_study_report(res, folder, plot_path.name if drawn else None,
                                               loss_path.name if losses else None))
    return out
