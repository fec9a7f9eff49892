"""GLUE WNLI cast as WSC (T5 `preprocessors.wnli_simple`), used only for the leaderboard test set.

The premise's pronoun whose neighbouring words best match the hypothesis is wrapped in asterisks;
the target is the hypothesis words that stand where the pronoun stood (the candidate referent),
made non-possessive. Behaviour follows T5's code step by step, including its heuristics.
"""

from __future__ import annotations

import re

from t5eval.errors import T5evalError

PRONOUNS = ("he", "she", "they", "it", "her", "his", "their", "them", "him")
_TRAILING = re.compile(r"(\.|,|\?|\!)$")


def split_clean(text: str) -> list[str]:
    """Lower-cased words (split on single spaces) with one trailing . , ? ! removed; empties dropped."""
    words = [_TRAILING.sub("", w) for w in text.strip().lower().split(" ")]
    return [w for w in words if w]


def _prefix_match(hypothesis: list[str], words: list[str]) -> int:
    """Length of the longest prefix of `words` whose space-joined text occurs in the hypothesis."""
    joined = " ".join(hypothesis)
    for i in range(len(words)):
        if " ".join(words[:i + 1]) not in joined:
            return i
    return len(words)


def _suffix_match(hypothesis: list[str], words: list[str]) -> int:
    """T5 reverses both word lists (not the characters) and reuses the prefix match."""
    return _prefix_match(hypothesis[::-1], words[::-1])


def _candidate(premise: list[str], hypothesis: list[str], index: int) -> tuple[int, str]:
    """Score of the pronoun at `index` (context words matched) and the hypothesis text in its place."""
    pre, post = premise[:index], premise[index + 1:]
    pre_size, post_size = _suffix_match(hypothesis, pre), _prefix_match(hypothesis, post)
    score = pre_size + post_size
    if not score:
        return 0, ""
    pre_match, post_match = pre[-pre_size or len(pre):], post[:post_size]
    hyp = " ".join(hypothesis)
    for pattern in ([*pre_match, "(.+)", *post_match], ["^(.+)", *post_match], [*pre_match, "(.+)$"]):
        m = re.search(" ".join(pattern), hyp)
        if m:
            return score, m.group(1)
    return score, ""


def _best_match(premise: list[str], hypothesis: list[str]) -> tuple[int, str]:
    """(index in premise, candidate) of the highest-scoring pronoun; first one wins ties (as max)."""
    best: tuple[int, int, str] | None = None
    for i, word in enumerate(premise):
        if word in PRONOUNS:
            score, cand = _candidate(premise, hypothesis, i)
            if best is None or score > best[0]:
                best = (score, i, cand)
    if best is None:
        raise T5evalError(f"WNLI premise has no pronoun from {PRONOUNS}: {' '.join(premise)!r}")
    return best[1], best[2]


def highlight(sentence: str, index: int) -> str:
    """Wrap word `index` (single-space split) in asterisks; trailing . , ! ? goes outside: "*it* ."."""
    words = sentence.split(" ")
    word = words[index]
    marked = f"*{word[:-1]}* {word[-1]}" if word[-1] in ".,!?" else f"*{word}*"
    return " ".join([*words[:index], marked, *words[index + 1:]])


def _non_possessive(word: str) -> str:
    if word.endswith("'"):
        return word[:-1]
    return word[:-2] if word.endswith("'s") else word


def _clean_up(candidate: str) -> str:
    """Keep the candidate from its last article on ("…the dog" -> "the dog"), as T5 does."""
    words = candidate.split(" ")
    starts = [words.index(art) for art in ("a", "an", "the") if art in words]
    return " ".join(words[max(starts or [0]):])


def process_candidate(candidate: str, hypothesis: str) -> str:
    """Recover the candidate's original case and punctuation from the hypothesis; drop a final . , ! ?"""
    candidate = _clean_up(candidate)
    pattern = "({})".format(" ".join(rf"{re.escape(c)}(?:\.|,|\?|\!)?" for c in candidate.split(" ")))
    m = re.search(pattern, hypothesis, re.IGNORECASE)
    if not m:
        raise T5evalError(f"WNLI: cannot find candidate {candidate!r} in hypothesis {hypothesis!r}")
    found = m.group(1)
    if found and found[-1] in ".,!?":
        found = found[:-1]
    return _non_possessive(found)


def wnli_simple(premise: str, hypothesis: str, label: str = "wsc:") -> tuple[str, str]:
    """Return (inputs, targets) for one WNLI pair, e.g. ("wsc: The fish ate the worm. *It* was tasty.",
    "The worm")."""
    index, candidate = _best_match(split_clean(premise), split_clean(hypothesis))
    return f"{label} {highlight(premise, index)}", process_candidate(candidate, hypothesis)
