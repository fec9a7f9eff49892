"""Report figures (matplotlib, Agg backend): per-task scores against the paper, training curves."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt
import numpy as np

if TYPE_CHECKING:
    from t5eval.report.cells import ReportData
    from t5eval.report.loading import Run


def _score_columns(data: ReportData) -> list[str]:
    from t5eval.report.paper import COLUMNS

    return [c for c in COLUMNS if any(data.cells[r.label].get(c, None) is not None
                                      and data.cells[r.label][c].value is not None for r in data.runs)]  # fmt: skip


def plot_scores(data: ReportData, path: Path) -> Path | None:
    """Grouped bars per column: each run (with its 95% interval) and the paper row of its size."""
    from t5eval.report.cells import paper_row_for
    from t5eval.report.paper import COLUMNS

    cols = _score_columns(data)
    if not cols:
        return None
    t14 = data.paper["table14"]
    series: list[tuple[str, list[float], list[tuple[float, float]] | None]] = []
    for size in dict.fromkeys(s for r in data.runs if (s := paper_row_for(r, t14))):
        series.append((f"paper {size} (Table 14)", [t14.rows[size].get(c, math.nan) for c in cols], None))
    for run in data.runs:
        cells = data.cells[run.label]
        values: list[float] = []
        errs: list[tuple[float, float]] = []
        for c in cols:
            cell = cells.get(c)
            v = cell.value if cell is not None and cell.value is not None else math.nan
            iv = cell.interval if cell is not None else None
            values.append(v)
            errs.append((v - iv.low, iv.high - v) if iv is not None else (0.0, 0.0))
        series.append((run.label, values, errs))
    x = np.arange(len(cols))  # (n_cols,)
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(min(16.0, max(6.0, 2 + 0.22 * len(cols) * len(series))), 5.0))
    for i, (name, heights, bars) in enumerate(series):
        yerr = np.array(bars).T if bars else None  # (2, n_cols)
        ax.bar(x + (i - (len(series) - 1) / 2) * width, heights, width, label=name, yerr=yerr, capsize=2)
    ax.set_xticks(x, [COLUMNS[c].label for c in cols], rotation=45, ha="right")
    ax.set_ylabel("score (×100)")
    ax.set_title("Per-task scores (ours: validation, 95% bootstrap CI; paper: Table 14)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_history(runs: list[Run], path: Path) -> Path | None:
    """Validation score per checkpoint (run.json tasks.<t>.history), one panel per task."""
    curves: dict[str, list[tuple[str, list[int], list[float]]]] = {}
    for run in runs:
        for task in run.tasks.values():
            points = [(int(h["step"]), h.get("metrics") or {}) for h in task.history if "step" in h]
            keys = sorted({k for _, m in points for k in m})
            for key in keys:
                steps = [s for s, m in points if key in m]
                values = [float(m[key]) for _, m in points if key in m]
                if steps:
                    curves.setdefault(task.name, []).append((f"{run.label}: {key}", steps, values))
    if not curves:
        return None
    n = len(curves)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.5 * ncols, 3.2 * nrows), squeeze=False)
    for ax, (name, lines) in zip(axes.flat, sorted(curves.items()), strict=False):
        for label, steps, values in lines:
            ax.plot(steps, values, marker="o", label=label)
        ax.set_title(name)
        ax.set_xlabel("fine-tuning step")
        ax.set_ylabel("validation score")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_plots(data: ReportData, out: Path) -> list[tuple[str, str]]:
    """Both figures beside the Markdown file `out` -> [(caption, file name)] of those drawn."""
    written = []
    for caption, suffix in (("Scores against the paper", "scores"), ("Validation score per checkpoint", "history")):
        png = out.with_name(f"{out.stem}_{suffix}.png")
        made = plot_scores(data, png) if suffix == "scores" else plot_history(data.runs, png)
        if made is not None:
            written.append((caption, png.name))
    return written
