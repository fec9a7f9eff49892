"""Paper-style reports: our runs beside the T5 paper's Table 14 / Table 1, with intervals and deltas.

Layout (`SECTIONS`) follows Table 14: GLUE (two halves), SQuAD + SuperGLUE, SuperGLUE (cont.),
translation and summarization. A column is a (task, metric) pair, named by the T5 task (spec §1–6)
so any task alias or registry name maps onto it. Averages follow spec §3 and are never taken
silently over fewer tasks or over unlike splits. `build_report` writes the Markdown (+ PNG plots).
"""

from __future__ import annotations

from pathlib import Path

from t5eval.report.cells import ReportData, run_cells
from t5eval.report.loading import load_run, task_intervals
from t5eval.report.paper import PAPER_SCORES, load_paper_scores
from t5eval.report.render import render_markdown


def report_markdown(
    run_paths: list[Path], *, n_boot: int = 1000, seed: int = 0, plots_beside: Path | None = None,
    paper_path: Path = PAPER_SCORES,
) -> str:  # fmt: skip
    """Load runs, bootstrap every task, render the Markdown (PNGs written beside `plots_beside` when given)."""
    from t5eval.report.plots import write_plots

    runs = [load_run(p) for p in run_paths]
    seen: dict[str, int] = {}
    for run in runs:  # unique labels for runs that share a run_id
        seen[run.label] = seen.get(run.label, 0) + 1
        run.label += f"-{seen[run.label]}" if seen[run.label] > 1 else ""
    intervals = {r.label: {t.name: task_intervals(r, t, n_boot=n_boot, seed=seed) for t in r.tasks.values()}
                 for r in runs}  # fmt: skip
    cells = {r.label: run_cells(r, intervals[r.label]) for r in runs}
    data = ReportData(runs, cells, intervals, load_paper_scores(paper_path))
    if plots_beside is not None:
        plots_beside.parent.mkdir(parents=True, exist_ok=True)
        data.plots = write_plots(data, plots_beside)
    return render_markdown(data)


def build_report(
    run_paths: list[Path], out: Path, *, n_boot: int = 1000, seed: int = 0, plots: bool = True,
    paper_path: Path = PAPER_SCORES,
) -> Path:  # fmt: skip
    """`report_markdown` written to `out` (+ PNGs beside it); returns the Markdown path."""
    from t5eval.io import atomic_write_text

    text = report_markdown(run_paths, n_boot=n_boot, seed=seed, plots_beside=out if plots else None,
                           paper_path=paper_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text)
    return out
