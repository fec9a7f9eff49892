"""How a model family meets a task: the seam between `evaluate` and the model (`Predictor`).

`predictor_for(spec, tokenizer, model)` picks one: `Seq2SeqPredictor` (T5: the task's inputs to the encoder,
beam/greedy decoding) or `PromptPredictor` (a decoder-only model, `model.decoder_only`: the task's prompt,
cut to the window by its declared rule, continued greedily or by seeded top-k sampling, the prediction
extracted by stop strings / sentences; or candidates ranked by LM log-probability). The evaluator asks
a predictor for input ids, the decode settings, the prediction text of generated ids, and its record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from t5eval.errors import T5evalError
from t5eval.model import DecodeConfig, LMDecodeConfig
from t5eval.tasks import Example, TaskSpec
from t5eval.tasks.prompts import PromptSpec, extract
from t5eval.tokenizer import GPT2Tokenizer, Tokenizer


class Predictor(Protocol):
    """What `evaluate` needs of a model family for one task."""

    decode_config: Any  # DecodeConfig | LMDecodeConfig: part of the decode cache key
    scores_choices: bool  # True: rank each example's `choices` by log-probability instead of generating

    def encode(self, example: Example) -> list[int]: ...

    def text(self, ids: list[int]) -> str: ...

    def decode_record(self) -> dict[str, Any]: ...

    def choices(self, example: Example) -> list[dict[str, str]]: ...

    def score(self, model: Any, choices: list[dict[str, str]]) -> list[float]: ...


SCORINGS = ("generate", "rank")


def label_choices(spec: TaskSpec, example: Example, separator: str) -> list[dict[str, str]]:
    """Rank classification: each label word as a continuation of the example's inputs (T0 / lm-eval style)."""
    return [{"candidate": label, "prompt": example.inputs, "continuation": separator + label}
            for label in spec.labels or ()]


@dataclass
class Seq2SeqPredictor:
    """T5: the example's inputs (EOS appended, never cut) to the encoder; the task's decode block.
    With `scores_choices` (--scoring rank) each label is scored as a target (EOS included) instead."""

    tokenizer: Tokenizer
    decode_config: DecodeConfig | LMDecodeConfig  # LMDecodeConfig: a decoder-only T5 (lm / prefix-lm)
    scores_choices: bool = False
    spec: TaskSpec | None = None

    def choices(self, example: Example) -> list[dict[str, str]]:
        assert self.spec is not None
        return label_choices(self.spec, example, "")

    def score(self, model: Any, choices: list[dict[str, str]]) -> list[float]:
        from t5eval.model.generate import target_logprobs

        targets = [self.tokenizer.encode(c["continuation"]) for c in choices]
        return target_logprobs(model, self.tokenizer.encode(choices[0]["prompt"]), targets)

    def encode(self, example: Example) -> list[int]:
        return self.tokenizer.encode(example.inputs)

    def text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)

    def decode_record(self) -> dict[str, Any]:
        cfg = self.decode_config
        if isinstance(cfg, LMDecodeConfig):  # a decoder-only T5 (lm / prefix-lm) continues after the inputs
            return {"beam_size": 1, "max_decode_len": cfg.max_new_tokens, "sampling": "greedy",
                    "eval_inputs_truncated": False, "decoder_only": "greedy continuation after inputs + EOS"}
        out = {"beam_size": cfg.beam_size, "alpha": cfg.alpha, "max_decode_len": cfg.max_decode_len,
               "eval_inputs_truncated": False}
        return out | ({"sampling": "rank", "scoring": "rank: log P(label + EOS | inputs)"} if self.scores_choices else {})


@dataclass
class PromptPredictor:
    """A decoder-only model on a prompt task (see the module docstring)."""

    spec: TaskSpec
    prompt: PromptSpec
    tokenizer: GPT2Tokenizer
    window: int
    decode_config: LMDecodeConfig
    scores_choices: bool = False
    truncated: list[int] = field(default_factory=list)  # indexes of examples whose prompt was cut

    def encode(self, example: Example) -> list[int]:
        """The prompt's ids, cut by the task's rule to leave room for max_new_tokens in the window."""
        ids = self.tokenizer.encode(example.inputs)
        budget = self.window - (0 if self.scores_choices else self.prompt.max_new_tokens)
        if len(ids) <= budget:
            return ids
        if self.prompt.truncate != "left":
            raise T5evalError(f"task {self.spec.name}, example {example.index}: prompt of {len(ids)} tokens exceeds "
                              f"the model's window ({self.window} - {self.prompt.max_new_tokens} new tokens) and "
                              f"{self.spec.path} declares prompt.truncate: none; declare truncate: left")
        self.truncated.append(example.index)
        return ids[len(ids) - budget:]

    def text(self, ids: list[int]) -> str:
        return extract(self.prompt, self.tokenizer.decode(ids))

    def choices(self, example: Example) -> list[dict[str, str]]:
        """WSC: the candidates the task built (fields["choices"]); rank scoring: " " + each label."""
        if self.prompt.scoring == "wsc_partial":
            return list(example.fields["choices"])
        return label_choices(self.spec, example, " ")

    def score(self, model: Any, choices: list[dict[str, str]]) -> list[float]:
        from t5eval.model.lm_generate import continuation_logprobs

        pairs = []
        for choice in choices:
            prompt, cont = self.tokenizer.encode(choice["prompt"]), self.tokenizer.encode(choice["continuation"])
            keep = self.window - len(cont)
            pairs.append((prompt[max(0, len(prompt) - keep):] if self.prompt.truncate == "left" else prompt, cont))
        return continuation_logprobs(model, pairs)

    def decode_record(self) -> dict[str, Any]:
        cfg = self.decode_config
        return {"beam_size": 1, "max_decode_len": cfg.max_new_tokens, "top_k": cfg.top_k, "seed": cfg.seed,
                "sampling": "top_k" if cfg.top_k else ("rank" if self.scores_choices else "greedy"),
                "window": self.window, "eval_inputs_truncated": bool(self.truncated),
                "truncated_inputs": len(self.truncated), "prompt": self.prompt.record()}


def predictor_for(spec: TaskSpec, tokenizer: Tokenizer, model: Any, scoring: str = "generate") -> Predictor:
    """The predictor of `model`'s family for `spec`; a pairing that cannot work is a one-line error.

    `scoring="rank"` (--scoring rank): classification by label log-likelihood, for either family; the task's
    own inputs are the prompt unless its YAML declares one."""
    if scoring not in SCORINGS:
        raise T5evalError(f"--scoring {scoring!r} is not one of {', '.join(SCORINGS)}")
    if spec.prompt is not None and not getattr(model, "decoder_only", False):
        raise T5evalError(f"task {spec.name} is a GPT-2 (decoder-only) prompt task ({spec.path}): its inputs are a "
                          f"GPT-2 prompt, which a {type(model).__name__} model would read as T5 inputs; run it with "
                          "a decoder-only model (GPT-2), or run the T5 task it is based on")
    if scoring == "rank":
        return _rank_predictor(spec, tokenizer, model)
    if not getattr(model, "decoder_only", False):
        return Seq2SeqPredictor(tokenizer, DecodeConfig(**spec.decode))
    if spec.prompt is None and getattr(model, "text_to_text", False):  # T5's LM / prefix LM: T5's casting
        return Seq2SeqPredictor(tokenizer, LMDecodeConfig(max_new_tokens=spec.decode["max_decode_len"]))
    if spec.prompt is None:
        raise T5evalError(f"task {spec.name} has no prompt template for a decoder-only model; run a gpt2_* task "
                          f"(`t5eval tasks` lists them) or add a prompt: section to {spec.path}")
    return _prompt_predictor(spec, spec.prompt, tokenizer, model)


def _rank_predictor(spec: TaskSpec, tokenizer: Tokenizer, model: Any) -> Predictor:
    if not spec.labels:
        raise T5evalError(f"--scoring rank ranks label words; task {spec.name} has no labels (a classification "
                          "task such as rte or sst2 has)")
    if not getattr(model, "decoder_only", False):
        return Seq2SeqPredictor(tokenizer, DecodeConfig(**spec.decode), True, spec)
    prompt = spec.prompt or PromptSpec("{inputs}", "left", 0, notes="T5's inputs as the prompt")
    predictor = _prompt_predictor(spec, prompt, tokenizer, model)
    predictor.scores_choices = True
    return predictor


def _prompt_predictor(spec: TaskSpec, prompt: PromptSpec, tokenizer: Tokenizer, model: Any) -> PromptPredictor:
    if not isinstance(tokenizer, GPT2Tokenizer):
        raise T5evalError("a decoder-only GPT-2 model needs GPT-2's vocabulary; pass --vocab DIR with vocab.json "
                          "and merges.txt")
    stop_ids = tuple(sorted({i for s in prompt.stop for i in tokenizer.ids_containing(s)}))
    decode = LMDecodeConfig(prompt.max_new_tokens, prompt.top_k, prompt.seed, stop_ids)
    return PromptPredictor(spec, prompt, tokenizer, model.config.max_len, decode, prompt.scoring != "generate")
