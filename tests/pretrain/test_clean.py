"""`--clean c4`: each rule of TFDS `c4_utils` (2019) on hand-made pages, expectations worked from its code.

Pages have no URL: page i stands for url str(i). md5 hex digests used below (well-known values):
md5("0") = cfcd2084…, md5("1") = c4ca4238…, md5("2") = c81e728d…, so by smallest md5 the order is 1 < 2 < 0.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from t5eval import cli
from t5eval.pretrain.clean import C4Cleaner, sentences

GOOD = ["The cat sat on the warm mat today.", "It was a very sunny day outside.", "Everyone in town was happy about it!"]
MORE = ["Brand new words appear in this line.", "More fresh text is written over here.",
        "The final new sentence ends the page."]


def page(*extra: str) -> str:
    return "\n".join([*GOOD, *extra])


def clean_all(cleaner: C4Cleaner, *pages: str) -> list[str]:
    return list(cleaner.clean_pages(pages))


# --- item 6: sentences are NLTK punkt's (English) ----------------------------------------------------------

def test_punkt_does_not_split_after_known_abbreviations() -> None:
    assert sentences("Officers said Mr. Smith was arrested. He met Dr. Jones in the U.S. capital. Then he left.") \
        == ["Officers said Mr. Smith was arrested.", "He met Dr. Jones in the U.S. capital.", "Then he left."]
    assert sentences('He said "Go home." Then he left! Was it late? yes') == [
        'He said "Go home."', "Then he left!", "Was it late?", "yes"]


@pytest.mark.parametrize("title", ["Mr.", "Mrs.", "Dr.", "Ms.", "Prof.", "Gen.", "Sen.", "Rep.", "St."])
def test_punkt_on_270_passages(title: str) -> None:
    # 9 titles × 6 names × 5 predicates = 270 three-sentence passages (810 sentences). Every title is in punkt's
    # English abbreviation list (mr, mrs, dr, ms, prof, gen, sen, rep, st), as is "u.s": no split after them.
    for name, verb in itertools.product(["Smith", "Jones", "Brown", "Taylor", "Lee", "Wilson"],
                                        ["said the plan would work", "arrived late on Monday", "signed the deal",
                                         "visited the old factory", "spoke to reporters"]):
        parts = [f"{title} {name} {verb}.", "The meeting ended early.", "Officials in the U.S. capital agreed."]
        assert sentences(" ".join(parts)) == parts


def test_punkt_splits_after_an_abbreviation_it_does_not_know() -> None:
    # "gov" is not in punkt's English abbreviation list: "Gov." ends a sentence for punkt (known behaviour).
    assert sentences("Gov. Smith spoke today. It rained.") == ["Gov.", "Smith spoke today.", "It rained."]


# --- item 4: the page-length rule ------------------------------------------------------------------------

def test_page_over_190000_characters_is_dropped() -> None:
    def sized(total: int) -> str:
        head = page()
        filler_words = (total - len(head) - 1 - 1) // 6  # "\n" + words of "word " (5) … + final "."
        text = head + "\n" + "word " * filler_words
        return text + "x" * (total - len(text) - 1) + "."

    cleaner = C4Cleaner()
    long_page, limit_page = sized(206_688), sized(190_000)
    assert (len(long_page), len(limit_page)) == (206_688, 190_000)
    out = clean_all(cleaner, long_page, limit_page)
    # is_valid_length: len(text) > 1.9e5 is dropped, so 190,000 passes (and its 3 GOOD lines + 1 filler survive)
    assert cleaner.counts["pages_over_190000_chars"] == 1 and len(out) == 1 and out[0].startswith(GOOD[0])


# --- line rules (unchanged from the paper's list) ----------------------------------------------------------

def test_line_rules_keep_only_clean_lines() -> None:
    cleaner = C4Cleaner()
    text = page(
        "This line has no terminal punctuation at all",
        "Too short line.",
        "And this one just trails off into nothing...",
        "Please enable JavaScript to view this page properly.",
        "By using this site you agree to our Terms of Use here.",
        "A cited claim about history is right here [1] [citation needed].",
    )
    assert clean_all(cleaner, text) == ["\n".join([*GOOD, "A cited claim about history is right here  ."])]
    c = cleaner.counts
    assert (c["lines_no_terminal_punctuation"], c["lines_under_5_words"], c["lines_javascript"],
            c["lines_policy"], c["citation_markers_removed"]) == (2, 1, 1, 1, 2)
    assert (c["pages_in"], c["pages_out"]) == (1, 1)


@pytest.mark.parametrize(("line", "counter"), [
    ("Lorem ipsum dolor sit amet, consectetur.", "pages_lorem_ipsum"),
    ("The function body is { return x; } here.", "pages_curly_bracket"),
])
def test_page_rules_drop_the_page(line: str, counter: str) -> None:
    cleaner = C4Cleaner()
    assert clean_all(cleaner, page(line)) == []
    assert cleaner.counts[counter] == 1 and cleaner.counts["pages_out"] == 0


# --- item 5: bad words -------------------------------------------------------------------------------------

def test_bad_words_regex_needs_a_non_letter_on_both_sides() -> None:
    cleaner = C4Cleaner(["darn"])
    # "[^a-z](darn)[^a-z]" on the lower-cased line: " darn " matches -> the page goes
    assert clean_all(cleaner, page("Well darn it all, said the old farmer.")) == []
    # at the very start of a line there is no character before "darn": no match, the page stays (as C4)
    assert len(clean_all(C4Cleaner(["darn"]), page("Darn it all, said the old farmer to them."))) == 1
    # "darning": a letter follows -> no match
    assert len(clean_all(C4Cleaner(["darn"]), page("The darning needle was very sharp indeed."))) == 1
    # checked per line after the line rules: a bad word on a line dropped for its missing end mark is harmless
    assert len(clean_all(C4Cleaner(["darn"]), page("Well darn it all said the farmer"))) == 1
    assert cleaner.counts["pages_bad_words"] == 1
    assert "not applied" in C4Cleaner().record()["bad_words"]


def test_bad_words_drop_a_page_before_deduplication() -> None:
    # page 0 clean, page 1 (smaller md5) the same GOOD lines plus a bad word. 2019: page 1 is dropped inside
    # clean_page, so GOOD is listed once and page 0 keeps it. (Current TFDS filters bad words after dedup:
    # page 1 would keep GOOD, page 0 lose it and fall under 3 sentences.)
    cleaner = C4Cleaner(["darn"])
    assert clean_all(cleaner, page(), page("Well darn it all, said the old farmer.")) == ["\n".join(GOOD)]


# --- item 5: deduplication ---------------------------------------------------------------------------------

def test_repeated_lines_survive_on_the_page_with_the_smallest_md5_url() -> None:
    cleaner = C4Cleaner()
    pages = [page(MORE[0] + " Zero adds a sentence.", *MORE[1:]), page(*MORE), page(*MORE)]
    out = clean_all(cleaner, *pages)
    # each GOOD line (one sentence) is a window listed by pages 0, 1, 2: sorted by md5 -> 1, 2, 0; page 1 keeps
    # them, pages 0 and 2 lose them. MORE's lines are listed by all three too (page 0's first MORE line is a
    # two-sentence line, a different window): page 1 keeps them, page 2 is left with nothing -> dropped;
    # page 0 keeps only its own two-sentence line (2 sentences < 3) -> dropped.
    assert out == [page(*MORE)]
    assert cleaner.counts["pages_under_3_sentences_after_dedup"] == 2
    assert cleaner.counts["sentences_in_repeated_windows"] == 3 + 2 + 6


def test_three_sentence_windows_within_a_line() -> None:
    cleaner = C4Cleaner()
    shared = "Bravo two is here. Charlie three is here. Delta four is here."
    pages = [f"Alpha one is here. {shared}\n" + "\n".join(MORE), f"Xray nine is here. {shared}\n" + "\n".join(GOOD)]
    out = clean_all(cleaner, *pages)
    # windows of page 0's first line: (alpha, bravo, charlie), (bravo, charlie, delta); page 1's: (xray, bravo,
    # charlie), (bravo, charlie, delta). Only (bravo, charlie, delta) is listed twice: page 1 (smaller md5)
    # keeps it, page 0 loses Bravo, Charlie, Delta and keeps Alpha (plus its 3 MORE lines).
    assert out == ["Alpha one is here.\n" + "\n".join(MORE), pages[1]]
    assert cleaner.counts["sentences_in_repeated_windows"] == 3


def test_a_line_repeated_within_one_page_is_removed_entirely() -> None:
    cleaner = C4Cleaner()
    boiler = "Repeated boilerplate line is shown here."
    # the window (boiler,) is listed twice by url "0": sorted ["0", "0"], all but the first -> ["0"], so page 0
    # drops every sentence matching it: both copies go, the page keeps GOOD.
    assert clean_all(cleaner, page(boiler, boiler)) == ["\n".join(GOOD)]
    assert cleaner.counts["sentences_in_repeated_windows"] == 2


def test_too_few_sentences() -> None:
    cleaner = C4Cleaner()
    assert clean_all(cleaner, "Only two sentences are in this page. That is too few for it.") == []
    assert cleaner.counts["pages_under_3_sentences"] == 1


def test_cli_prints_counts_per_rule(tmp_path: Path, vocab_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "web.txt"
    pages = [page(f"Page number {i} has its own unique closing sentence here.") for i in range(60)]
    corpus.write_text("\n\n".join([*pages, page("Lorem ipsum dolor sit amet, consectetur.")]), encoding="utf-8")
    out = tmp_path / "ex.jsonl"
    with pytest.raises(SystemExit) as exc:
        cli.main(["pretrain", "--model", "tiny", "--corpus", str(corpus), "--vocab", str(vocab_path), "--clean",
                  "c4", "--inputs-length", "32", "--export", "2", str(out)])
    assert exc.value.code in (0, None)
    err = capsys.readouterr().err
    # the 60 pages share GOOD's 3 one-sentence lines: only the smallest-md5 page keeps them, the other 59 keep
    # 1 sentence each and go
    assert "clean c4: 1 of 61 pages kept" in err
    assert "pages_lorem_ipsum: 1" in err and "pages_under_3_sentences_after_dedup: 59" in err
