"""`--clean c4`: the C4 cleaning of the paper (§2.2) as the 2019 TFDS `c4_utils` implements it, each rule counted.

Version: TFDS `tensorflow_datasets/text/c4_utils.py` of 2019 (the one whose deduplication is the paper's
"discarded all but one of any three-sentence span"; docs/pretrain.md says how later versions differ).
In the pipeline's order:

1. page length: pages over 190,000 characters are dropped (`is_valid_length`, on the raw page);
2. per line (`clean_page`): strip; remove citation markers ([1], [edit], [citation needed]); keep only lines
   ending in . ? ! or " and not in "..."; drop lines of fewer than 5 words; drop the page on "lorem ipsum";
   drop lines containing "javascript"; drop the page on "{"; drop lines with a policy phrase; drop the page
   when the bad-words regex `[^a-z](w1|w2|…)[^a-z]` (words as listed, not escaped) matches the lower-cased
   line (`--bad-words FILE`; without it the rule is not applied and the record says so); then drop the page
   if its kept lines hold fewer than 3 punkt sentences;
3. deduplication over the whole corpus (`remove_duplicate_text`): each line's lower-cased punkt sentences
   give windows of 3 consecutive sentences (a line of 1–2 sentences is one window, whole); a window seen
   more than once (windows of only end marks aside) is kept only on the page whose md5(url) hex digest is
   smallest (its first listing): every other listing's page, and that page too when it lists the window
   again, loses every sentence of it; lines left empty go, the rest are re-joined with single spaces; pages
   left with fewer than 3 sentences are dropped;
4. language: pages not English with probability ≥ 0.99 are dropped when `langdetect` is installed (seed 0,
   as C4); otherwise the rule is reported as not applied.

Pages here have no URL: page i (0-based, corpus order) stands for url str(i). Sentences: NLTK punkt, English
(`t5eval.tokenizer.sentences`).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from t5eval.errors import T5evalError
from t5eval.tokenizer.sentences import MODEL, split_sentences

MAX_PAGE_CHARS = 190_000  # c4_utils.is_valid_length(max_length=1.9e5)
MIN_WORDS_PER_LINE, MIN_SENTENCES, WINDOW = 5, 3, 3
END_MARKS, ELLIPSIS = (".", "?", "!", '"'), "..."
POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
RULES = (
    "pages_over_190000_chars", "citation_markers_removed", "lines_no_terminal_punctuation", "lines_under_5_words",
    "pages_lorem_ipsum", "lines_javascript", "pages_curly_bracket", "lines_policy", "pages_bad_words",
    "pages_under_3_sentences", "sentences_in_repeated_windows", "pages_under_3_sentences_after_dedup",
    "pages_not_english",
)  # fmt: skip
Window = tuple[str, ...]


def sentences(text: str) -> list[str]:
    """Sentences of `text` as C4 splits them (NLTK punkt, English)."""
    return split_sentences(text)


def load_bad_words(path: Path) -> list[str]:
    """The bad-words list, one word or phrase per line as C4 reads it (stripped, not lower-cased); blank lines
    are skipped (C4 would add an empty alternative, which matches any two non-letters)."""
    try:
        words = [w.strip() for w in path.read_text(encoding="utf-8").splitlines() if w.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise T5evalError(f"--bad-words {path}: cannot read it ({err.__class__.__name__}); pass a UTF-8 word list") \
            from err
    if not words:
        raise T5evalError(f"--bad-words {path}: the list is empty; pass one word per line")
    try:
        re.compile("|".join(words))
    except re.error as err:
        raise T5evalError(f"--bad-words {path}: C4 uses the words as a regex and this list is not one ({err}); "
                          "fix or escape the offending entry") from err
    return words


def _md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


class C4Cleaner:
    """Cleans a corpus of pages (`clean_pages`); `counts` says how many pages/lines/sentences each rule removed."""

    def __init__(self, bad_words: list[str] | None = None) -> None:
        self.counts: Counter[str] = Counter({rule: 0 for rule in RULES})
        self.bad_words = re.compile("[^a-z]({})[^a-z]".format("|".join(bad_words))) if bad_words else None
        self._langdetect = _langdetect()

    def record(self) -> dict[str, Any]:
        """Rules applied (and those not), with counts."""
        return {"rules": "c4, TFDS c4_utils 2019 (paper §2.2; docs/pretrain.md)", "counts": dict(self.counts),
                "bad_words": "applied" if self.bad_words else "not applied (no --bad-words list)",
                "language": "langdetect en >= 0.99" if self._langdetect else "not applied (langdetect not installed)",
                "sentence_splitter": MODEL, "urls": "page i stands for url str(i) (dedup keeps smallest md5)"}

    def clean_pages(self, pages: Iterable[str]) -> Iterator[str]:
        """The cleaned pages in corpus order (dropped ones left out). Deduplication needs every page first."""
        cleaned = [(str(i), text) for i, page in enumerate(pages) if (text := self.clean_page(page)) is not None]
        remove = self._windows_to_remove(cleaned)
        for url, text in cleaned:
            kept = self._remove_windows(text, remove.get(url, set()))
            if kept is None:
                continue
            if self._langdetect is not None and not self._is_english(kept):
                self.counts["pages_not_english"] += 1
                continue
            self.counts["pages_out"] += 1
            yield kept

    def clean_page(self, page: str) -> str | None:
        """Steps 1–2 on one page: its kept lines joined by newlines, or None when a rule drops the page."""
        self.counts["pages_in"] += 1
        if len(page) > MAX_PAGE_CHARS:
            self.counts["pages_over_190000_chars"] += 1
            return None
        kept: list[str] = []
        num_sentences = 0
        for raw in page.splitlines():
            self.counts["lines_in"] += 1
            line, markers = CITATION.subn("", raw.strip())
            self.counts["citation_markers_removed"] += markers
            rule = self._line_rule(line, line.lower())
            if rule is not None:
                self.counts[rule] += 1
                if rule.startswith("pages_"):
                    return None
                continue
            num_sentences += len(sentences(line))
            kept.append(line)
        if num_sentences < MIN_SENTENCES:
            self.counts["pages_under_3_sentences"] += 1
            return None
        return "\n".join(kept).strip()

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

    @staticmethod
    def _windows_to_remove(pages: list[tuple[str, str]]) -> dict[str, set[Window]]:
        """url -> the windows it must drop: every listing of a window but the first of the smallest md5(url)."""
        listings: dict[Window, list[str]] = defaultdict(list)
        for url, text in pages:
            for window in _windows(text):
                listings[window].append(url)
        remove: dict[str, set[Window]] = defaultdict(set)
        for window, urls in listings.items():
            for url in sorted(urls, key=_md5_hex)[1:]:
                remove[url].add(window)
        return remove

    def _remove_windows(self, text: str, remove: set[Window]) -> str | None:
        """The page without the sentences of its windows in `remove`; None when under 3 sentences are left."""
        new_lines: list[list[str]] = []
        for line in text.splitlines():
            line_sentences = sentences(line)
            size = min(len(line_sentences), WINDOW)
            drop: set[int] = set()
            for i in range(len(line_sentences) - size + 1):
                if tuple(s.lower() for s in line_sentences[i:i + WINDOW]) in remove:
                    drop.update(range(i, i + size))
            self.counts["sentences_in_repeated_windows"] += len(drop)
            if kept := [s for i, s in enumerate(line_sentences) if i not in drop]:
                new_lines.append(kept)
        if sum(map(len, new_lines)) < MIN_SENTENCES:
            self.counts["pages_under_3_sentences_after_dedup"] += 1
            return None
        return "\n".join(" ".join(line) for line in new_lines)

    def _is_english(self, text: str) -> bool:
        assert self._langdetect is not None
        try:
            best = self._langdetect.detect_langs(text)[0]
        except Exception:  # langdetect raises on text without features
            return False
        return bool(best.lang == "en" and best.prob >= 0.99)


def _windows(text: str) -> Iterator[Window]:
    """C4's dedup keys of a page: per line, each run of 3 lower-cased sentences (the whole line when shorter),
    except runs made only of end marks."""
    for line in text.splitlines():
        lowered = [s.lower() for s in sentences(line)]
        size = min(len(lowered), WINDOW)
        for i in range(len(lowered) - size + 1):
            window = tuple(lowered[i:i + WINDOW])
            if not all(s in END_MARKS for s in window):
                yield window


def _langdetect() -> Any:
    """The `langdetect` module seeded as C4 used it, or None when it is not installed."""
    try:
        import langdetect
    except ImportError:
        return None
    langdetect.DetectorFactory.seed = 0
    return langdetect
