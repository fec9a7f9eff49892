"""95% bootstrap intervals for T5 metrics, from the per-example values a run stores.

Each resample draws *units* with replacement and recomputes the metric. A unit is one example,
or one group when the target values carry a group (MultiRC EM is a mean over question groups;
current-code ReCoRD scores each (passage, query) once, spec §2), so grouped metrics resample
whole groups. Three ways to recompute, chosen per metric key and recorded in the interval:

- ``mean``: the metric is the mean of its per-unit values (accuracy, SQuAD EM/F1, MultiRC EM…);
  checked, not assumed: the mean of the per-unit values must equal the full metric.
- ``bleu-stats``: corpus BLEU from summed per-sentence n-gram statistics (sacrebleu), with the
  spec §6 settings; checked against the full metric too.
- ``recompute``: the metric callable on every resample (F1, MCC, Pearson/Spearman, …).
"""

from __future__ import annotations

import functools
import json
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from t5eval.errors import T5evalError
from t5eval.results import read_predictions, read_run

MetricFn = Callable[[list[Any], list[Any]], dict[str, float]]

# ROUGE in T5 is a BootstrapAggregator "mid" (spec §5): an estimate of the per-example mean, so the
# mean of per-example scores may differ from it by aggregator noise; accept that much.
_APPROX_MEAN_TOL = {"rouge": 0.5}
_EXACT_TOL = 1e-6


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval for one metric (×100 scale, as the metric)."""

    low: float
    high: float
    n_boot: int
    method: str  # "mean" | "bleu-stats" | "recompute"

    def contains(self, value: float) -> bool:
        return self.low - _EXACT_TOL <= value <= self.high + _EXACT_TOL

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0


@dataclass
class BootstrapResult:
    """Point metrics on the full set, their intervals, and the raw draws (for averages)."""

    point: dict[str, float]
    intervals: dict[str, Interval]
    draws: dict[str, np.ndarray]  # key -> (n_boot,)
    n_units: int


def _group_key(value: Any) -> str | None:
    """The group a target value belongs to, or None (MultiRC: `group`; ReCoRD: idx passage/query)."""
    if not isinstance(value, dict):
        return None
    if "group" in value:
        return json.dumps(value["group"], sort_keys=True)
    idx = value.get("idx")
    if isinstance(idx, dict) and "passage" in idx and "query" in idx:
        return json.dumps([idx["passage"], idx["query"]])
    return None


def resampling_units(targets: Sequence[Any]) -> list[list[int]]:
    """Example indices per unit: one unit per group when every target has a group, else per example."""
    keys = [_group_key(t) for t in targets]
    if not keys or any(k is None for k in keys):
        return [[i] for i in range(len(targets))]
    units: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        units.setdefault(str(k), []).append(i)
    return list(units.values())


def task_seed(seed: int, name: str) -> np.random.Generator:
    """A generator fixed by (seed, name): the same task always gets the same resamples."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def _draw_indices(rng: np.random.Generator, n_units: int, n_boot: int) -> np.ndarray:
    return rng.integers(0, n_units, size=(n_boot, n_units))  # (n_boot, n_units)


def _subset(values: Sequence[Any], units: list[list[int]], picks: np.ndarray) -> list[Any]:
    return [values[i] for u in picks for i in units[u]]


def _per_unit(
    targets: Sequence[Any], preds: Sequence[Any], units: list[list[int]], metric_fn: MetricFn
) -> dict[str, np.ndarray]:
    """Metric dict on each unit alone -> key -> (n_units,); {} when the metric needs more than one unit."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = [metric_fn([targets[i] for i in u], [preds[i] for i in u]) for u in units]
    except (ValueError, ZeroDivisionError, IndexError):  # e.g. Pearson on one example
        return {}
    return {k: np.array([r.get(k, np.nan) for r in rows], dtype=np.float64) for k in rows[0]}


def _is_mean(key: str, per_unit: np.ndarray, point: float) -> bool:
    tol = next((t for prefix, t in _APPROX_MEAN_TOL.items() if key.startswith(prefix)), _EXACT_TOL)
    return bool(np.all(np.isfinite(per_unit))) and abs(float(per_unit.mean()) - point) <= tol


def _bleu_stats(preds: Sequence[Any], targets: Sequence[Any]) -> tuple[np.ndarray, Any]:
    """Per-sentence BLEU statistics with the spec §6 settings -> ((n, 10) array, scorer)."""
    from sacrebleu.metrics import BLEU

    bleu = BLEU(tokenize="intl", smooth_method="exp", lowercase=False, force=False)
    rows = []
    for p, t in zip(preds, targets, strict=True):
        s = bleu.sentence_score(str(p), [str(t)])
        rows.append([*s.counts, *s.totals, s.sys_len, s.ref_len])
    return np.array(rows, dtype=np.int64), bleu  # (n, 4 counts + 4 totals + sys + ref)


def _bleu_from_stats(stats: np.ndarray) -> float:
    from sacrebleu.metrics import BLEU

    c = stats.sum(axis=0)
    score = BLEU.compute_bleu(
        [int(x) for x in c[0:4]], [int(x) for x in c[4:8]], int(c[8]), int(c[9]), smooth_method="exp"
    )
    return float(score.score)


def _bleu_draws(targets: Sequence[Any], preds: Sequence[Any], point: float, picks: np.ndarray) -> np.ndarray | None:
    """Corpus BLEU per resample from summed sentence stats; None if the stats do not give `point`."""
    if not all(isinstance(x, str) for x in (*targets, *preds)):
        return None
    stats, _ = _bleu_stats(preds, targets)
    if abs(_bleu_from_stats(stats) - point) > _EXACT_TOL:
        return None
    return np.array([_bleu_from_stats(stats[row]) for row in picks])


def bootstrap_metrics(
    targets: Sequence[Any],
    predictions: Sequence[Any],
    metric_fn: MetricFn,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    name: str = "",
) -> BootstrapResult:
    """Percentile 95% intervals for every key `metric_fn` returns.

    Args:
        targets, predictions: postprocessed values (predictions.jsonl target_value/prediction_value).
        metric_fn: (targets, predictions) -> {key: value ×100}, e.g. `tasks.compute_metrics` bound to a spec.
        n_boot: number of resamples; seed, name: fix the resamples (same seed + name -> same interval).
    """
    if len(targets) != len(predictions) or not targets:
        raise ValueError(f"{name}: need equal, non-empty targets and predictions")
    units = resampling_units(targets)
    point = {k: float(v) for k, v in metric_fn(list(targets), list(predictions)).items()}
    picks = _draw_indices(task_seed(seed, name), len(units), n_boot)  # (n_boot, n_units)
    per_unit = _per_unit(targets, predictions, units, metric_fn)
    draws: dict[str, np.ndarray] = {}
    methods: dict[str, str] = {}
    slow: list[str] = []
    for key, value in point.items():
        if key in per_unit and _is_mean(key, per_unit[key], value):
            draws[key], methods[key] = per_unit[key][picks].mean(axis=1), "mean"
        elif key == "bleu" and len(units) == len(targets):
            bleu = _bleu_draws(targets, predictions, value, picks)
            if bleu is None:
                slow.append(key)
            else:
                draws[key], methods[key] = bleu, "bleu-stats"
        else:
            slow.append(key)
    if slow:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant resamples make Pearson/MCC warn
            rows = [metric_fn(_subset(targets, units, p), _subset(predictions, units, p)) for p in picks]
        for key in slow:
            draws[key], methods[key] = np.array([r[key] for r in rows], dtype=np.float64), "recompute"
    intervals = {k: _interval(draws[k], methods[k]) for k in point}
    return BootstrapResult(point=point, intervals=intervals, draws=draws, n_units=len(units))


def _interval(draws: np.ndarray, method: str) -> Interval:
    """Percentile interval; resamples where the metric is undefined (NaN, e.g. Pearson of a constant) are
    dropped, and an all-NaN metric gives a NaN interval (rendered as "—")."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(draws, [2.5, 97.5])
    return Interval(low=float(low), high=float(high), n_boot=int(draws.shape[0]), method=method)


def interval_of_average(groups: Sequence[Sequence[np.ndarray]]) -> Interval:
    """Interval of a benchmark average (mean over groups of the mean of each group's metrics, spec §3).

    Tasks are resampled independently, so the average's draw b is the average of each metric's draw b.
    """
    group_draws = [np.vstack(list(g)).mean(axis=0) for g in groups]  # each (n_boot,)
    return _interval(np.vstack(group_draws).mean(axis=0), "mean-of-draws")


# ---------------------------------------------------------------- runs and their stored values


# Short names accepted for each T5 task (besides the T5 name itself and the task registry's names).
_ALIASES = {
    "cola": "glue_cola_v002", "sst2": "glue_sst2_v002", "mrpc": "glue_mrpc_v002", "stsb": "glue_stsb_v002",
    "qqp": "glue_qqp_v002", "mnli_matched": "glue_mnli_matched_v002", "mnli_m": "glue_mnli_matched_v002",
    "mnli_mismatched": "glue_mnli_mismatched_v002", "mnli_mm": "glue_mnli_mismatched_v002",
    "qnli": "glue_qnli_v002", "rte": "glue_rte_v002", "wnli": "glue_wnli_v002_simple_eval",
    "squad": "squad_v010_allanswers", "boolq": "super_glue_boolq_v102", "cb": "super_glue_cb_v102",
    "copa": "super_glue_copa_v102", "multirc": "super_glue_multirc_v102", "record": "super_glue_record_v102",
    "wic": "super_glue_wic_v102", "wsc": "super_glue_wsc_v102_simple_eval", "ende": "wmt_t2t_ende_v003",
    "enfr": "wmt15_enfr_v003", "enro": "wmt16_enro_v003", "cnn_dailymail": "cnn_dailymail_v002",
    "cnndm": "cnn_dailymail_v002",
}  # fmt: skip
_T5_NAMES = {*_ALIASES.values(), "super_glue_rte_v102"}


def canonical_task(name: str) -> str | None:
    """The T5 task name a run's task name stands for, or None when the report has no column for it."""
    low = name.lower()
    for candidate in (low, low.removeprefix("glue_"), low.removeprefix("super_glue_").removeprefix("superglue_")):
        if candidate in _T5_NAMES:
            return candidate
        if candidate in _ALIASES and not (candidate == "rte" and "super" in low):
            return _ALIASES[candidate]
    if low in ("super_glue_rte", "superglue_rte", "sglue_rte"):
        return "super_glue_rte_v102"
    try:  # the task registry knows every name and alias of the task_defs
        t5_name = _registry().get(name).t5_name
    except Exception:  # registry absent or name unknown: not a column of the report
        return None
    return t5_name if t5_name in _T5_NAMES else None





@dataclass
class TaskResult:
    """One task of a run, as the report sees it."""

    name: str  # the run's own task name (the folder under the run)
    split: str
    n: int
    metrics: dict[str, float]
    history: list[dict[str, Any]]
    predictions: Path


@dataclass
class Run:
    """A run record (results/<run_id>/run.json) and its tasks."""

    path: Path
    record: dict[str, Any]
    tasks: dict[str, TaskResult]
    label: str = ""

    @property
    def run_id(self) -> str:
        return str(self.record.get("run_id") or self.path.name)

    @property
    def size(self) -> str | None:
        size = (self.record.get("model") or {}).get("size")
        return str(size).lower() if size else None

    @property
    def protocol(self) -> str:
        return str((self.record.get("settings") or {}).get("protocol", "current"))

    def describe(self) -> list[str]:
        """The settings that qualify the run's numbers: model, steps, decoding, protocol, provenance."""
        model = self.record.get("model") or {}
        settings = self.record.get("settings") or {}
        steps = (settings.get("finetune") or {}).get("steps", 0)
        parts = [
            f"model {model.get('source', '?')} (size {model.get('size')}, {model.get('variant', '?')}, "
            f"init {model.get('init', '?')}, weights {str(model.get('weights_sha256', '?'))[:12]})",
            f"fine-tune steps {steps}", f"decode {decode_summary(self)}", f"protocol {self.protocol}",
            f"seed {settings.get('seed')}", f"limit {settings.get('limit')}",
            f"created {self.record.get('created', '?')}",
            f"git {str((self.record.get('env') or {}).get('git_commit', '?'))[:12]}", f"path `{self.path}`",
        ]  # fmt: skip
        ft = settings.get("finetune") or {}
        if "pack_length" in ft:  # text-to-text runs since packing: how the batches were made
            parts[1] += f", packed rows of {ft['pack_length']}" if ft["pack_length"] else ", padded length buckets"
        if ft.get("transfer", "all") != "all":
            parts[1] += f", transfer {ft['transfer']}"
        if model.get("architecture") and ft.get("epochs") is not None:  # task-head runs: BERT's recipe
            length = f"steps {ft['steps']}" if ft.get("steps") is not None else f"epochs {ft.get('epochs')}"
            parts[1] = (f"{model.get('family')} {model['architecture']}, transfer {ft.get('transfer', 'all')}, "
                        f"lr {ft.get('lr')}, {length}, batch {ft.get('batch_size')}, "
                        f"train limit {ft.get('train_limit')}")
            parts[2] = "predictions from the task head (no decoding)"
        if self.record.get("skipped_tasks"):  # `t5eval run --skip-missing`
            parts.append(f"left out for lack of eval data: {', '.join(self.record['skipped_tasks'])}")
        return parts


def load_run(path: str | Path) -> Run:
    """Read a run folder (or its run.json); errors name the file and say what to pass instead."""
    path = Path(path)
    run_dir = path.parent if path.name == "run.json" else path
    if not run_dir.exists() and (Path("results") / run_dir).exists():
        run_dir = Path("results") / run_dir
    record = read_run(run_dir)
    tasks = {}
    for name, entry in (record.get("tasks") or {}).items():
        if "metrics" not in entry:
            raise T5evalError(f"{run_dir / 'run.json'}: task {name!r} has no 'metrics'; re-run or remove it")
        tasks[name] = TaskResult(
            name=name, split=str(entry.get("split", "validation")),
            n=int(entry.get("n", 0)), metrics=dict(entry["metrics"]),  # floats, NaN for null (read_run)
            history=list(entry.get("history") or []), predictions=run_dir / name / "predictions.jsonl",
        )  # fmt: skip
    return Run(path=run_dir, record=record, tasks=tasks, label=str(record.get("run_id") or run_dir.name))


def stored_values(task: TaskResult) -> tuple[list[Any], list[Any]]:
    """(target_value, prediction_value) lists of a task, in file order."""
    rows = read_predictions(task.predictions)
    return [r["target_value"] for r in rows], [r["prediction_value"] for r in rows]


@functools.lru_cache(maxsize=1)
def _registry() -> Any:
    from t5eval.tasks import TaskRegistry

    return TaskRegistry.default()


def task_metric_fn(task_name: str, protocol: str) -> MetricFn | None:
    """`compute_metrics` bound to the task's spec (tasks engineer's API), or None when unavailable."""
    try:
        from t5eval.tasks import compute_metrics

        spec = _registry().get(task_name)
    except Exception:  # no registry yet, or the task is not defined: no interval
        return None
    return lambda targets, preds: compute_metrics(spec, targets, preds, protocol=protocol)


def task_intervals(
    run: Run, task: TaskResult, *, n_boot: int = 1000, seed: int = 0, metric_fn: Any = None
) -> BootstrapResult | str:
    """Bootstrap intervals of one task from its predictions.jsonl, or the reason there are none."""
    if n_boot <= 0:
        return "intervals off (--bootstrap 0)"
    if not task.predictions.exists():
        return f"no {task.predictions.name}"
    fn = metric_fn or task_metric_fn(task.name, run.protocol)
    if fn is None:
        return "no metric function for the task (task registry unavailable)"
    targets, preds = stored_values(task)
    if not targets:
        return "empty predictions"
    return bootstrap_metrics(targets, preds, fn, n_boot=n_boot, seed=seed, name=task.name)


def decode_summary(run: Run) -> str:
    """Each distinct decoding setting of a run and the tasks that used it."""
    decodes: dict[str, list[str]] = {}
    for name, entry in (run.record.get("tasks") or {}).items():
        d = entry.get("decode") or {}
        key = f"beam {d.get('beam_size', '?')}, α {d.get('alpha', '?')}, max {d.get('max_decode_len', '?')}"
        if d.get("sampling"):  # decoder-only prompt tasks / --scoring rank (eval.predictor)
            key += f", {d['sampling']}" + (f" k={d.get('top_k')} seed {d.get('seed')}" if d["sampling"] == "top_k" else "")
        decodes.setdefault(key, []).append(name)
    return "; ".join(f"{k} ({', '.join(v)})" for k, v in decodes.items()) or "?"
