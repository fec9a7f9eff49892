"""A study's numbers: per-seed task scores, mean ± std over seeds, the paired bootstrap Δ against the
baseline pooled over seeds, the paper's bold rule and the concordance of our ordering with the paper's.

Task score: the mean of the task's metrics (T5's averaging group: MRPC F1 and accuracy, STS-B Pearson and
Spearman, CB F1 and accuracy, ...); the study's average is the mean of its task scores.

Paired Δ of a level against the baseline, for one task and one seed: both runs scored the same examples;
each bootstrap resample draws the same examples (or MultiRC/ReCoRD groups) for both levels
(`report.bootstrap.bootstrap_metrics` with the same seed and name draws the same indices for the same
units) and recomputes each metric on the resample (corpus BLEU from summed sentence statistics, F1, MCC,
correlations, ROUGE recomputed), so draw b of the Δ is score_level(b) − score_baseline(b). Over seeds the
Δ is the mean of the per-seed Δs and draw b the mean of the seeds' draws b (seeds resampled
independently); the 95% interval is the 2.5th–97.5th percentile of those draws. The average column's draw b
is the mean of the tasks' draws b.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from t5eval.errors import T5evalError
from t5eval.report.bootstrap import bootstrap_metrics

MetricFn = Callable[[list[Any], list[Any]], dict[str, float]]


@dataclass(frozen=True)
class Delta:
    """A paired difference level − baseline (×100 points) with its 95% percentile interval."""

    point: float
    low: float
    high: float
    seeds: int

    @property
    def arrow(self) -> str:
        """▲ when the interval lies above 0, ▼ when below, '' when it includes 0 (or is undefined)."""
        if np.isnan(self.low) or np.isnan(self.high):
            return ""
        return "▲" if self.low > 0 else "▼" if self.high < 0 else ""


def task_score(metrics: dict[str, float]) -> float:
    """The mean of a task's metrics (NaN when any is undefined)."""
    values = [float(v) for v in metrics.values()]
    return float(np.mean(values)) if values else float("nan")


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof 1; None for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), (float(array.std(ddof=1)) if len(array) > 1 else None)


def paired_draws(targets: Sequence[Any], base_preds: Sequence[Any], level_preds: Sequence[Any], metric_fn: MetricFn,
                 *, n_boot: int, seed: int, name: str) -> tuple[float, np.ndarray]:
    """Point Δ of the task score and its (n_boot,) draws, both levels resampled on the same examples."""
    base = bootstrap_metrics(targets, base_preds, metric_fn, n_boot=n_boot, seed=seed, name=name)
    level = bootstrap_metrics(targets, level_preds, metric_fn, n_boot=n_boot, seed=seed, name=name)
    keys = [k for k in base.point if k in level.point]
    point = float(np.mean([level.point[k] for k in keys]) - np.mean([base.point[k] for k in keys]))
    draws = np.mean([level.draws[k] - base.draws[k] for k in keys], axis=0)  # (n_boot,)
    return point, draws


def same_examples(where: str, base: Sequence[Any], level: Sequence[Any]) -> None:
    """Paired resampling needs both runs' targets to be the same examples in the same order."""
    if len(base) != len(level) or any(json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True)
                                      for a, b in zip(base, level, strict=True)):
        raise T5evalError(f"{where}: the level and the baseline scored different examples (counts {len(base)} and "
                          f"{len(level)}); rerun both cells with the same tasks and --limit")


def pool_seeds(per_seed: Sequence[tuple[float, np.ndarray]]) -> tuple[float, np.ndarray]:
    """Mean point and mean draws over seeds."""
    return float(np.mean([p for p, _ in per_seed])), np.mean([d for _, d in per_seed], axis=0)


def interval(point: float, draws: np.ndarray, seeds: int) -> Delta:
    """95% percentile interval of the draws (undefined resamples, NaN, dropped)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(draws, [2.5, 97.5]) if np.any(np.isfinite(draws)) else (np.nan, np.nan)
    return Delta(point=point, low=float(low), high=float(high), seeds=seeds)


def bold_levels(means: dict[str, float], baseline_std: float | None) -> set[str]:
    """The paper's rule: bold every score within two standard deviations of the best in the column; the
    standard deviation is the baseline's over our seeds (with one seed: only the best is bold)."""
    finite = {k: v for k, v in means.items() if np.isfinite(v)}
    if not finite:
        return set()
    best = max(finite.values())
    margin = 2 * baseline_std if baseline_std is not None and np.isfinite(baseline_std) else 0.0
    return {k for k, v in finite.items() if v >= best - margin - 1e-9}


@dataclass(frozen=True)
class Concordance:
    concordant: int
    discordant: int
    tied: int  # pairs tied in ours or in the paper's numbers
    levels: int

    def text(self, column: str) -> str:
        pairs = self.concordant + self.discordant + self.tied
        if pairs == 0:
            return f"Ordering against the paper ({column}): no two levels with both our and the paper's number."
        tau = (self.concordant - self.discordant) / pairs
        return (f"Ordering against the paper ({column}, {self.levels} levels, {pairs} pair(s)): {self.concordant} "
                f"concordant, {self.discordant} discordant, {self.tied} tied (Kendall τ-a = {tau:+.2f}).")


def concordance(ours: dict[str, float], paper: dict[str, float]) -> Concordance:
    """Pairs of levels ordered the same way by our average and the paper's column, or the other way."""
    names = [n for n in ours if n in paper and np.isfinite(ours[n])]
    counts = [0, 0, 0]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            product = np.sign(ours[a] - ours[b]) * np.sign(paper[a] - paper[b])
            counts[0 if product > 0 else 1 if product < 0 else 2] += 1
    return Concordance(counts[0], counts[1], counts[2], len(names))
