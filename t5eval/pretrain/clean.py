"""`--clean c4`: the C4 cleaning rules of the paper (§2.2), applied page by page, each rule counted.

Per line, in the order of the released implementation (TFDS `c4_utils.clean_page`): drop lines with
a word over 1,000 characters; strip citation markers ([1], [edit], [citation needed]); keep only
lines ending in a terminal punctuation mark (. ? ! or a closing ") and not in "..."; drop lines of
fewer than 5 words; drop the page on "lorem ipsum"; drop lines containing "javascript"; drop the
page on a curly bracket "{"; drop lines with a policy phrase (terms of use, privacy policy, cookie
policy, uses cookies, use of cookies, use cookies); drop the page on a word of the bad-words list
(`--bad-words FILE`, one word per line; without it the rule is not applied and the record says so).
Then per page: drop it with fewer than 3 sentences. Across pages: of any three-sentence span seen
before (lower-cased, whitespace collapsed), drop the repeat's sentences, and drop a page left
with fewer than 3 sentences. Language: pages not English with probability ≥ 0.99 are dropped when
`langdetect` is installed (seed 0, as C4); otherwise the rule is reported as not applied.
Sentences are split on terminal punctuation followed by whitespace (C4 used NLTK's punkt model,
which is not available offline).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError

MIN_WORDS_PER_LINE, MIN_SENTENCES, MAX_WORD_LENGTH = 5, 3, 1000
END_MARKS, ELLIPSIS = (".", "?", "!", '"'), "..."
POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
SENTENCE_END = re.compile(r'(?:(?<=[.!?])|(?<=[.!?]["\u201d\')\]]))\s+')
RULES = (
    "lines_word_over_1000_chars", "citation_markers_removed", "lines_no_terminal_punctuation",
    "lines_under_5_words", "pages_lorem_ipsum", "lines_javascript", "pages_curly_bracket", "lines_policy",
    "pages_bad_words", "pages_under_3_sentences", "sentences_in_repeated_3_sentence_spans",
    "pages_under_3_sentences_after_dedup", "pages_not_english",
)  # fmt: skip


def sentences(text: str) -> list[str]:
    """Sentences of `text`: split after . ! ? (and closing quotes/brackets) followed by whitespace."""
    return [s for s in (part.strip() for part in SENTENCE_END.split(text)) if s]


def load_bad_words(path: Path) -> list[str]:
    """The bad-words list: one word or phrase per line (e.g. LDNOOBW's `en`), blank lines ignored."""
    try:
        words = [w.strip().lower() for w in path.read_text(encoding="utf-8").splitlines() if w.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise T5evalError(f"--bad-words {path}: cannot read it ({err.__class__.__name__}); pass a UTF-8 word list") \
            from err
    if not words:
        raise T5evalError(f"--bad-words {path}: the list is empty; pass one word per line")
    return words


class C4Cleaner:
    """Cleans pages one at a time; `counts` says how many pages/lines each rule removed."""

    def __init__(self, bad_words: list[str] | None = None) -> None:
        self.counts: Counter[str] = Counter({rule: 0 for rule in RULES})
        self.bad_words = (re.compile(r"(?<![a-z])(" + "|".join(map(re.escape, bad_words)) + r")(?![a-z])")
                          if bad_words else None)
        self._seen_spans: set[bytes] = set()
        self._langdetect = _langdetect()

    def record(self) -> dict[str, Any]:
        """Rules applied (and those not), with counts."""
        return {"rules": "c4 (paper §2.2; docs/pretrain.md)", "counts": dict(self.counts),
                "bad_words": "applied" if self.bad_words else "not applied (no --bad-words list)",
                "language": "langdetect en >= 0.99" if self._langdetect else "not applied (langdetect not installed)",
                "sentence_splitter": "regex on terminal punctuation (C4: NLTK punkt)"}

    def clean(self, page: str) -> str | None:
        """The cleaned page, or None when a rule drops it."""
        self.counts["pages_in"] += 1
        lines = self._clean_lines(page)
        if lines is None:
            return None
        if sum(len(sentences(line)) for line in lines) < MIN_SENTENCES:
            self.counts["pages_under_3_sentences"] += 1
            return None
        lines = self._dedup_spans(lines)
        if sum(len(sentences(line)) for line in lines) < MIN_SENTENCES:
            self.counts["pages_under_3_sentences_after_dedup"] += 1
            return None
        text = "\n".join(lines).strip()
        if self._langdetect is not None and not self._is_english(text):
            self.counts["pages_not_english"] += 1
            return None
        self.counts["pages_out"] += 1
        return text

    def _clean_lines(self, page: str) -> list[str] | None:
        kept: list[str] = []
        for raw in page.splitlines():
            line = raw.strip()
            self.counts["lines_in"] += 1
            if any(len(word) > MAX_WORD_LENGTH for word in line.split()):
                self.counts["lines_word_over_1000_chars"] += 1
                continue
            line, markers = CITATION.subn("", line)
            self.counts["citation_markers_removed"] += markers
            lower = line.lower()
            rule = self._line_rule(line, lower)
            if rule is not None:
                self.counts[rule] += 1
                if rule.startswith("pages_"):
                    return None
                continue
            kept.append(line)
        return kept

    def _line_rule(self, line: str, lower: str) -> str | None:
        """The first rule (in C4's order) that removes this line or its page, or None."""
        if not line.endswith(END_MARKS) or line.endswith(ELLIPSIS):
            return "lines_no_terminal_punctuation"
        if len(line.split()) < MIN_WORDS_PER_LINE:
            return "lines_under_5_words"
        if "lorem ipsum" in lower:
            return "pages_lorem_ipsum"
        if "javascript" in lower:
            return "lines_javascript"
        if "{" in line:
            return "pages_curly_bracket"
        if any(p in lower for p in POLICY):
            return "lines_policy"
        if self.bad_words is not None and self.bad_words.search(lower):
            return "pages_bad_words"
        return None

    def _dedup_spans(self, lines: list[str]) -> list[str]:
        """Drop the sentences of every three-sentence span already seen (in this or an earlier page)."""
        flat = [(i, s) for i, line in enumerate(lines) for s in sentences(line)]
        drop: set[int] = set()
        for start in range(len(flat) - MIN_SENTENCES + 1):
            window = " ".join(s for _, s in flat[start:start + MIN_SENTENCES])
            key = hashlib.md5(" ".join(window.lower().split()).encode("utf-8")).digest()
            if key in self._seen_spans:
                drop.update(range(start, start + MIN_SENTENCES))
            else:
                self._seen_spans.add(key)
        if not drop:
            return lines
        self.counts["sentences_in_repeated_3_sentence_spans"] += len(drop)
        rebuilt: dict[int, list[str]] = {}
        for k, (i, s) in enumerate(flat):
            if k not in drop:
                rebuilt.setdefault(i, []).append(s)
        return [" ".join(rebuilt[i]) for i in sorted(rebuilt)]

    def _is_english(self, text: str) -> bool:
        assert self._langdetect is not None
        try:
            best = self._langdetect.detect_langs(text)[0]
        except Exception:  # langdetect raises on text without features
            return False
        return bool(best.lang == "en" and best.prob >= 0.99)


def _langdetect() -> Any:
    """The `langdetect` module seeded as C4 used it, or None when it is not installed."""
    try:
        import langdetect
    except ImportError:
        return None
    langdetect.DetectorFactory.seed = 0
    return langdetect
