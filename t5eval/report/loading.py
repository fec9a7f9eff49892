"""Reading runs for the report: a run folder's record and tasks (`load_run`), the T5 task each of its task
names stands for (`canonical_task`), the stored prediction values, and each task's bootstrap intervals
(`task_intervals`, computed by `report.bootstrap`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.report.bootstrap import BootstrapResult, MetricFn, bootstrap_metrics
from t5eval.results import read_predictions, read_run

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
