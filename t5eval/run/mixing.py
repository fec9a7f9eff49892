"""`--mixing` in a run: the mixture members' rates (`t5eval.train.mixing`) set on their training sources, printed
one line per task, and kept for run.json's `mixture` block."""

from __future__ import annotations

from t5eval.run.context import RunContext
from t5eval.train.mixing import mixing_rates, parse_mixing
from t5eval.train.stream import TrainSource


def apply_mixing(ctx: RunContext, sources: list[TrainSource]) -> None:
    """Set each source's weight to its rate under `--mixing`; log and record {task: examples, rate, probability}.

    A source's `weight` arrives as T5's published mixture weight (task_defs `mixture_weight`), which plain
    `proportional` keeps; the other forms count the examples the run loaded for the task.
    """
    mixing = parse_mixing(ctx.opts.mixing)
    rates = mixing_rates(mixing, {s.name: len(s.inputs) for s in sources}, {s.name: s.weight for s in sources})
    for source in sources:
        source.weight = rates[source.name]["rate"]
    ctx.log(f"mixture rates ({mixing.describe()}): " + ", ".join(
        f"{name} {r['probability']:.2%} ({r['examples']:,} examples, rate {r['rate']:.6g})" for name, r in rates.items()))
    ctx.model_info["mixture"] = {"mixing": mixing.describe(), "tasks": rates}
