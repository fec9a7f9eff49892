"""Prompt templates for decoder-only models (a task YAML's `prompt:` section), declarative and checked.

A prompt task reads its data and casts targets exactly as the T5 task it mirrors (same reader,
preprocessor, postprocessor and metrics); only the model's input changes: `Example.inputs` becomes the
rendered prompt. The template fills `{name}` from the normalised row and the cast's fields; `{shots}`
is the few-shot context: `n` examples of a declared pool, chosen per example by a seeded draw.
How the model's text becomes the prediction (`stop` strings, first `sentences`) is declared here too,
and so is `truncate`, the side of a prompt that is cut when it does not fit the model's window.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from t5eval.errors import T5evalError
from t5eval.tasks.preprocess import wsc_blank
from t5eval.tokenizer.sentences import split_sentences

SCORINGS = ("generate", "wsc_partial")
TRUNCATE = ("left", "none")
_KEYS = {"template": str, "truncate": str, "sampling": dict, "stop": list, "sentences": int, "few_shot": dict,
         "scoring": str, "max_new_tokens": int, "notes": str}
_SHOT_KEYS = {"n": int, "seed": int, "template": str, "separator": str, "pool": list}


@dataclass(frozen=True)
class FewShot:
    """`n` examples of `pool`, rendered with `template` and joined by `separator`; drawn with `seed`."""

    n: int
    seed: int
    template: str
    separator: str
    pool: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class PromptSpec:
    """A decoder-only model's view of a task (see the module docstring)."""

    template: str
    truncate: str
    max_new_tokens: int
    top_k: int = 0  # 0: greedy
    seed: int = 0
    stop: tuple[str, ...] = ()
    sentences: int | None = None
    few_shot: FewShot | None = None
    scoring: str = "generate"
    notes: str = field(default="", compare=False)

    def record(self) -> dict[str, Any]:
        """What run.json records about the prompt (the pool by size only; the task file's sha256 covers it)."""
        shots = self.few_shot
        return {"template": self.template, "truncate": self.truncate, "max_new_tokens": self.max_new_tokens,
                "sampling": {"top_k": self.top_k, "seed": self.seed} if self.top_k else None,
                "stop": list(self.stop), "sentences": self.sentences, "scoring": self.scoring,
                "few_shot": {"n": shots.n, "seed": shots.seed, "pool_size": len(shots.pool)} if shots else None}


def _check(where: str, data: Mapping[str, Any], allowed: Mapping[str, Any]) -> None:
    for key, value in data.items():
        if key not in allowed:
            raise T5evalError(f"{where}: unknown field {key!r}; allowed: {', '.join(sorted(allowed))}")
        if not isinstance(value, allowed[key]) or (allowed[key] is int and isinstance(value, bool)):
            raise T5evalError(f"{where}: field {key!r} must be {allowed[key].__name__}, got {type(value).__name__}")


def _few_shot(where: str, raw: Mapping[str, Any]) -> FewShot:
    _check(f"{where}.few_shot", raw, _SHOT_KEYS)
    pool = raw.get("pool", [])
    if not pool or not all(isinstance(p, dict) and all(isinstance(v, str) for v in p.values()) for p in pool):
        raise T5evalError(f"{where}.few_shot: 'pool' must be a non-empty list of mappings of quoted strings")
    n = raw.get("n", 1)
    if not 0 < n <= len(pool):
        raise T5evalError(f"{where}.few_shot: n={n} must be between 1 and the pool size {len(pool)}")
    return FewShot(n, raw.get("seed", 0), raw.get("template", ""), raw.get("separator", "\n"),
                   tuple(dict(p) for p in pool))


def parse_prompt(where: str, raw: Mapping[str, Any], max_decode_len: int) -> PromptSpec:
    """Validate a task YAML's `prompt:` section; `max_decode_len` (the decode block) is the new-token limit."""
    here = f"{where}: field 'prompt'"
    _check(here, raw, _KEYS)
    scoring = raw.get("scoring", "generate")
    if scoring not in SCORINGS:
        raise T5evalError(f"{here}: scoring {scoring!r} is not one of {', '.join(SCORINGS)}")
    truncate = raw.get("truncate")
    if truncate not in TRUNCATE:
        raise T5evalError(f"{here}: 'truncate' must be declared as one of {', '.join(TRUNCATE)} (which side of a "
                          "prompt longer than the model's window is cut; none refuses such prompts)")
    sampling = dict(raw.get("sampling", {}))
    _check(f"{here}.sampling", sampling, {"top_k": int, "seed": int})
    stop = raw.get("stop", [])
    if not all(isinstance(s, str) and s for s in stop):
        raise T5evalError(f"{here}: 'stop' must be a list of non-empty quoted strings")
    shots = _few_shot(here, raw["few_shot"]) if "few_shot" in raw else None
    template = raw.get("template", "{text}")
    if (shots is not None) != ("{shots}" in template):
        raise T5evalError(f"{here}: the template uses {{shots}} exactly when 'few_shot' is declared")
    return PromptSpec(template, truncate, max_decode_len, sampling.get("top_k", 0), sampling.get("seed", 0),
                      tuple(stop), raw.get("sentences"), shots, scoring, raw.get("notes", ""))


def _fill(template: str, values: Mapping[str, Any], where: str) -> str:
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError) as err:
        raise T5evalError(f"{where}: prompt template {template!r} cannot be filled ({err!r}); "
                          f"fields available: {', '.join(sorted(values))}") from None


def render(prompt: PromptSpec, row: Mapping[str, Any], fields: Mapping[str, Any], position: int, where: str) -> str:
    """The prompt text of one example: the template over row + fields, with its seeded few-shot context."""
    values: dict[str, Any] = {**row, **fields}
    shots = prompt.few_shot
    if shots is not None:
        chosen = random.Random(f"{shots.seed}:{position}").sample(range(len(shots.pool)), shots.n)
        values["shots"] = shots.separator.join(_fill(shots.template, shots.pool[i], where) for i in chosen)
    return _fill(prompt.template, values, where)


def extract(prompt: PromptSpec, text: str) -> str:
    """The prediction in a model's continuation: cut at the first stop string, keep the first `sentences`."""
    for stop in prompt.stop:
        text = text.split(stop, 1)[0]
    text = text.strip()
    if prompt.sentences is not None:
        text = " ".join(split_sentences(text)[: prompt.sentences])  # NLTK punkt English, as C4
    return text


def wsc_choices(rows: Sequence[dict[str, Any]]) -> list[list[dict[str, str]]]:
    """Per WSC row: its candidate and the schema's other candidate (the Winograd setting: exactly two), each as
    {"candidate", "prompt", "continuation"}: the sentence up to the pronoun with the candidate in its place, and
    the words after it (the GPT-2 paper's partial scoring scores only those).

    SuperGLUE WSC rows ask "is span1 the pronoun's referent?"; a schema's two candidates are spread over rows
    (docs/gpt2.md). The other candidate is, in order: a different candidate of a row with the same text and
    pronoun and the opposite label (the referent for a false row, a distractor for a true row; first in file
    order); else a different candidate of a row with the same words before the same pronoun (the schema's
    twin sentence, or a same-text row). A row with neither keeps its one candidate (the data hold no second).
    """
    same: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    twins: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        same[(row["text"], int(row["span2_index"]))].append(row)
        twins[_before_pronoun(row)].append(row)
    out = []
    for row in rows:
        before, after = wsc_blank(row).split(" X ", 1)  # T5's own pronoun location (two texts special-cased)
        options = [row["span1_text"], *_other_candidate(row, same[(row["text"], int(row["span2_index"]))],
                                                         twins[_before_pronoun(row)])]
        out.append([{"candidate": c, "prompt": f"{before} {c}", "continuation": f" {after}"} for c in options])
    return out


def _before_pronoun(row: Mapping[str, Any]) -> tuple[str, str]:
    """(the words before the pronoun, the pronoun lower-cased): the key shared by a schema's twin sentences."""
    return " ".join(row["text"].split(" ")[: int(row["span2_index"])]), str(row["span2_text"]).lower()


def _other_candidate(row: Mapping[str, Any], same: Sequence[Mapping[str, Any]],
                     twins: Sequence[Mapping[str, Any]]) -> list[str]:
    """[the schema's other candidate] for `row`, or [] when no row of the data names one."""
    own = str(row["span1_text"]).strip().lower()
    label = row.get("label")
    for pool, need_opposite in ((same, True), (twins, False)):
        for other in pool:
            differs = str(other["span1_text"]).strip().lower() != own
            if differs and (not need_opposite or (label is not None and other.get("label") != label)):
                return [str(other["span1_text"])]
    return []
