"""Regression checks: compare a run's metrics with a stored baseline (`t5eval check`).

A baseline (`results/baselines/<name>.json`) stores, per task, the split, n, every metric, its 95%
bootstrap interval, and a sha256 of the predictions. By default a metric passes while it stays
inside the baseline's interval (`ci`); `abs:X` / `rel:R` set an explicit tolerance; `--exact`
(for deterministic CI runs) demands identical metrics and identical predictions. A baseline without
any task fails the check (it would pass anything); a damaged one is a one-line error.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.io import atomic_write_json
from t5eval.report.bootstrap import BootstrapResult
from t5eval.report.loading import Run, task_intervals
from t5eval.results import metrics_from_json, now_iso, read_predictions
from t5eval.trust import read_json_object

BASELINE_SCHEMA = 1
FAILING = ("regressed", "missing", "changed")


@dataclass(frozen=True)
class Tolerance:
    """How far a metric may move: `ci` (baseline interval), `abs:X` points, or `rel:R` of the baseline."""

    kind: str
    value: float = 0.0

    @classmethod
    def parse(cls, text: str | None) -> Tolerance:
        if text is None or text == "ci":
            return cls("ci")
        kind, _, number = text.partition(":")
        try:
            value = float(number)
        except ValueError:
            value = -1.0
        if kind not in ("abs", "rel") or value < 0:
            raise T5evalError(f"--tolerance {text!r}: use ci, abs:X or rel:R with X, R >= 0 (e.g. abs:0.5, rel:0.01)")
        return cls(kind, value)

    def bounds(self, base: float, ci: list[float] | None) -> tuple[float, float] | None:
        """[low, high] the current value must stay in; None when `ci` is asked for and absent."""
        if self.kind == "ci":
            return (min(ci[0], base), max(ci[1], base)) if ci else None
        slack = self.value if self.kind == "abs" else self.value * abs(base)
        return base - slack, base + slack

    def __str__(self) -> str:
        return "ci" if self.kind == "ci" else f"{self.kind}:{self.value:g}"


@dataclass(frozen=True)
class CheckRow:
    """One line of the check table."""

    task: str
    metric: str
    baseline: float | None
    current: float | None
    bounds: tuple[float, float] | None
    status: str  # passed | improved | regressed | missing | changed | new
    reason: str = ""


def predictions_sha256(run: Run, task: str) -> str | None:
    """sha256 over the canonical JSON of (index, prediction, prediction_value) of every example."""
    path = run.tasks[task].predictions
    if not path.exists():
        return None
    rows = [[r["index"], r["prediction"], r["prediction_value"]] for r in read_predictions(path)]
    return hashlib.sha256(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def baseline_from_run(run: Run, *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The baseline record of a run: metrics, 95% intervals (from its predictions) and hashes."""
    tasks: dict[str, Any] = {}
    for name, task in sorted(run.tasks.items()):
        boot = task_intervals(run, task, n_boot=n_boot, seed=seed)
        ci = ({k: [round(iv.low, 10), round(iv.high, 10)] for k, iv in boot.intervals.items()}
              if isinstance(boot, BootstrapResult) else None)  # fmt: skip
        tasks[name] = {"split": task.split, "n": task.n, "metrics": dict(sorted(task.metrics.items())),
                       "ci": ci, "ci_note": None if ci else str(boot),
                       "predictions_sha256": predictions_sha256(run, name)}  # fmt: skip
    return {"schema": BASELINE_SCHEMA, "run_id": run.run_id, "created": now_iso(),
            "bootstrap": {"n_boot": n_boot, "seed": seed}, "tasks": tasks}  # fmt: skip


def read_baseline(path: Path) -> dict[str, Any]:
    """Read a baseline; a missing file or a wrong schema is a one-line error with the fix."""
    if not path.exists():
        raise T5evalError(f"baseline {path} not found; create it with `t5eval check RUN --against {path} --update`")
    fix = f"recreate it with `t5eval check RUN --against {path} --update`"
    data = read_json_object(path, fix)
    if data.get("schema") != BASELINE_SCHEMA or not isinstance(data.get("tasks"), dict):
        raise T5evalError(f"{path}: not a t5eval baseline (schema {BASELINE_SCHEMA} with a 'tasks' object); {fix}")
    for name, base in data["tasks"].items():
        if not isinstance(base, dict) or not isinstance(base.get("metrics") or {}, dict):
            raise T5evalError(f"{path}: task {name!r} is not an object with 'metrics'; {fix}")
    for base in data["tasks"].values():  # null (a NaN in strict JSON) back to NaN
        base["metrics"] = metrics_from_json(base.get("metrics") or {})
        if base.get("ci"):
            base["ci"] = {k: [math.nan if x is None else x for x in v] for k, v in base["ci"].items()}
    return dict(data)


def _status(current: float, bounds: tuple[float, float]) -> str:
    if current < bounds[0]:
        return "regressed"
    return "improved" if current > bounds[1] else "passed"


def _task_rows(run: Run, name: str, base: dict[str, Any], tol: Tolerance, exact: bool) -> list[CheckRow]:
    task = run.tasks.get(name)
    if task is None:
        return [CheckRow(name, "*", None, None, None, "missing", f"task {name} is not in run {run.run_id}")]
    rows = []
    if task.split != base.get("split"):
        rows.append(CheckRow(name, "split", None, None, None, "missing",
                             f"split {task.split!r}, baseline {base.get('split')!r}"))  # fmt: skip
    for metric, value in base["metrics"].items():
        current = task.metrics.get(metric)
        ci = (base.get("ci") or {}).get(metric)
        bounds = (value, value) if exact else tol.bounds(value, ci)
        if current is None:
            rows.append(CheckRow(name, metric, value, None, bounds, "missing", f"metric {metric} not in the run"))
        elif bounds is None:  # no stored interval (no predictions): the value itself is the bound
            rows.append(CheckRow(name, metric, value, current, (value, value), _status(current, (value, value)),
                                 "no interval in the baseline: compared exactly"))  # fmt: skip
        else:
            rows.append(CheckRow(name, metric, value, current, bounds, _status(current, bounds)))
    rows += [CheckRow(name, m, None, v, None, "new", "not in the baseline")
             for m, v in task.metrics.items() if m not in base["metrics"]]  # fmt: skip
    if exact and base.get("predictions_sha256") != predictions_sha256(run, name):
        rows.append(CheckRow(name, "predictions", None, None, None, "changed",
                             "predictions differ from the baseline's (sha256)"))  # fmt: skip
    return rows


def compare(run: Run, baseline: dict[str, Any], tol: Tolerance, *, exact: bool = False) -> list[CheckRow]:
    """Every baseline metric against the run (plus tasks/metrics the baseline lacks, as `new`)."""
    rows = []
    if not baseline["tasks"]:  # an emptied baseline would let anything through
        rows.append(CheckRow("*", "*", None, None, None, "missing",
                             "the baseline holds no task, so it checks nothing; recreate it with --update"))
    for name, base in baseline["tasks"].items():
        rows += _task_rows(run, name, base, tol, exact)
    rows += [CheckRow(n, "*", None, None, None, "new", "not in the baseline")
             for n in run.tasks if n not in baseline["tasks"]]  # fmt: skip
    return rows


def failed(rows: list[CheckRow]) -> bool:
    return any(r.status in FAILING for r in rows)


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.4f}"


def render_check(rows: list[CheckRow], tol: Tolerance, exact: bool) -> str:
    """Plain-text table, then a one-line verdict naming the first failure."""
    head = f"{'task':<32} {'metric':<18} {'baseline':>10} {'current':>10} {'allowed':>21}  status"
    lines = [f"tolerance: {'exact' if exact else tol}", head, "-" * len(head)]
    for r in rows:
        allowed = f"[{r.bounds[0]:.4f}, {r.bounds[1]:.4f}]" if r.bounds else "—"
        extra = f"  ({r.reason})" if r.reason else ""
        lines.append(f"{r.task:<32} {r.metric:<18} {_num(r.baseline):>10} {_num(r.current):>10} "
                     f"{allowed:>21}  {r.status}{extra}")  # fmt: skip
    counts = {s: sum(r.status == s for r in rows) for s in ("passed", "improved", *FAILING, "new")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    bad = next((r for r in rows if r.status in FAILING), None)
    verdict = f"FAIL: {bad.task} {bad.metric} {bad.status}" + (f" ({bad.reason})" if bad.reason else "") if bad else "OK"
    return "\n".join([*lines, "", f"{summary}. {verdict}"])


def _changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    if old is None:
        return [f"new baseline with {len(new['tasks'])} task(s)"]
    out = [f"removed task {t}" for t in old["tasks"] if t not in new["tasks"]]
    for task, entry in new["tasks"].items():
        before = old["tasks"].get(task)
        if before is None:
            out.append(f"added task {task}")
            continue
        for metric, value in entry["metrics"].items():
            prev = before["metrics"].get(metric)
            if prev != value:
                out.append(f"{task} {metric}: {_num(prev)} -> {_num(value)}")
        if before.get("predictions_sha256") != entry.get("predictions_sha256"):
            out.append(f"{task} predictions changed")
    return out or ["no metric changed (interval/created refreshed)"]


def update_baseline(run: Run, path: Path, *, n_boot: int = 1000, seed: int = 0) -> list[str]:
    """Write the run's baseline to `path` atomically; returns what changed against the old file."""
    old = read_baseline(path) if path.exists() else None
    new = baseline_from_run(run, n_boot=n_boot, seed=seed)
    atomic_write_json(path, new)
    return _changes(old, new)
