"""The report's "Models and pre-training" section: per level, the model's parameters P and forward FLOPs per
token M (run.json `model.cost`, Table 2's P and M columns), and what its pre-training did (pretrain.json beside
the model the run started from: steps, tokens, final loss, `--corpus-tokens` repeats, the mixture's members),
plus the training-loss curves of the truncated corpora (Table 9, the paper's Figure 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from t5eval.io import read_json


def pretrain_record(run_record: dict[str, Any]) -> dict[str, Any] | None:
    """The pretrain.json of the folder a run's model came from (None: not a pre-training folder)."""
    source = str((run_record.get("model") or {}).get("source") or "")
    path = Path(source) / "pretrain.json"
    if not source or source.startswith("ensemble:") or not path.is_file():
        return None
    return dict(read_json(path))


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int | float) else "—"


def _pretraining(record: dict[str, Any] | None, init: str) -> list[str]:
    """steps / tokens / final loss / repeats / mixture cells of one level."""
    if record is None:
        return ["none" if init == "random" else "—", "—", "—", "—"]
    history = record.get("loss_history") or []
    loss = f"{history[-1]['loss']:.3f}" if history else "—"
    truncation = record.get("corpus_tokens") or {}
    repeats = (f"{truncation['tokens']:,} tokens, {truncation['chunks']:,} chunks, {truncation['repeats']:,.1f} "
               "repeats" if truncation else "untruncated")
    members = ((record.get("mixture") or {}).get("members")) or {}
    mixture = ", ".join(f"{name} {m.get('probability', 0) * 100:.1f}%" for name, m in members.items()) or "—"
    return [f"{_count(record.get('steps'))} steps, {_count(record.get('tokens_seen'))} tokens", loss, repeats,
            mixture]


def models_table(levels: list[str], labels: dict[str, str], records: dict[str, dict[str, Any]]) -> list[str]:
    """One row per level with a finished run: P, M, and its pre-training (`records`: level -> a run.json)."""
    header = ["level", "model", "P (parameters)", "M (FLOPs/token)", "pre-training", "final loss",
              "corpus", "mixture"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for level in levels:
        record = records.get(level)
        if record is None:
            continue
        model = record.get("model") or {}
        cost = model.get("cost") or {}
        pretrain = pretrain_record(record)
        name = (pretrain or {}).get("model", {}).get("source") or model.get("variant") or model.get("source")
        if str(model.get("source", "")).startswith("ensemble:"):
            name = f"ensemble of {len((model.get('ensemble') or {}).get('members') or []) or '?'}"
        cells = [labels[level], str(name), _count(cost.get("params")), _count(cost.get("flops_per_token")),
                 *_pretraining(pretrain, str(model.get("init")))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def loss_curves(levels: list[str], labels: dict[str, str], records: dict[str, dict[str, Any]]
                ) -> dict[str, list[tuple[float, float]]]:
    """Training loss per step of each level's pre-training, when any level truncates the corpus (Figure 6)."""
    pretrains = {lv: pretrain_record(records[lv]) for lv in levels if lv in records}
    if not any(p and p.get("corpus_tokens") for p in pretrains.values()):
        return {}
    curves = {}
    for level, record in pretrains.items():
        if record is None:
            continue
        truncation = record.get("corpus_tokens") or {}
        label = labels[level] + (f" ({truncation['repeats']:,.0f} repeats reached)" if truncation else "")
        curves[label] = [(float(h["step"]), float(h["loss"])) for h in record.get("loss_history") or []]
    return curves
