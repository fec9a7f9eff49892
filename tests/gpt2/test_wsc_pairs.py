"""Issue 26 items 13–14: GPT-2's "first N sentences" uses NLTK punkt; WSC compares exactly two schema candidates."""

from __future__ import annotations

import json
from pathlib import Path

from t5eval.tasks import TaskRegistry, load_examples
from t5eval.tasks.prompts import extract, parse_prompt


def test_first_three_sentences_do_not_split_after_mr() -> None:
    tldr = parse_prompt("t.yaml", {"template": "{a}", "truncate": "left", "sentences": 3}, 100)
    text = " Officers said Mr. Smith was arrested. Dr. Jones agreed with the U.S. attorney. It rained. Then more."
    # punkt English: "mr", "dr" and "u.s" are abbreviations, so the three sentences run to "It rained."
    assert extract(tldr, text) == "Officers said Mr. Smith was arrested. Dr. Jones agreed with the U.S. attorney. " \
                                  "It rained."


def _choices(data_dir: Path) -> dict[int, list[str]]:
    spec = TaskRegistry.default().get("gpt2_wsc_lm")
    examples = load_examples(spec, spec.splits["eval"], data_dir).examples
    return {int(e.fields["idx"]): [c["candidate"] for c in e.fields["choices"]] for e in examples}


def test_wsc_pairs_the_two_schema_candidates(data_dir: Path) -> None:
    choices = _choices(data_dir)
    # Read from val.jsonl: "Mr. Moncrieff visited Chester 's luxurious New York apartment, thinking that it
    # belonged to his son Edward. ... requires his financial support." with pronoun "his" (word 39) has three
    # rows: idx 1 "Mr. Moncrieff" (true), idx 27 "Edward" (false), idx 62 "Chester" (false). The Winograd
    # schema compares the referent with one distractor: each row gets its own candidate and the opposite-label
    # one (the first false row for the true row).
    assert choices[1] == ["Mr. Moncrieff", "Edward"]
    assert choices[27] == ["Edward", "Mr. Moncrieff"]
    assert choices[62] == ["Chester", "Mr. Moncrieff"]
    # idx 50 "Bill passed the half-empty plate to John because he was full." (candidate John, false) is alone
    # with its text; its twin idx 100 "... because he was hungry." (candidate Bill, false) shares the words
    # before "he": each gets the other's candidate, the schema's pair.
    assert choices[50] == ["John", "Bill"] and choices[100] == ["Bill", "John"]
    # idx 0 "Bernard , who had not told the government official ... take his claim away from him ." has two rows
    # for "him", both false (anyone; the government official): no opposite label, so the same-text one.
    assert choices[0] == ["anyone", "the government official"]
    # idx 9 "The customer walked into the bank and stabbed one of the tellers. He was immediately taken to the
    # hospital.": the only row with this text and its twin (idx 96, "... police station.") names the same
    # candidate, so the data hold no second candidate: the row keeps its one candidate, never the pronoun.
    assert choices[9] == ["The customer"]


def test_no_row_has_more_than_two_candidates_or_the_pronoun(data_dir: Path) -> None:
    choices = _choices(data_dir)
    rows = [json.loads(line) for line in (data_dir / "superglue/WSC/val.jsonl").read_text().splitlines()]
    assert len(choices) == len(rows) == 104
    for row in rows:
        cands = choices[row["idx"]]
        assert 1 <= len(cands) <= 2 and cands[0].lower() == row["target"]["span1_text"].lower()
        assert row["target"]["span2_text"].lower() not in [c.lower() for c in cands[1:]]
