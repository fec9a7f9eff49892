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

import json
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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
