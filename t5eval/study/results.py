"""The computed content of a study report (`StudyResults`) and the number format, shared by `report` and
`paper_rows`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from t5eval.report.loading import Run
from t5eval.study.schema import Study
from t5eval.study.stats import Delta


@dataclass
class StudyResults:
    """Everything the report shows, computed once."""

    study: Study
    record: dict[str, Any]
    levels: list[str]  # baseline first
    tasks: list[str]  # run.json task names
    runs: dict[tuple[str, int], Run]  # (level, seed) -> finished run
    missing: list[str]  # cells not finished
    parts: dict[tuple[str, int], list[Run]] = field(default_factory=dict)  # the run folders of each (level, seed)
    scores: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # level -> column -> per-seed
    deltas: dict[str, dict[str, Delta]] = field(default_factory=dict)  # level -> column -> Δ


def fmt_score(value: float | None, digits: int = 2) -> str:
    """A score as the report prints it; — for a missing or non-finite value."""
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"
