"""Multi-task mixing rates (the T5 paper §3.5.2, Tables 11–12) as pure functions of the tasks' example counts.

The rules are those of `t5.data.utils.rate_num_examples` (= `seqio.mixing_rate_num_examples`): a task's rate is
its number of training examples n, clipped to `maximum` K when K is given (`if maximum: min(n, K)`), then,
when the temperature T is not 1, raised to 1/T; a seqio Mixture samples task i with probability
rate_i / Σ rate (`MixtureRegistry.add(..., default_rate=...)`, `Mixture.get_rate / total_rate`). T5's
"all_equal" mixture gives every task `default_rate=1.`. The paper's temperature rows use K = 2^21.

`--mixing` forms (`parse_mixing`):
  proportional     T5's published mixture weights (each task_defs `mixture_weight`), as `--mixture` always did
  proportional:K   min(n, K), n = training examples loaded for the task (Table 11's "examples-proportional, K")
  temperature:T    min(n, 2^21)^(1/T) (Table 11's "temperature-scaled, T"); temperature:T:K sets another K
  equal            1 for every task (Table 11's "equal")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from t5eval.errors import T5evalError

PAPER_TEMPERATURE_LIMIT = 2**21  # §3.5.2: "we use K = 2^21" with temperature scaling
FORMS = "equal | proportional | proportional:K | temperature:T[:K]"


@dataclass(frozen=True)
class Mixing:
    """One mixing strategy: kind ("proportional" | "equal"), K (None: no limit), T (1: none), and whether the
    count is T5's published weight (plain `proportional`) or the loaded training examples."""

    kind: str = "proportional"
    limit: int | None = None
    temperature: float = 1.0
    published_weights: bool = True

    def describe(self) -> str:
        """The `--mixing` text that gives this strategy."""
        if self.kind == "equal":
            return "equal"
        if self.temperature != 1.0:
            return f"temperature:{self.temperature:g}:{self.limit}"
        return "proportional" if self.published_weights else f"proportional:{self.limit}"


def _number(text: str, what: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise T5evalError(f"--mixing {spec}: {what} {text!r} is not a number; use {FORMS}") from None
    if value <= 0:
        raise T5evalError(f"--mixing {spec}: {what} must be positive; use {FORMS}")
    return value


def _limit(text: str, spec: str) -> int:
    value = _number(text, "K", spec)
    if value != int(value):
        raise T5evalError(f"--mixing {spec}: K must be a whole number of examples (e.g. 2097152 for 2^21)")
    return int(value)


def parse_mixing(spec: str) -> Mixing:
    """`--mixing` text -> Mixing; a bad form is a one-line error listing the forms."""
    parts = spec.strip().split(":")
    kind = parts[0]
    if kind == "equal" and len(parts) == 1:
        return Mixing("equal", published_weights=False)
    if kind == "proportional" and len(parts) == 1:
        return Mixing()
    if kind == "proportional" and len(parts) == 2:
        return Mixing("proportional", _limit(parts[1], spec), published_weights=False)
    if kind == "temperature" and len(parts) in (2, 3):
        limit = _limit(parts[2], spec) if len(parts) == 3 else PAPER_TEMPERATURE_LIMIT
        return Mixing("proportional", limit, _number(parts[1], "T", spec), published_weights=False)
    raise T5evalError(f"--mixing {spec!r} is not a mixing strategy; use {FORMS} (e.g. proportional:65536, "
                      "temperature:2)")


def rate_num_examples(n: float, maximum: int | None = None, temperature: float = 1.0) -> float:
    """T5's rate of a task with n examples: min(n, maximum) when a maximum is set, then ^(1/temperature)."""
    rate = float(n)
    if maximum:
        rate = float(min(rate, maximum))
    if temperature != 1.0:
        rate = rate ** (1.0 / temperature)
    return rate


def mixing_rates(mixing: Mixing, examples: dict[str, int], published: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Per task: {"examples": n, "rate": its rate, "probability": rate / Σ rate} in the given task order.

    `examples`: training examples loaded per task; `published`: T5's weight per task (plain `proportional`).
    """
    rates = {}
    for name, n in examples.items():
        if mixing.kind == "equal":
            rates[name] = 1.0
        elif mixing.published_weights:
            rates[name] = float(published[name])
        else:
            rates[name] = rate_num_examples(n, mixing.limit, mixing.temperature)
    total = sum(rates.values())
    if total <= 0:
        raise T5evalError("every task of the mixture has rate 0; nothing to train on")
    return {name: {"examples": examples[name], "rate": rate, "probability": rate / total}
            for name, rate in rates.items()}
