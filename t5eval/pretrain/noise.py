"""The pieces of T5's `denoise` preprocessor (t5 0.9.4, `t5/data/preprocessors.py`), in numpy.

Noise masks choose which tokens of a chunk are corrupted; transforms turn (tokens, mask) into the
inputs or the targets. All take token ids as a 1-D int array and return new arrays; randomness
comes only from the `numpy.random.Generator` passed in, so an example is a pure function of its
chunk and its generator's seed. The random streams differ from TensorFlow's (stateless ops), the
distributions are the same (uniform over segmentations, i.i.d. Bernoulli, uniform prefix length).
"""

from __future__ import annotations

import numpy as np

from t5eval.errors import T5evalError

Tokens = np.ndarray  # (L,) int64
Mask = np.ndarray  # (L,) bool, True = noise


def random_spans_helper(inputs_length: int, noise_density: float, mean_noise_span_length: float,
                        extra_tokens_per_span_inputs: int = 1,
                        extra_tokens_per_span_targets: int = 1) -> tuple[int, int]:
    """(tokens per chunk, targets length) so span corruption fills `inputs_length` exactly, EOS included.

    As T5: grow the raw chunk while its corrupted inputs (non-noise tokens + one sentinel per noise
    span + EOS) still fit; the targets hold the noise tokens + one sentinel per span + EOS. Python's
    `round` (half to even) as in the official helper. 512, 0.15, 3.0 -> (568, 114).
    """

    def lengths(tokens_length: int) -> tuple[int, int]:
        num_noise = round(tokens_length * noise_density)
        num_spans = round(num_noise / mean_noise_span_length)
        return (tokens_length - num_noise + num_spans * extra_tokens_per_span_inputs + 1,
                num_noise + num_spans * extra_tokens_per_span_targets + 1)

    tokens_length = inputs_length - 1
    while lengths(tokens_length + 1)[0] <= inputs_length:
        tokens_length += 1
    _, targets_length = lengths(tokens_length)
    if noise_density == 0.5 and targets_length > inputs_length:  # T5's "nice round number" tweak
        tokens_length -= 1
        targets_length -= 1
    return tokens_length, targets_length


def random_segmentation(num_items: int, num_segments: int, rng: np.random.Generator) -> np.ndarray:
    """Split `num_items` items into `num_segments` non-empty segments, all splits equally likely.

    As T5's `_random_segmentation`: shuffle a 0/1 vector with `num_segments - 1` ones over the
    `num_items - 1` gaps between items; a one starts a new segment. Returns (num_segments,) lengths.
    """
    starts = np.zeros(num_items, dtype=np.int64)
    gaps = (np.arange(num_items - 1) < num_segments - 1).astype(np.int64)
    starts[1:] = rng.permutation(gaps)  # (num_items,) 1 where a segment starts (not item 0)
    segment_id = np.cumsum(starts)
    return np.bincount(segment_id, minlength=num_segments)


def span_counts(length: int, noise_density: float, mean_noise_span_length: float) -> tuple[int, int]:
    """(noise tokens, noise spans) of a chunk of `length` tokens, as `random_spans_noise_mask` picks them.

    In float32 as the official TensorFlow code: num_noise = tf.round(float32(length) × float32(density))
    (half to even) clipped to [1, length − 1]; num_spans = max(tf.round(float32(num_noise) /
    float32(mean span length)), 1). Lengths below 2 count as 2. float32 matters: at 190 × 0.15 the
    float32 product is 28.500002 (29 noise tokens, 10 spans), the float64 one 28.5 (28, 9).
    """
    length = max(length, 2)
    product = np.float32(length) * np.float32(noise_density)  # float32 × float32 -> float32, as TF
    num_noise = min(max(int(np.round(product)), 1), length - 1)  # np.round: half to even, as tf.round
    ratio = np.float32(num_noise) / np.float32(mean_noise_span_length)
    num_spans = max(int(np.round(ratio)), 1)
    return num_noise, num_spans


def check_span_settings(max_length: int, noise_density: float, mean_noise_span_length: float) -> None:
    """Refuse (one line) settings the official `random_spans_noise_mask` cannot mask at some chunk length.

    Every chunk of 1..`max_length` tokens can occur (the last chunk of a group is shorter). The official
    code needs num_spans ≤ non-noise tokens (each non-noise segment non-empty); otherwise TensorFlow
    raises InvalidArgumentError (e.g. length 10, density 0.9, mean span 1: 9 spans, 1 non-noise token).
    """
    for length in range(2, max(max_length, 2) + 1):
        check_span_length(length, noise_density, mean_noise_span_length)


def check_span_length(length: int, noise_density: float, mean_noise_span_length: float) -> None:
    """One-line `T5evalError` when a `length`-token chunk has more noise spans than non-noise tokens."""
    num_noise, num_spans = span_counts(length, noise_density, mean_noise_span_length)
    if num_spans > max(length, 2) - num_noise:
        raise T5evalError(
            f"--noise-density {noise_density} with --mean-span-length {mean_noise_span_length} gives "
            f"{num_spans} noise spans but only {max(length, 2) - num_noise} non-noise tokens in a {length}-token "
            "chunk, which the official random_spans_noise_mask refuses; lower the density or raise the "
            "mean span length")


def random_spans_noise_mask(length: int, noise_density: float, rng: np.random.Generator,
                            mean_noise_span_length: float = 3.0) -> Mask:
    """T5's span mask: non-noise and noise spans alternate, non-noise first (token 0 is never noise).

    The noise tokens and the non-noise tokens are each split into `num_spans` non-empty segments
    uniformly at random (noise segmentation drawn first). No random roll (T5's default).
    """
    orig_length = length
    length = max(length, 2)
    num_noise, num_spans = span_counts(length, noise_density, mean_noise_span_length)
    check_span_length(length, noise_density, mean_noise_span_length)  # the official code raises too
    noise_lengths = random_segmentation(num_noise, num_spans, rng)  # (num_spans,)
    nonnoise_lengths = random_segmentation(length - num_noise, num_spans, rng)  # (num_spans,)
    interleaved = np.stack([nonnoise_lengths, noise_lengths], axis=1).reshape(-1)  # (2 × num_spans,)
    span_index = np.repeat(np.arange(2 * num_spans), interleaved)  # (length,)
    return (span_index % 2 == 1)[:orig_length]


def iid_noise_mask(length: int, noise_density: float, rng: np.random.Generator) -> Mask:
    """Each token is noise independently with probability `noise_density` (T5's `iid_noise_mask`)."""
    return rng.random(length) < noise_density


def random_prefix_noise_mask(length: int, rng: np.random.Generator) -> Mask:
    """The first n tokens are noise, n uniform in [1, length − 1] (T5's `random_prefix_noise_mask`).

    A 1-token chunk gives n = 0 (as T5: `minval = min(length - 1, 1)`).
    """
    max_input_tokens = length - 1
    low = min(max_input_tokens, 1)
    num_input_tokens = int(rng.integers(low, max_input_tokens + 1))
    return np.arange(length) < num_input_tokens


def noise_span_to_unique_sentinel(tokens: Tokens, mask: Mask, vocab_size: int) -> Tokens:
    """Replace each run of noise tokens by one sentinel: vocab_size − 1, then − 2, … in order of appearance."""
    prev_noise = np.concatenate([[False], mask[:-1]])
    first = mask & ~prev_noise
    sentinels = vocab_size - np.cumsum(first)  # first run: vocab_size - 1
    out = np.where(first, sentinels, tokens)
    return out[~(mask & prev_noise)]


def nonnoise_span_to_unique_sentinel(tokens: Tokens, mask: Mask, vocab_size: int) -> Tokens:
    """The targets of span corruption: each run of non-noise tokens becomes one sentinel."""
    return noise_span_to_unique_sentinel(tokens, ~mask, vocab_size)


def drop_noise_tokens(tokens: Tokens, mask: Mask) -> Tokens:
    """Keep the non-noise tokens."""
    return tokens[~mask]


def drop_nonnoise_tokens(tokens: Tokens, mask: Mask) -> Tokens:
    """Keep the noise tokens."""
    return tokens[mask]


def noise_token_to_sentinel(tokens: Tokens, mask: Mask, vocab_size: int) -> Tokens:
    """Every noise token becomes the one mask token (T5: `sentinel_id` = vocab_size − 1, `<extra_id_0>`)."""
    return np.where(mask, vocab_size - 1, tokens)


def noise_token_to_random_or_mask(tokens: Tokens, mask: Mask, vocab_size: int, rng: np.random.Generator,
                                  random_prob: float, keep_prob: float,
                                  num_reserved_tokens: int = 3) -> Tokens:
    """BERT-style corruption of each noise token: random token w.p. `random_prob`, unchanged w.p. `keep_prob`,
    else the mask token.

    Random tokens are uniform over [num_reserved_tokens, vocab_size) as T5's
    `noise_token_to_random_token` (pad, EOS, unk reserved). With keep_prob = 0 and random_prob = 0.1
    this is T5's `noise_token_to_random_token_or_sentinel` (the paper's 90% mask / 10% random).
    """
    draw = rng.random(len(tokens))  # (L,) one uniform per token decides its fate
    random_ids = rng.integers(num_reserved_tokens, vocab_size, size=len(tokens))  # (L,)
    out = np.where(mask, vocab_size - 1, tokens)
    out = np.where(mask & (draw < random_prob), random_ids, out)
    return np.where(mask & (draw >= random_prob) & (draw < random_prob + keep_prob), tokens, out)


def permute_noise_tokens(tokens: Tokens, mask: Mask, rng: np.random.Generator) -> Tokens:
    """Shuffle the noise tokens among the noise positions; non-noise tokens stay (T5's `permute_noise_tokens`)."""
    out = tokens.copy()
    out[mask] = rng.permutation(tokens[mask])
    return out
