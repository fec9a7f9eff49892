"""T5's benchmark tasks: definitions (`task_defs/`), loading, casting, postprocessing, metric dispatch.

    reg = TaskRegistry.default(); spec = reg.get("rte")
    ds = load_examples(spec, "validation", data_dir)          # Example(index, inputs, targets, fields)
    value = postprocess(spec, text, example, is_target=False)
    compute_metrics(spec, target_values, prediction_values, protocol="current")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from t5eval.tasks.data import Example, ExampleSet, has_split, load_examples, require_hub, resolve_data_dir
from t5eval.tasks.registry import TaskRegistry
from t5eval.tasks.rows import DataWarning
from t5eval.tasks.scoring import benchmark_average as _benchmark_average
from t5eval.tasks.scoring import compute_metrics, postprocess
from t5eval.tasks.spec import PROTOCOLS, BenchmarkSpec, TaskSpec


def benchmark_average(bench: str | BenchmarkSpec, scores: Mapping[str, Mapping[str, float]],
                      registry: TaskRegistry | None = None) -> dict[str, Any]:
    """T5's benchmark average (spec §3) from {task name or alias: metrics}.

    Returns {"average", "groups", "complete", "missing"}.
    """
    if isinstance(bench, BenchmarkSpec):
        return _benchmark_average(bench, scores)
    return (registry or TaskRegistry.default()).average(bench, scores)


__all__ = [
    "PROTOCOLS", "BenchmarkSpec", "DataWarning", "Example", "ExampleSet", "TaskRegistry", "TaskSpec",
    "benchmark_average", "compute_metrics", "has_split", "load_examples", "postprocess", "require_hub",
    "resolve_data_dir",
]
