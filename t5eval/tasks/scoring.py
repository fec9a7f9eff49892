"""Postprocess dispatch, metric dispatch by name, and T5's benchmark averaging (spec §3)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from t5eval.errors import T5evalError, did_you_mean
from t5eval.tasks.postprocess import POSTPROCESSORS, ExampleLike
from t5eval.tasks.spec import BenchmarkSpec, TaskSpec, check_protocol

MetricFn = Callable[[list, list], dict[str, float]]


def postprocess(spec: TaskSpec, text: str, example: ExampleLike, is_target: bool) -> Any:
    """Run the task's postprocessor, as seqio's `postprocess_fn(text, example=…, is_target=…)`."""
    fn = POSTPROCESSORS[spec.postprocessor]
    args = dict(spec.postprocessor_args)
    if spec.postprocessor == "string_label_to_class_id" and "label_classes" not in args:
        args["label_classes"] = list(spec.labels or [])
    return fn(text, example, is_target, **args)


def metric_registry() -> Mapping[str, MetricFn]:
    """The metric functions by name (`t5eval.metrics.METRICS`, written by the metrics engineer)."""
    try:
        from t5eval.metrics import METRICS
    except ImportError as err:
        raise T5evalError(f"t5eval.metrics.METRICS is not available ({err}); metrics cannot be computed") from None
    return METRICS


def compute_metrics(spec: TaskSpec, targets: Sequence[Any], predictions: Sequence[Any],
                    protocol: str = "current", metrics: Mapping[str, MetricFn] | None = None) -> dict[str, float]:
    """Every metric the task names for `protocol`, merged into one dict (values ×100, T5 key names).

    `targets` and `predictions` are postprocessed values (see `postprocess`).
    """
    check_protocol(protocol)
    if len(targets) != len(predictions):
        raise T5evalError(f"task {spec.name}: {len(targets)} targets but {len(predictions)} predictions")
    registry = metric_registry() if metrics is None else metrics
    out: dict[str, float] = {}
    for name in spec.metrics_for(protocol):
        if name not in registry:
            raise T5evalError(f"task {spec.name}: metric {name!r} is not in t5eval.metrics.METRICS"
                              f"{did_you_mean(name, registry)}")
        out.update({k: float(v) for k, v in registry[name](list(targets), list(predictions)).items()})
    return out


def _group_score(group: Mapping[str, Sequence[str]], scores: Mapping[str, Mapping[str, float]]) -> float | None:
    """Mean of the group's metric values; None when a member or a metric is missing."""
    values = []
    for task, keys in group.items():
        if task not in scores:
            return None
        for key in keys:
            value = scores[task].get(key)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return None
            values.append(float(value))
    return sum(values) / len(values) if values else None


def benchmark_average(bench: BenchmarkSpec, scores: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """T5's average: the mean of group scores, each the mean of its metrics (MNLI-m/mm one group).

    `scores` maps canonical task names to their metrics. Returns {"average", "groups", "complete",
    "missing"}; the average is over the groups present, `complete` says whether every group was.
    """
    groups: dict[str, float] = {}
    missing = []
    for name, group in bench.groups.items():
        score = _group_score(group, scores)
        if score is None:
            missing.append(name)
        else:
            groups[name] = score
    average = sum(groups.values()) / len(groups) if groups else None
    return {"average": average, "groups": groups, "complete": not missing and bool(bench.groups),
            "missing": missing}
