"""The report's decoder-only section: zero-shot (GPT-2) and T5 LM / prefix-LM rows beside fine-tuned T5 rows
on the tasks they share, each row naming its model family and architecture, with the GPT-2 paper's own
numbers as reference rows (the paper evaluates other splits or datasets: its rows are context, not targets).

A column is a shared task family; each run fills it from whichever of its tasks casts that family (the T5
task or its GPT-2 prompt version), so a T5 run and a GPT-2 run land in the same column.
"""

from __future__ import annotations

from dataclasses import dataclass

from t5eval.report.cells import fmt, md_cell
from t5eval.report.loading import Run


@dataclass(frozen=True)
class SharedColumn:
    label: str
    tasks: tuple[str, ...]  # T5 and GPT-2 task names that cast this family, first match wins
    metric: str


COLUMNS = (
    SharedColumn("CNN/DM R-1", ("cnn_dailymail_v002", "gpt2_cnn_dailymail_tldr", "gpt2_cnn_dailymail_tldr_greedy"),
                 "rouge1"),
    SharedColumn("CNN/DM R-2", ("cnn_dailymail_v002", "gpt2_cnn_dailymail_tldr", "gpt2_cnn_dailymail_tldr_greedy"),
                 "rouge2"),
    SharedColumn("CNN/DM R-L", ("cnn_dailymail_v002", "gpt2_cnn_dailymail_tldr", "gpt2_cnn_dailymail_tldr_greedy"),
                 "rougeLsum"),
    SharedColumn("En→Fr BLEU", ("wmt14_enfr_v003", "wmt15_enfr_v003", "gpt2_wmt14_en_fr"), "bleu"),
    SharedColumn("Fr→En BLEU", ("gpt2_wmt14_fr_en",), "bleu"),
    SharedColumn("SQuAD EM", ("squad_v010_allanswers", "gpt2_squad_rc"), "em"),
    SharedColumn("SQuAD F1", ("squad_v010_allanswers", "gpt2_squad_rc"), "f1"),
    SharedColumn("closed-book EM", ("squad_v010_context_free", "gpt2_squad_closed_book"), "em"),
    SharedColumn("WSC acc", ("super_glue_wsc_v102_simple_eval", "gpt2_wsc_lm"), "accuracy"),
)

# GPT-2 1.5B (Radford et al. 2019), checked against the paper's text (a pdftotext copy; see docs/gpt2.md):
# V = stated in the running text; T = Table 4, whose columns came out of the PDF extraction in order.
# Each is on the paper's own data: CoQA dev (not SQuAD), Natural Questions dev (not SQuAD closed book),
# WSC273 (not SuperGLUE WSC), CNN/DM test, WMT-14 newstest2014.
GPT2_PAPER = {
    "CNN/DM R-1": (29.34, "T"), "CNN/DM R-2": (8.27, "T"), "CNN/DM R-L": (26.58, "T"),
    "En→Fr BLEU": (5.0, "V"), "Fr→En BLEU": (11.5, "V"), "SQuAD F1": (55.0, "V: CoQA dev F1"),
    "closed-book EM": (4.1, "V: Natural Questions EM"), "WSC acc": (70.70, "V: WSC273, partial scoring"),
}


def _family(run: Run) -> str:
    model = run.record.get("model") or {}
    family = model.get("family") or "t5"
    arch = model.get("architecture") or ("encoder-decoder" if family == "t5" else "decoder-only")
    tuned = any((e or {}).get("finetuned") for e in (run.record.get("tasks") or {}).values())
    return f"{family} / {arch}, {'fine-tuned' if tuned else 'zero-shot'}"


def _cell(run: Run, column: SharedColumn) -> str:
    for name in column.tasks:
        task = run.tasks.get(name)
        if task is not None and column.metric in task.metrics:
            partial = "*" if (run.record.get("settings") or {}).get("limit") else ""
            return f"{fmt(task.metrics[column.metric], 2)}{partial} ({name}, {task.split})"
    return "—"


def render_zero_shot(runs: list[Run]) -> list[str]:
    """The section, or nothing when no run holds a decoder-only model or a GPT-2 prompt task."""
    def decoder_only(run: Run) -> bool:
        family = (run.record.get("model") or {}).get("family")
        return family not in (None, "t5", "bert") or any(name.startswith("gpt2_") for name in run.tasks)

    if not any(decoder_only(r) for r in runs):
        return []
    header = ["Model", "family / architecture", *[c.label for c in COLUMNS]]
    paper = [f"{GPT2_PAPER[c.label][0]:.2f} ({GPT2_PAPER[c.label][1]})" if c.label in GPT2_PAPER else "—"
             for c in COLUMNS]
    rows = [["GPT-2 1.5B, paper (its own datasets)", "gpt2 / decoder-only, zero-shot", *paper]]
    rows += [[md_cell(r.label, code=True), md_cell(_family(r)), *[_cell(r, c) for c in COLUMNS]]
             for r in runs if any(_cell(r, c) != "—" for c in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return ["## Decoder-only and encoder-decoder on shared tasks", "",
            "Each run's cell names the task it comes from (T5 casting or the GPT-2 prompt version) and its split. "
            "The GPT-2 paper's numbers are on its own datasets (CoQA for reading comprehension, Natural Questions "
            "for closed-book QA, WSC273), so they are context, not a target. Confidence: V = stated in the "
            "paper's text, T = read from its Table 4. `*`: scored on a subset (--limit).", "", *lines, ""]
