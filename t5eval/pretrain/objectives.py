"""The paper's pre-training objectives (Tables 3–7) as pure functions: chunk ids + a seeded Generator -> example.

Each objective maps one chunk of token ids (no EOS) to (inputs, targets), both ending in EOS, with
T5's `denoise` pieces (`noise.py`). Chunk sizes follow the official preprocessors:
`span_corruption` cuts chunks of `random_spans_helper(inputs_length, …)[0]` tokens (568 for 512)
so the corrupted inputs are exactly `inputs_length` long; every other objective cuts
`inputs_length − 1` tokens (`split_tokens_to_inputs_length`: room for EOS).

| name | T5 / paper | inputs | targets |
|---|---|---|---|
| span_corruption | `span_corruption`, the baseline (Table 5) | spans -> unique sentinels | sentinels + spans |
| iid_replace_spans | `iid_denoising`, Table 4 "Replace corrupted spans" | noise runs -> sentinels | sentinels + noise |
| iid_drop | Table 4 "Drop corrupted tokens" | noise dropped | the dropped tokens |
| bert_mlm | Table 3/4 "BERT-style" | noise -> mask (or random / unchanged) | the original chunk |
| mass | Table 4 "MASS-style" | noise -> mask token | the original chunk |
| deshuffle | Table 3 "Deshuffling" | every token shuffled | the original chunk |
| prefix_lm | `prefix_lm`, Table 3 "Prefix language modeling" | a prefix of 1..L−1 tokens | the rest |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from t5eval.errors import T5evalError, did_you_mean
from t5eval.pretrain import noise

EOS_ID = 1
Pair = tuple[np.ndarray, np.ndarray]  # (inputs, targets) without EOS


@dataclass(frozen=True)
class Objective:
    """One objective's settings (everything that shapes its examples; recorded in the run record)."""

    name: str
    inputs_length: int = 512
    noise_density: float = 0.15
    mean_noise_span_length: float = 3.0
    vocab_size: int = 32100  # sentinels count down from vocab_size − 1 (32099 = <extra_id_0>)
    mlm_random_prob: float = 0.1  # bert_mlm: share of noise tokens made random (paper §3.3.1: 10%)
    mlm_keep_prob: float = 0.0  # bert_mlm: share left unchanged (paper: 0; BERT's original: 0.1)

    @property
    def tokens_per_chunk(self) -> int:
        """Raw tokens per chunk: 568 for span corruption at 512 inputs, else inputs_length − 1."""
        if self.name == "span_corruption":
            return noise.random_spans_helper(self.inputs_length, self.noise_density,
                                             self.mean_noise_span_length)[0]
        return self.inputs_length - 1

    @property
    def targets_length(self) -> int:
        """Targets length a full chunk needs (EOS included): the helper's for span corruption (114)."""
        if self.name == "span_corruption":
            return noise.random_spans_helper(self.inputs_length, self.noise_density,
                                             self.mean_noise_span_length)[1]
        return self.inputs_length

    def record(self) -> dict[str, object]:
        """The settings plus derived chunk/targets lengths, as the run record stores them."""
        return {**asdict(self), "tokens_per_chunk": self.tokens_per_chunk, "targets_length": self.targets_length}


def _span_corruption(tokens: np.ndarray, rng: np.random.Generator, obj: Objective) -> Pair:
    mask = noise.random_spans_noise_mask(len(tokens), obj.noise_density, rng, obj.mean_noise_span_length)
    return (noise.noise_span_to_unique_sentinel(tokens, mask, obj.vocab_size),
            noise.nonnoise_span_to_unique_sentinel(tokens, mask, obj.vocab_size))


def _iid_replace_spans(tokens: np.ndarray, rng: np.random.Generator, obj: Objective) -> Pair:
    mask = noise.iid_noise_mask(len(tokens), obj.noise_density, rng)
    return (noise.noise_span_to_unique_sentinel(tokens, mask, obj.vocab_size),
            noise.nonnoise_span_to_unique_sentinel(tokens, mask, obj.vocab_size))


def _iid_drop(tokens: np.ndarray, rng: np.random.Generator, obj: Objective) -> Pair:
    mask = noise.iid_noise_mask(len(tokens), obj.noise_density, rng)
    return noise.drop_noise_tokens(tokens, mask), noise.drop_nonnoise_tokens(tokens, mask)


def _bert_mlm(tokens: np.ndarray, rng: np.random.Generator, obj: Objective) -> Pair:
    mask = noise.iid_noise_mask(len(tokens), obj.noise_density, rng)
    corrupted = noise.noise_token_to_random_or_mask(tokens, mask, obj.vocab_size, rng, obj.mlm_random_prob,
                                                    obj.mlm_keep_prob)
    return corrupted, tokens


def _mass(tokens: np.ndarray, rng: np.random.Generator, obj: Objective) -> Pair:
    mask = noise.iid_noise_mask(len(tokens), obj.noise_density, rng)
    return noise.noise_token_to_sentinel(tokens, mask, obj.vocab_size), tokens


def _deshuffle(tokens: np.ndarray, rng: np.random.Generator, obj: Objective) -> Pair:
    return noise.permute_noise_tokens(tokens, np.ones(len(tokens), dtype=bool), rng), tokens


def _prefix_lm(tokens: np.ndarray, rng: np.random.Generator, obj: Objective) -> Pair:
    prefix = noise.random_prefix_noise_mask(len(tokens), rng)  # True on the prefix
    return noise.drop_nonnoise_tokens(tokens, prefix), noise.drop_noise_tokens(tokens, prefix)


OBJECTIVES: dict[str, Callable[[np.ndarray, np.random.Generator, Objective], Pair]] = {
    "span_corruption": _span_corruption,
    "iid_replace_spans": _iid_replace_spans,
    "iid_drop": _iid_drop,
    "bert_mlm": _bert_mlm,
    "mass": _mass,
    "deshuffle": _deshuffle,
    "prefix_lm": _prefix_lm,
}
NO_DENSITY = ("deshuffle", "prefix_lm")  # every token shuffled / a uniform split point: no noise density
# Official gin configs: `all_permute.gin` (deshuffle) and `prefix_lm.gin` leave `reduce_concat_tokens` out of
# their preprocessors (each document is chunked alone); `denoise.gin`/`span.gin` keep it (batch_size 128).
NO_CONCAT = ("deshuffle", "prefix_lm")
CONCAT_DOCS = 128  # t5 `reduce_concat_tokens(batch_size=128)`


def official_concat_docs(name: str, requested: int | None = None) -> int:
    """Documents concatenated before chunking: `requested` if given, else the objective's official default.

    1 (each document alone) for deshuffle and prefix LM, 128 for the others. 0 means the whole corpus.
    """
    if requested is not None:
        return requested
    return 1 if name in NO_CONCAT else CONCAT_DOCS


def make_objective(name: str, inputs_length: int = 512, noise_density: float | None = None,
                   mean_noise_span_length: float = 3.0, vocab_size: int = 32100,
                   targets_length: int | None = None, mlm_keep_prob: float = 0.0) -> Objective:
    """Validated settings of objective `name` (one-line `T5evalError` for each bad value).

    `targets_length` (T5's `sequence_length['targets']`), when given, must be at least what a full
    chunk produces: span corruption raises below the helper's value, as the official code does.
    """
    if name not in OBJECTIVES:
        raise T5evalError(f"unknown objective {name!r}{did_you_mean(name, OBJECTIVES)}; "
                          f"choose one of {', '.join(OBJECTIVES)}")
    if noise_density is not None and name in NO_DENSITY:
        raise T5evalError(f"--noise-density does not apply to {name} (it has no noise density); drop it")
    density = 0.15 if noise_density is None else noise_density
    if not 0.0 < density < 1.0:
        raise T5evalError(f"--noise-density {density} must be strictly between 0 and 1")
    if mean_noise_span_length < 1.0:
        raise T5evalError(f"--mean-span-length {mean_noise_span_length} must be at least 1")
    if inputs_length < 4:
        raise T5evalError(f"--inputs-length {inputs_length} is too short; use at least 4 (paper: 512)")
    if not 0.0 <= mlm_keep_prob <= 0.9:
        raise T5evalError(f"--mlm-keep {mlm_keep_prob} must be in [0, 0.9] (the rest is mask and 10% random)")
    obj = Objective(name, inputs_length, density, mean_noise_span_length, vocab_size, mlm_keep_prob=mlm_keep_prob)
    if name == "span_corruption":  # every chunk length up to a full chunk must be maskable, as in T5
        noise.check_span_settings(obj.tokens_per_chunk, density, mean_noise_span_length)
    if targets_length is not None and targets_length < obj.targets_length:
        raise T5evalError(f"--targets-length {targets_length} is too short for {name} at --inputs-length "
                          f"{inputs_length}: a full chunk gives {obj.targets_length} target ids; "
                          f"use --targets-length {obj.targets_length} or more")
    return obj


def make_example(obj: Objective, chunk: np.ndarray, rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """(inputs, targets) ids of one chunk (raw token ids, no EOS), each with EOS appended."""
    inputs, targets = OBJECTIVES[obj.name](np.asarray(chunk, dtype=np.int64), rng, obj)
    return [*map(int, inputs), EOS_ID], [*map(int, targets), EOS_ID]
