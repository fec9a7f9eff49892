"""BLEU as T5's `metrics.bleu`: sacrebleu corpus BLEU, "intl" tokenization, "exp" smoothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sacrebleu
from sacrebleu.metrics import BLEU

from .common import check_lengths

#: The keyword arguments T5 passes to `sacrebleu.corpus_bleu` (unchanged since the first release).
BLEU_KWARGS: dict[str, Any] = {
    "smooth_method": "exp",
    "smooth_value": 0.0,
    "force": False,
    "lowercase": False,
    "tokenize": "intl",
    "use_effective_order": False,
}


def bleu(targets: Sequence[str], predictions: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU (already 0–100, key `bleu`) of detokenized, case-sensitive text, one reference each.

    The paper used SacreBLEU v1.3.0; the installed sacrebleu is recorded by `bleu_signature()`.
    """
    check_lengths(targets, predictions)
    for what, texts in (("target", targets), ("prediction", predictions)):
        bad = next((x for x in texts if not isinstance(x, str)), None)
        if bad is not None:
            raise ValueError(f"BLEU takes one reference string per {what}, got {bad!r}")
    score = sacrebleu.corpus_bleu(list(predictions), [list(targets)], **BLEU_KWARGS)
    return {"bleu": float(score.score)}


def bleu_signature() -> str:
    """sacrebleu's signature for T5's settings, e.g. `nrefs:1|case:mixed|eff:no|tok:intl|smooth:exp|version:2.6.0`.

    sacrebleu only knows the number of references after scoring, so one dummy sentence is scored.
    """
    metric = BLEU(
        smooth_method=BLEU_KWARGS["smooth_method"],
        smooth_value=BLEU_KWARGS["smooth_value"],
        force=BLEU_KWARGS["force"],
        lowercase=BLEU_KWARGS["lowercase"],
        tokenize=BLEU_KWARGS["tokenize"],
        effective_order=BLEU_KWARGS["use_effective_order"],
    )
    metric.corpus_score(["x"], [["x"]])
    return str(metric.get_signature().format())
