"""What each run is (model family, transfer approach, trainable parameters), and the sections that compare
runs by it: the "Runs" table, and "Transfer approaches (paper Table 10)" with our runs grouped by approach.

Read from run.json only: `model.family` / `model.architecture` (task-head runs: "encoder + task head" for
BERT, "T5 encoder (mean-pooled) + task head" for `--head classify`), `tasks.<t>.train.transfer` and
`trainable_parameters` (`…_last` for gradual unfreezing), else `settings.finetune.transfer`. Runs written
before `--transfer` existed carry no transfer key and read as `all`.
"""

from __future__ import annotations

import re
from typing import Any

from t5eval.report.cells import ReportData, md_cell, md_table, run_cell_text
from t5eval.report.loading import Run
from t5eval.report.paper import COLUMNS, PaperTable

NOT_FINETUNED = "none (not fine-tuned)"

# Table 10's rows in the paper's order, with the approach (`--transfer`) each stands for.
TABLE10_ROWS = {
    "all_parameters": ("All parameters ⋆", "all"), "adapters_32": ("Adapter layers, d = 32", "adapters:32"),
    "adapters_128": ("Adapter layers, d = 128", "adapters:128"),
    "adapters_512": ("Adapter layers, d = 512", "adapters:512"),
    "adapters_2048": ("Adapter layers, d = 2048", "adapters:2048"),
    "gradual_unfreezing": ("Gradual unfreezing", "gradual-unfreezing"),
}  # fmt: skip


def _trained(run: Run) -> list[dict[str, Any]]:
    """The `train` blocks of the run's fine-tuned tasks."""
    return [t["train"] for t in (run.record.get("tasks") or {}).values() if isinstance((t or {}).get("train"), dict)]


def is_head_run(run: Run) -> bool:
    """A task-head run (BERT, or T5's encoder with --head classify)."""
    return "head" in str((run.record.get("model") or {}).get("architecture") or "")


def family(run: Run) -> str:
    """T5 text-to-text, T5 encoder + head, BERT + head, a decoder-only LM, or `<family> / <architecture>`."""
    model = run.record.get("model") or {}
    name = str(model.get("family") or "t5")
    arch = str(model.get("architecture") or ("encoder-decoder" if name == "t5" else ""))
    if name == "bert":
        return "BERT + head"
    if name == "t5":
        return "T5 encoder + head" if is_head_run(run) else "T5 text-to-text"
    if name == "gpt2":
        return "GPT-2 (decoder-only LM)"
    if name == "t5lm":
        return f"T5 decoder-only ({arch or 'lm'})"
    return f"{name} / {arch}" if arch else name


def approach(run: Run) -> str:
    """The transfer approach: `all`, `frozen`, `adapters:D`, `gradual-unfreezing` (several: joined by ", "),
    or NOT_FINETUNED for a run that says it trained nothing (zero-shot)."""
    found = [str(t["transfer"]) for t in _trained(run) if t.get("transfer")]
    finetune = (run.record.get("settings") or {}).get("finetune") or {}
    if not found and finetune.get("enabled") is False:
        return NOT_FINETUNED
    if not found:
        found = [str(finetune["transfer"])] if finetune.get("transfer") else ["all"]
    return ", ".join(dict.fromkeys(found))


def trainable(run: Run) -> str:
    """Trainable parameters at the first step (→ at the last, when they grow); a range over tasks; "—"."""
    first = [int(t["trainable_parameters"]) for t in _trained(run) if t.get("trainable_parameters")]
    last = [int(t.get("trainable_parameters_last") or t["trainable_parameters"]) for t in _trained(run)
            if t.get("trainable_parameters")]
    if not first:
        return "—"

    def span(values: list[int]) -> str:
        return f"{min(values):,}" if min(values) == max(values) else f"{min(values):,}–{max(values):,}"

    return span(first) if first == last else f"{span(first)} → {span(last)}"


def render_runs(data: ReportData) -> list[str]:
    """One row per run: family, transfer approach, trainable parameters, size, init."""
    rows = []
    for run in data.runs:
        model = run.record.get("model") or {}
        rows.append([md_cell(run.label, code=True), md_cell(family(run)), md_cell(approach(run)), md_cell(trainable(run)),
                     md_cell(model.get("size") or "—"), md_cell(model.get("init") or "—")])
    return ["## Runs", "", "Family and transfer approach (`--transfer`) as run.json records them; runs without a "
            "transfer record fine-tune all parameters. Trainable parameters at the first step (→ the last, for "
            "gradual unfreezing); a range when tasks' heads differ.", "",
            *md_table(["Run", "family", "transfer", "trainable parameters", "size", "init"], rows), ""]


def _approach_order(name: str) -> tuple[int, int, str]:
    adapters = re.fullmatch(r"adapters:(\d+)", name)
    rank = {"all": 0, "frozen": 2, "gradual-unfreezing": 3}.get(name, 1 if adapters else 4)
    return rank, int(adapters.group(1)) if adapters else 0, name


def _paper_row_of(name: str) -> str:
    row = next((label for label, flag in TABLE10_ROWS.values() if flag == name), None)
    return row or "none (the paper has no such row)"


def render_transfer(data: ReportData) -> list[str]:
    """Table 10's rows (validation) and ours grouped by approach; shown when a run used a non-default
    approach or a task head."""
    if not any(approach(r) not in ("all", NOT_FINETUNED) or is_head_run(r) for r in data.runs):
        return []
    t10: PaperTable = data.paper["table10"]
    cols = [c for c in t10.rows["all_parameters"]]
    rows = [[f"Paper: {label} (validation)"] + [f"{t10.rows[key][c]:.2f}" for c in cols]
            for key, (label, _) in TABLE10_ROWS.items()]
    ordered = sorted(data.runs, key=lambda r: _approach_order(approach(r)))
    rows += [[f"{md_cell(r.label, code=True)}: {md_cell(approach(r))}, {md_cell(family(r))}"]
             + [run_cell_text(data.cells[r.label].get(c), 2) for c in cols]
             for r in ordered if any(_has_value(data, r, c) for c in cols)]
    compared = [r for r in ordered if approach(r) not in ("all", NOT_FINETUNED) or is_head_run(r)]
    task_cols = [c for c in COLUMNS if COLUMNS[c].task and any(_has_value(data, r, c) for r in compared)]
    ours = [[md_cell(approach(r)), md_cell(r.label, code=True), md_cell(family(r)), md_cell(trainable(r)),
             _paper_row_of(approach(r))]
            + [run_cell_text(data.cells[r.label].get(c), COLUMNS[c].digits) for c in task_cols]
            for r in ordered if any(_has_value(data, r, c) for c in task_cols)]
    return ["## Transfer approaches (paper Table 10)", "",
            "Paper rows: T5 Table 10 (the baseline model, T5-Base size, pre-trained 2^19 steps and fine-tuned 2^18; "
            "validation sets; d = 2048: the paper's appendix Table 16 row, as Table 10 prints d = 128's row again). "
            "The paper has no feature-based (frozen) row. Our runs appear beside them where they have one of these "
            "averages or tasks.", "",
            *md_table(["Row", *[COLUMNS[c].label for c in cols]], rows), "",
            "Our runs by transfer approach, on the tasks of the runs with a non-default approach or a task head "
            "(validation, 95% interval):", "",
            *md_table(["transfer", "Run", "family", "trainable parameters", "paper row",
                       *[COLUMNS[c].label for c in task_cols]], ours), ""]


def _has_value(data: ReportData, run: Run, col: str) -> bool:
    cell = data.cells[run.label].get(col)
    return cell is not None and cell.value is not None
