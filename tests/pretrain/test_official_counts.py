"""Issue 26 items 1–3: span counts in float32 as the official TF code, refused settings, per-objective concat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from t5eval import cli
from t5eval.errors import T5evalError
from t5eval.pretrain import noise
from t5eval.pretrain.job import PretrainOptions, build_stream, chunking_record
from t5eval.pretrain.objectives import make_objective
from t5eval.tokenizer import T5Tokenizer


# Official (t5 `random_spans_noise_mask`): num_noise = to_int(tf.round(to_float(length) * noise_density)); the
# Python float density becomes a float32 tensor, so the product is float32(L) * float32(d) rounded to float32,
# then tf.round (half to even). num_spans = to_int(tf.round(to_float(num_noise) / mean)), float32 too.
# float32(0.15) = 0.1500000059604644775390625 (float64 0.15 is 0.1499999999999999944...).
@pytest.mark.parametrize(("length", "density", "mean", "expected"), [
    # 190 × 0.1500000059604645 = 28.50000113...; float32 neighbours of 28.5 are 1.9073e-6 apart, so the
    # product rounds to 28.500001907 (0.77e-6 away, vs 1.13e-6 to 28.5) -> tf.round 29; 29 / 3 = 9.67 -> 10.
    # (float64: 190 × 0.15 = 28.5 exactly after rounding -> half to even 28, then 28 / 3 = 9.33 -> 9.)
    # The figure from running the official TF code: 29 noise tokens in 10 spans.
    (190, 0.15, 3.0, (29, 10)),
    # 350 × 0.1500000059604645 = 52.50000208...; float32 spacing at 52.5 is 3.8147e-6: candidates 52.5 and
    # 52.5000038; 2.09e-6 from 52.5 vs 1.72e-6 from 52.5000038 -> 52.5000038 -> 53;
    # 53 / 3 = 17.67 -> 18. (float64: 52.5 -> 52, 52 / 3 = 17.33 -> 17.)
    (350, 0.15, 3.0, (53, 18)),
    # 670 × 0.1500000059604645 = 100.50000399...; spacing at 100.5 is 7.63e-6: 3.99e-6 from 100.5 vs 3.64e-6
    # from 100.5000076 -> 101; 101 / 2 = 50.5 -> half to even 50. (float64: 100.5 -> 100, 100 / 2 = 50.)
    (670, 0.15, 2.0, (101, 50)),
    # Cases where both agree, with the clamps: round(1.5) = 2 (half to even), 2 / 1 = 2 spans.
    (10, 0.15, 1.0, (2, 2)),
    (4, 0.01, 3.0, (1, 1)),  # round(0.04) = 0 -> at least 1 noise token; round(1/3) = 0 -> at least 1 span
    (4, 0.99, 3.0, (3, 1)),  # round(3.96) = 4 -> at most length − 1 = 3; round(1.0) = 1
    (1, 0.15, 3.0, (1, 1)),  # length below 2 counts as 2: round(0.3) = 0 -> 1
])
def test_span_counts_float32_as_official(length: int, density: float, mean: float,
                                         expected: tuple[int, int]) -> None:
    assert noise.span_counts(length, density, mean) == expected


def test_mask_at_190_has_29_noise_tokens_in_10_spans() -> None:
    mask = noise.random_spans_noise_mask(190, 0.15, np.random.default_rng(0), 3.0)
    runs = int(np.sum(mask[1:] & ~mask[:-1]) + mask[0])
    assert (int(mask.sum()), runs) == (29, 10)


def test_settings_the_official_code_refuses_are_one_line_errors() -> None:
    # length 10, density 0.9, mean 1: round(9.0) = 9 noise tokens (clamped to ≤ 9), 9 spans, 1 non-noise token:
    # 9 non-empty non-noise segments cannot be cut from 1 token (official: InvalidArgumentError).
    with pytest.raises(T5evalError, match="9 noise spans but only 1 non-noise tokens in a 10-token"):
        noise.check_span_length(10, 0.9, 1.0)
    with pytest.raises(T5evalError, match="random_spans_noise_mask refuses"):
        noise.random_spans_noise_mask(10, 0.9, np.random.default_rng(0), 1.0)
    # at argument time: the first failing chunk length is 3 (round(2.7) = 3 -> clamp 2 noise, 2 spans, 1 left)
    with pytest.raises(T5evalError, match="in a 3-token chunk"):
        make_objective("span_corruption", inputs_length=16, noise_density=0.9, mean_noise_span_length=1.0)
    noise.check_span_settings(568, 0.15, 3.0)  # the paper's setting passes at every length up to 568
    noise.check_span_settings(568, 0.5, 3.0)  # Table 6's 50% too


def test_cli_refuses_before_reading_the_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["pretrain", "--model", "tiny", "--corpus", str(tmp_path / "absent.txt"), "--noise-density",
                  "0.9", "--mean-span-length", "1", "--inputs-length", "16", "--export", "1",
                  str(tmp_path / "x.jsonl")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "non-noise tokens" in err[0] and "absent.txt" not in err[0]


@pytest.mark.parametrize(("objective", "docs_per_group"), [
    ("prefix_lm", 1), ("deshuffle", 1), ("span_corruption", 128), ("iid_drop", 128), ("bert_mlm", 128)])
def test_concat_default_follows_the_official_gin(tmp_path: Path, vocab_path: Path, objective: str,
                                                 docs_per_group: int) -> None:
    # one 600-token document ("word" × 600: one piece each) and 299 short ones (under 12 pieces each). Each
    # document alone (prefix_lm.gin / all_permute.gin: no reduce_concat_tokens): the long one gives 2 chunks
    # (511 or 568 tokens + the rest), each short one 1: 301. In groups of 128 documents: 3 groups of at most
    # 600 + 127 × 12 = 2,124 tokens, so at most 3 × 5 = 15 chunks.
    corpus = tmp_path / "docs.txt"
    docs = [" ".join(["word"] * 600), *(f"Document number {i} is short." for i in range(299))]
    corpus.write_text("\n\n".join(docs), encoding="utf-8")
    opts = PretrainOptions(model="tiny", corpus=str(corpus), objective=objective, inputs_length=512)
    stream, info = build_stream(opts, T5Tokenizer(vocab_path))
    assert info.documents == 300
    if docs_per_group == 1:
        assert info.chunks == 301
    else:
        assert info.chunks <= 15
    assert chunking_record(stream.objective, None)["reduce_concat_tokens_docs"] == docs_per_group
    assert chunking_record(stream.objective, 0)["reduce_concat_tokens_docs"] == "all (whole corpus)"
