"""Golden tests of the pre-training objectives against facts read from t5 0.9.4 and the paper (issue 18)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import chisquare

from t5eval.errors import T5evalError
from t5eval.pretrain import noise
from t5eval.pretrain.objectives import EOS_ID, make_example, make_objective

V = 32100  # T5 vocabulary: 32000 pieces + 100 sentinels; <extra_id_0> = 32099


def reassemble(inputs: list[int], targets: list[int], vocab_size: int = V) -> list[int]:
    """Put each target span back where its sentinel sits in the inputs (test-side, independent)."""
    assert inputs[-1] == EOS_ID and targets[-1] == EOS_ID
    spans: dict[int, list[int]] = {}
    current = None
    for tok in targets[:-1]:
        if tok >= vocab_size - 100:
            current = tok
            spans[current] = []
        else:
            assert current is not None, "targets must start with a sentinel"
            spans[current].append(tok)
    out: list[int] = []
    for tok in inputs[:-1]:
        out.extend(spans[tok] if tok >= vocab_size - 100 else [tok])
    return out


def sentinels(ids: list[int]) -> list[int]:
    return [t for t in ids if t >= V - 100]


# --- random_spans_helper and the counts (facts from the issue / official code) -----------------------

def test_random_spans_helper_paper_values() -> None:
    assert noise.random_spans_helper(512, 0.15, 3.0, 1, 1) == (568, 114)
    assert noise.random_spans_helper(128, 0.15, 3.0, 1, 1) == (141, 29)


def test_counts_round_half_to_even_and_clip() -> None:
    # 0.25 and 0.5 are exact in binary, so these products are exact halves
    assert noise.span_counts(10, 0.25, 1.0) == (2, 2)  # round(2.5) = 2, not 3
    assert noise.span_counts(6, 0.25, 1.0) == (2, 2)  # round(1.5) = 2
    assert noise.span_counts(40, 0.25, 4.0) == (10, 2)  # spans: round(10 / 4 = 2.5) = 2
    assert noise.span_counts(28, 0.25, 2.0) == (7, 4)  # spans: round(3.5) = 4
    assert noise.span_counts(8, 0.25, 4.0) == (2, 1)  # spans: round(0.5) = 0 -> at least 1
    assert noise.span_counts(4, 0.01, 3.0) == (1, 1)  # round(0.04) = 0 -> at least one noise token
    assert noise.span_counts(4, 0.99, 3.0) == (3, 1)  # round(3.96) = 4 -> at most length - 1
    assert noise.span_counts(568, 0.15, 3.0) == (85, 28)  # round(85.2), round(28.33)
    assert noise.span_counts(141, 0.15, 3.0) == (21, 7)  # round(21.15), round(7.0): 120 + 7 + 1 = 128 inputs


# --- sentinel transforms on a hand-checked case ----------------------------------------------------

def test_unique_sentinels_hand_checked() -> None:
    tokens = np.array([11, 12, 13, 14, 15, 16, 17, 18])
    mask = np.array([False, False, True, True, False, True, False, False])
    assert noise.noise_span_to_unique_sentinel(tokens, mask, 100).tolist() == [11, 12, 99, 15, 98, 17, 18]
    assert noise.nonnoise_span_to_unique_sentinel(tokens, mask, 100).tolist() == [99, 13, 14, 98, 16, 97]
    assert noise.drop_noise_tokens(tokens, mask).tolist() == [11, 12, 15, 17, 18]
    assert noise.drop_nonnoise_tokens(tokens, mask).tolist() == [13, 14, 16]
    assert noise.noise_token_to_sentinel(tokens, mask, 100).tolist() == [11, 12, 99, 99, 15, 99, 17, 18]


# --- span corruption on full chunks ------------------------------------------------------------------

@pytest.mark.parametrize(("inputs_length", "chunk", "targets", "spans"), [(512, 568, 114, 28), (128, 141, 29, 7)])
def test_span_corruption_full_chunk(inputs_length: int, chunk: int, targets: int, spans: int) -> None:
    obj = make_objective("span_corruption", inputs_length=inputs_length)
    assert (obj.tokens_per_chunk, obj.targets_length) == (chunk, targets)
    raw = np.arange(5, 5 + chunk)  # distinct ids, no sentinel among them
    for seed in range(20):
        inputs, tgt = make_example(obj, raw, np.random.default_rng(seed))
        assert (len(inputs), len(tgt)) == (inputs_length, targets)
        assert sentinels(inputs) == sentinels(tgt) == list(range(32099, 32099 - spans, -1))
        assert inputs[0] == raw[0]  # the first token is never noise
        assert tgt[0] == 32099  # targets open with the first sentinel
        assert reassemble(inputs, tgt) == raw.tolist()


def test_span_mask_structure() -> None:
    rng = np.random.default_rng(3)
    for length in (2, 3, 7, 50, 141, 568):
        mask = noise.random_spans_noise_mask(length, 0.15, rng, 3.0)
        num_noise, num_spans = noise.span_counts(length, 0.15, 3.0)
        runs = [k for k, _ in itertools.groupby(mask.tolist())]
        assert not mask[0] and mask[-1]
        assert int(mask.sum()) == num_noise
        assert runs.count(True) == num_spans


def test_span_mask_length_one_is_not_noise() -> None:
    assert noise.random_spans_noise_mask(1, 0.15, np.random.default_rng(0)).tolist() == [False]


def test_segmentations_are_uniform() -> None:
    """Length 10, 3 noise tokens in 2 spans: every valid mask (enumerated here) equally likely."""
    length, density, mean = 10, 0.3, 1.5
    assert noise.span_counts(length, density, mean) == (3, 2)
    valid = set()
    for bits in itertools.product([False, True], repeat=length):
        runs = [k for k, _ in itertools.groupby(bits)]
        if not bits[0] and bits[-1] and sum(bits) == 3 and runs.count(True) == 2:
            valid.add(bits)
    assert len(valid) == 12  # 2 ways to split 3 noise tokens × 6 ways to split 7 non-noise tokens
    counts = dict.fromkeys(valid, 0)
    rng = np.random.default_rng(12345)
    n = 12000
    for _ in range(n):
        counts[tuple(noise.random_spans_noise_mask(length, density, rng, mean).tolist())] += 1
    observed = list(counts.values())
    assert sum(observed) == n  # nothing outside the enumerated set
    assert chisquare(observed).pvalue > 1e-3
    assert max(abs(c - n / 12) for c in observed) < 5 * np.sqrt(n / 12)


def test_random_segmentation_sums_and_uniform() -> None:
    rng = np.random.default_rng(0)
    seen: dict[tuple[int, ...], int] = {}
    for _ in range(6000):
        seg = noise.random_segmentation(5, 3, rng)
        assert seg.sum() == 5 and (seg > 0).all()
        seen[tuple(seg.tolist())] = seen.get(tuple(seg.tolist()), 0) + 1
    assert set(seen) == {(1, 1, 3), (1, 3, 1), (3, 1, 1), (1, 2, 2), (2, 1, 2), (2, 2, 1)}
    assert chisquare(list(seen.values())).pvalue > 1e-3


def test_short_tail_chunk() -> None:
    obj = make_objective("span_corruption")
    raw = np.arange(5, 25)  # 20 tokens: round(3.0) = 3 noise tokens, 1 span
    inputs, targets = make_example(obj, raw, np.random.default_rng(1))
    assert len(inputs) == 20 - 3 + 1 + 1 and len(targets) == 3 + 1 + 1
    assert reassemble(inputs, targets) == raw.tolist()


# --- other objectives ---------------------------------------------------------------------------------

def test_prefix_lm_splits_uniformly() -> None:
    obj = make_objective("prefix_lm", inputs_length=6)
    assert obj.tokens_per_chunk == 5
    raw = np.array([10, 11, 12, 13, 14])
    counts = dict.fromkeys(range(1, 5), 0)
    rng = np.random.default_rng(0)
    for _ in range(4000):
        inputs, targets = make_example(obj, raw, rng)
        assert inputs[:-1] + targets[:-1] == raw.tolist()
        counts[len(inputs) - 1] += 1
    assert chisquare(list(counts.values())).pvalue > 1e-3  # prefix length uniform over 1..4


def test_bert_mlm_paper_split_and_bert_split() -> None:
    raw = np.full(200_000, 7)
    for keep, expect in ((0.0, (0.9, 0.1, 0.0)), (0.1, (0.8, 0.1, 0.1))):
        obj = make_objective("bert_mlm", mlm_keep_prob=keep)
        inputs, targets = make_example(obj, raw, np.random.default_rng(0))
        assert targets == [*raw.tolist(), EOS_ID]
        ids = np.array(inputs[:-1])
        changed = ids != 7
        masked = ids == 32099
        # unchanged noise tokens are invisible; infer them from the corrupted count
        corrupted = changed.sum()
        noise_tokens = corrupted / (1 - expect[2])
        assert abs(noise_tokens / len(raw) - 0.15) < 0.005
        assert abs(masked.sum() / noise_tokens - expect[0]) < 0.01
        assert (ids[changed & ~masked] >= 3).all()


def test_mass_and_deshuffle_and_iid() -> None:
    raw = np.arange(100, 400)
    rng = np.random.default_rng(5)
    inputs, targets = make_example(make_objective("mass"), raw, rng)
    assert targets[:-1] == raw.tolist()
    assert all(i in (r, 32099) for i, r in zip(inputs[:-1], raw, strict=True)) and 32099 in inputs
    inputs, targets = make_example(make_objective("deshuffle"), raw, rng)
    assert sorted(inputs[:-1]) == raw.tolist() and inputs[:-1] != raw.tolist() and targets[:-1] == raw.tolist()
    inputs, targets = make_example(make_objective("iid_drop"), raw, rng)
    assert sorted(inputs[:-1] + targets[:-1]) == raw.tolist()
    assert inputs[:-1] == sorted(inputs[:-1]) and targets[:-1] == sorted(targets[:-1])
    starts = {"nonnoise": 0, "noise": 0}
    for seed in range(60):
        inputs, targets = make_example(make_objective("iid_replace_spans"), raw, np.random.default_rng(seed))
        assert sentinels(inputs) == list(range(32099, 32099 - len(sentinels(inputs)), -1))
        if inputs[0] >= V - 100:  # token 0 was noise: the targets open with it, not with a sentinel
            starts["noise"] += 1
            assert targets[0] == raw[0]
        else:
            starts["nonnoise"] += 1
            assert reassemble(inputs, targets) == raw.tolist()
    assert starts["noise"] > 0 and starts["nonnoise"] > 0


# --- bad settings -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"name": "span_corrupt"}, "did you mean span_corruption"),
    ({"name": "span_corruption", "noise_density": 0.0}, "strictly between 0 and 1"),
    ({"name": "span_corruption", "noise_density": 1.0}, "strictly between 0 and 1"),
    ({"name": "span_corruption", "targets_length": 113}, "--targets-length 114"),
    ({"name": "span_corruption", "inputs_length": 128, "targets_length": 28}, "--targets-length 29"),
    ({"name": "prefix_lm", "noise_density": 0.5}, "does not apply to prefix_lm"),
])
def test_bad_settings_one_line(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(T5evalError) as err:
        make_objective(**kwargs)  # type: ignore[arg-type]
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_targets_length_at_helper_value_is_fine() -> None:
    assert make_objective("span_corruption", targets_length=114).targets_length == 114
