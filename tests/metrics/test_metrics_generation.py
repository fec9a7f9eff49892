"""ROUGE (CNN/DM) and BLEU (WMT) as T5 computes them."""

from __future__ import annotations

import numpy as np
import pytest
import sacrebleu
from rouge_score import rouge_scorer

from t5eval.metrics import bleu, bleu_signature, rouge, rouge_settings
from t5eval.metrics.rouge import prepare_summary

TARGET = "the cat sat . the dog ran ."
PREDICTION = "the dog ran . the cat sat ."


def test_prepare_summary_splits_sentences() -> None:
    assert prepare_summary(TARGET) == "the cat sat .\nthe dog ran ."


def test_prepared_summaries_change_rouge_lsum() -> None:
    # Prepared: sentences [the cat sat] [the dog ran] on both sides, in swapped order. The
    # summary-level LCS finds each reference sentence whole in one predicted sentence: 6 of 6
    # tokens -> P = R = F = 1. rouge1 is 1 either way.
    result = rouge([TARGET], [PREDICTION])
    assert result["rougeLsum"] == pytest.approx(100.0)
    assert result["rouge1"] == pytest.approx(100.0)
    # Unprepared, each text is one sentence; the LCS of "the cat sat the dog ran" and
    # "the dog ran the cat sat" is 3 tokens ("the cat sat") -> P = R = 3/6 -> F = 0.5.
    raw = rouge_scorer.RougeScorer(["rougeLsum"]).score(target=TARGET, prediction=PREDICTION)
    assert raw["rougeLsum"].fmeasure == pytest.approx(0.5)


def test_rouge_bootstrap_is_seeded_repeatable_and_close_to_mean() -> None:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(12)]
    targets = [" ".join(rng.choice(words, 10)) for _ in range(30)]
    predictions = [" ".join(rng.choice(words, 8)) for _ in range(30)]
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = rouge(targets, predictions)
    after = np.random.get_state()[1]
    assert np.array_equal(before, after)  # the global numpy RNG is left as it was
    assert rouge(targets, predictions) == first  # same seed -> same bootstrap medians
    assert rouge(targets, predictions, seed=1) != first  # the seed is really what drives it
    for key in ("rouge1", "rouge2", "rougeLsum"):
        assert abs(first[key] - first[f"{key}_mean"]) < 1.0


def test_rouge_mean_by_hand() -> None:
    # ("a b", "a b") -> unigram F 1; ("a b", "a c") -> P 1/2, R 1/2, F 1/2. Mean 0.75.
    result = rouge(["a b", "a b"], ["a b", "a c"])
    assert result["rouge1_mean"] == pytest.approx(75.0)
    assert rouge_settings()["seed"] == 0


def test_bleu_matches_sacrebleu_with_t5_settings() -> None:
    refs = ["The quick brown fox jumps over the lazy dog .", "Ein Haus am See , sagte sie ."]
    hyps = ["The quick brown fox jumped over a lazy dog .", "Ein Haus am See sagte sie ."]
    direct = sacrebleu.corpus_bleu(
        hyps,
        [refs],
        smooth_method="exp",
        smooth_value=0.0,
        force=False,
        lowercase=False,
        tokenize="intl",
        use_effective_order=False,
    ).score
    assert bleu(refs, hyps) == {"bleu": pytest.approx(direct)}


def test_bleu_uses_intl_tokenization() -> None:
    # "intl" splits Unicode punctuation (« ») from words, so the unspaced reference tokenizes to
    # exactly the spaced hypothesis: all n-gram precisions 1, no brevity penalty -> BLEU 100.
    # "13a" only splits ASCII punctuation: "«Guten" and "Morgen»" stay whole -> below 100.
    ref = ["Sie sagte «Guten Morgen» zu mir und ging dann nach Hause."]
    hyp = ["Sie sagte « Guten Morgen » zu mir und ging dann nach Hause ."]
    assert bleu(ref, hyp)["bleu"] == pytest.approx(100.0)
    assert sacrebleu.corpus_bleu(hyp, [ref], tokenize="13a").score < 99.0


def test_bleu_signature() -> None:
    signature = bleu_signature()
    assert "tok:intl" in signature
    assert "smooth:exp" in signature
    assert "case:mixed" in signature
