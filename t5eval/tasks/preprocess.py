"""Preprocessors: TFDS feature dict -> T5 (inputs, targets) text, exactly as T5's code casts them.

Each is a small pure function `fn(row, **args) -> list[Cast]` (a list because ReCoRD gives one
example per answer and WSC training drops rows). They are looked up by name from `PREPROCESSORS`,
the names used in `task_defs/**.yaml`. Sources: `t5/data/preprocessors.py`, `glue_utils.py` (T5 repo).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from t5eval.errors import T5evalError
from t5eval.tasks.wnli import wnli_simple

UNK = "<unk>"  # the target T5 writes for unlabelled (test) rows


class Cast(NamedTuple):
    """One text-to-text example: the input text, the target text, and the fields T5 keeps."""

    inputs: str
    targets: str
    fields: dict[str, Any]


def _label_name(label: int, label_names: Sequence[str]) -> str:
    """T5 `glue`: label -1 (test) -> "<unk>", else the class name."""
    return UNK if label == -1 else label_names[label]


def glue(row: dict[str, Any], *, benchmark_name: str, label_names: Sequence[str],
         feature_names: Sequence[str] | None = None) -> list[Cast]:
    """`preprocessors.glue`: "<benchmark> key1: v1 key2: v2", joined with single spaces, no strip.

    Keys are the feature names sorted alphabetically (excluding label and idx) unless an explicit
    order is given (MultiRC, WiC). MultiRC: on the joined string, "<br>" -> " " and "<b>", "</b>"
    are deleted; the example keeps idx/paragraph, idx/question, idx/answer instead of idx.
    """
    keys = list(feature_names) if feature_names else sorted(set(row) - {"label", "idx"})
    parts = [benchmark_name]
    for key in keys:
        parts += [f"{key}:", row[key]]
    joined = " ".join(parts)
    fields: dict[str, Any] = {"label": row["label"]}
    if benchmark_name == "multirc":
        joined = re.sub("<(/)?b>", "", joined.replace("<br>", " "))
        fields.update({f"idx/{k}": row["idx"][k] for k in ("paragraph", "question", "answer")})
    else:
        fields["idx"] = row["idx"]
    return [Cast(joined, _label_name(row["label"], label_names), fields)]


def stsb_target(label: float) -> str:
    """STS-B target: `tf.as_string(tf.round(label * 5) / 5, precision=1)` in float32.

    `tf.round` rounds half to even (12.5 -> 12, so 2.5 -> "2.4"); numpy's float32 round does too.
    """
    x = np.float32(label) * np.float32(5)  # a test row's -1 gives "-1.0": stsb has no "<unk>" case
    return f"{float(np.round(x) / np.float32(5)):.1f}"


def stsb(row: dict[str, Any]) -> list[Cast]:
    """`preprocessors.stsb`: "stsb sentence1: … sentence2: …" and the rounded score string."""
    inputs = " ".join(["stsb sentence1:", row["sentence1"], "sentence2:", row["sentence2"]])
    return [Cast(inputs, stsb_target(row["label"]), {"idx": row["idx"], "label": row["label"]})]


def clean_record_passage(passage: str) -> str:
    """ReCoRD: "\\n@highlight\\n" after . ? ! " ' becomes that char + space, any other one ". "."""
    passage = re.sub(r"(\.|\?|\!|\"|\')\n@highlight\n", r"\1 ", passage)
    return re.sub(r"\n@highlight\n", ". ", passage)


def record(row: dict[str, Any]) -> list[Cast]:
    """`preprocessors.record`: one example per gold answer (one "<unk>" example when there is none).

    Input: "record query: {query} entities: {e1}, {e2}, … passage: {cleaned passage}".
    """
    inputs = " ".join(["record query:", row["query"], "entities:", ", ".join(row["entities"]),
                       "passage:", clean_record_passage(row["passage"])])
    answers = list(row["answers"])
    fields = {"idx/passage": row["idx"]["passage"], "idx/query": row["idx"]["query"], "answers": answers}
    return [Cast(inputs, target, dict(fields)) for target in (answers or [UNK])]


# T5 `_wsc_inputs` special-cases two texts where span2_index does not point at the pronoun.
_WSC_SPECIAL = {
    'The boy continued to whip the pony , and eventually the pony threw him over. John laughed out '
    'quite loud. "Good for him," he said. ':
        'The boy continued to whip the pony , and eventually the pony threw him over. John laughed '
        'out quite loud. "Good for X ," he said.',
    'When they had eventually calmed down a bit , and had gotten home, Mr. Farley put the magic '
    'pebble in an iron safe . Some day they might want to use it , but really for now, what more '
    'could they wish for?':
        'When they had eventually calmed down a bit , and had gotten home, Mr. Farley put the magic '
        'pebble in an iron safe . Some day they might want to use X , but really for now, what more '
        'could they wish for?',
}


def wsc_blank(row: dict[str, Any]) -> str:
    """T5 `_wsc_inputs`: split on single spaces and put "X" at span2_index (it must be span2_text)."""
    if row["text"] in _WSC_SPECIAL:
        return _WSC_SPECIAL[row["text"]]
    words = row["text"].split(" ")
    i = row["span2_index"]
    if not 0 < i < len(words) or words[i] != row["span2_text"]:
        raise T5evalError(f"WSC idx {row['idx']}: word {i} of the text is not span2_text "
                          f"{row['span2_text']!r} (T5 asserts this); fix the row")
    return " ".join([" ".join(words[:i]), "X", " ".join(words[i + 1:])])


def wsc_simple(row: dict[str, Any], *, correct_referent_only: bool = False) -> list[Cast]:
    """`preprocessors.wsc_simple`: "wsc: " + text with every " X " -> " *{span2_text}* ".

    Target is span1_text (the candidate referent). Training keeps only label=True rows.
    """
    if correct_referent_only and row.get("label", 0) != 1:
        return []
    marked = re.sub(" X ", lambda _: f" *{row['span2_text']}* ", wsc_blank(row))
    fields = {"idx": row["idx"], "label": row.get("label", 0)}
    return [Cast(f"wsc: {marked}", row["span1_text"], fields)]


def dpr_simple(row: dict[str, Any]) -> list[Cast]:
    """`definite_pronoun_resolution_simple`: mark the first " pronoun" followed by space . or ,"""
    pattern = " (" + row["pronoun"] + r")( |\.|,)"  # not escaped, as in T5
    marked = re.sub(pattern, r" *\1*\2", row["sentence"], count=1)
    target = row["candidates"][row["label"]] if row["label"] != -1 else UNK
    return [Cast(f"wsc: {marked}", target, {"idx": row["idx"], "label": row["label"]})]


def wnli(row: dict[str, Any]) -> list[Cast]:
    """`preprocessors.wnli_simple` (GLUE WNLI cast as WSC, for the leaderboard submission)."""
    inputs, targets = wnli_simple(row["sentence1"], row["sentence2"])
    fields = {"idx": row["idx"], "label": row.get("label", 0), "premise": row["sentence1"],
              "hypothesis": row["sentence2"]}
    return [Cast(inputs, targets, fields)]


# RE2 classes, written out: `[[:punct:]]` is ASCII punctuation; `\W` is [^0-9A-Za-z_] (ASCII-only
# \w), so the paper-era padding also splits non-ASCII letters; `\s` is [\t\n\f\r ].
PUNCT_PATTERNS = {"ascii": r"([!-/:-@\[-`{-~])", "nonword": r"([^0-9A-Za-z_])"}
_RE2_SPACE = r"[\t\n\f\r ]+"


def pad_punctuation(text: str, punct: str = "ascii") -> str:
    """T5 `_pad_punctuation`: space around each punctuation char, collapse whitespace, no strip."""
    if punct not in PUNCT_PATTERNS:
        raise T5evalError(f"unknown punctuation padding {punct!r}; use one of {sorted(PUNCT_PATTERNS)}")
    return re.sub(_RE2_SPACE, " ", re.sub(PUNCT_PATTERNS[punct], r" \1 ", text))


def squad(row: dict[str, Any], *, include_context: bool = True, punct: str = "ascii",
          strip: bool = False) -> list[Cast]:
    """`preprocessors.squad`: "question: {q} context: {c}" of padded text; target = first answer.

    `punct`: "ascii" (RE2 [[:punct:]], current code) or "nonword" (`\\W`, before 2022-04-05).
    `strip`: the paper-era TFDS squad/plain_text (0.1.0/1.0.0) stripped context, question and answers;
    squad/v1.1:3.0.0 (current) keeps them as in the JSON.
    """
    texts = [row["question"], row["context"], *row["answers"]["text"]]
    q, c, *raw_answers = [t.strip() for t in texts] if strip else texts
    answers = [pad_punctuation(a, punct) for a in raw_answers]
    q, c = pad_punctuation(q, punct), pad_punctuation(c, punct)
    parts = ["question:", q, "context:", c] if include_context else ["squad trivia question:", q]
    inputs = re.sub(_RE2_SPACE, " ", " ".join(parts))
    fields = {"id": row["id"], "answers": answers}
    return [Cast(inputs, answers[0] if answers else UNK, fields)]


def summarize(row: dict[str, Any], *, article_key: str = "article", summary_key: str = "highlights",
              lowercase: bool = False) -> list[Cast]:
    """`preprocessors.summarize`: "summarize: " + article; target = highlights.

    `lowercase` reproduces the paper-era TFDS cnn_dailymail 0.0.2 data, which was lower-cased.
    """
    article, summary = row[article_key], row[summary_key]
    if lowercase:
        article, summary = article.lower(), summary.lower()
    return [Cast(" ".join(["summarize:", article]), summary, {"id": row.get("id", row["idx"])})]


LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French", "ro": "Romanian"}  # babel english_name


def translate(row: dict[str, Any], *, source_language: str, target_language: str) -> list[Cast]:
    """`preprocessors.translate`: "translate {Src} to {Tgt}: {text}"; target = the reference."""
    src, tgt = LANGUAGE_NAMES[source_language], LANGUAGE_NAMES[target_language]
    inputs = f"translate {src} to {tgt}: {row[source_language]}"
    return [Cast(inputs, row[target_language], {"idx": row["idx"]})]


Preprocessor = Callable[..., list[Cast]]

PREPROCESSORS: dict[str, Preprocessor] = {
    "glue": glue,
    "stsb": stsb,
    "record": record,
    "wsc_simple": wsc_simple,
    "wnli_simple": wnli,
    "dpr_simple": dpr_simple,
    "squad": squad,
    "summarize": summarize,
    "translate": translate,
}
