"""`--clean c4`: each rule of the paper's §2.2 on hand-made pages, with its counter."""

from __future__ import annotations

from pathlib import Path

import pytest

from t5eval import cli
from t5eval.pretrain.clean import C4Cleaner, sentences

GOOD = ["The cat sat on the warm mat today.", "It was a very sunny day outside.", "Everyone in town was happy about it!"]


def page(*extra: str) -> str:
    return "\n".join([*GOOD, *extra])


def test_sentence_split() -> None:
    assert sentences('He said "Go home." Then he left! Was it late? yes') == [
        'He said "Go home."', "Then he left!", "Was it late?", "yes"]


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
    assert cleaner.clean(text) == "\n".join([*GOOD, "A cited claim about history is right here  ."])
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
    assert cleaner.clean(page(line)) is None
    assert cleaner.counts[counter] == 1 and cleaner.counts["pages_out"] == 0


def test_bad_words_drop_the_page_only_as_whole_words() -> None:
    cleaner = C4Cleaner(["darn"])
    assert cleaner.clean(page("Well darn it all, said the old farmer.")) is None
    assert cleaner.clean(page("The darning needle was very sharp indeed.")) is not None
    assert cleaner.counts["pages_bad_words"] == 1
    assert "not applied" in C4Cleaner().record()["bad_words"]


def test_too_few_sentences_and_repeated_spans() -> None:
    cleaner = C4Cleaner()
    assert cleaner.clean("Only two sentences are in this page. That is too few for it.") is None
    assert cleaner.counts["pages_under_3_sentences"] == 1
    first = cleaner.clean(page("A fourth sentence is added to this page."))
    assert first is not None
    # the same three sentences again, plus three new ones: the repeat is dropped, the rest kept
    new = ["Brand new words appear in this line.", "More fresh text is written over here.",
           "The final new sentence ends the page."]
    second = cleaner.clean(page(*new))
    assert second == "\n".join(new)
    assert cleaner.counts["sentences_in_repeated_3_sentence_spans"] == 3
    assert cleaner.clean(page()) is None  # nothing new left
    assert cleaner.counts["pages_under_3_sentences_after_dedup"] == 1


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
    assert "clean c4: 1 of 61 pages kept" in err  # the 60 pages share GOOD, so only the first survives dedup
    assert "pages_lorem_ipsum: 1" in err and "pages_under_3_sentences_after_dedup: 59" in err
