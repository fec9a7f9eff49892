"""SQuAD normalization and EM/F1, expected values worked out by hand from T5's qa_utils rules."""

from __future__ import annotations

import pytest

from t5eval.metrics import normalize_squad, squad


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("U . S .", "u s"),  # padded answer: periods deleted, the spaces between letters stay
        ("U.S.", "us"),  # unpadded: punctuation is deleted, not replaced by a space
        ("The Eiffel Tower!", "eiffel tower"),  # lower, "!" deleted, "the" removed
        ("an apple a day", "apple day"),  # every article word removed
        ("theatre anthem", "theatre anthem"),  # articles only as whole words (\b)
        ("  Don't   stop\tnow ", "dont stop now"),  # apostrophe deleted, whitespace collapsed
        ("A-team", "ateam"),  # "-" deleted first, so "a" is no longer a separate word
    ],
)
def test_normalize_squad(text: str, expected: str) -> None:
    assert normalize_squad(text) == expected


def test_padded_answer_only_matches_padded_prediction() -> None:
    # "U . S ." -> "u s"; "U.S." -> "us": different strings and no shared token -> EM 0, F1 0.
    assert squad([["U . S ."]], ["U . S ."]) == {"em": 100.0, "f1": 100.0}
    assert squad([["U . S ."]], ["U.S."]) == {"em": 0.0, "f1": 0.0}


def test_max_over_answers_and_partial_f1() -> None:
    targets = [["Denver Broncos", "Broncos"], ["Denver Broncos", "Carolina Panthers"], ["x y y"]]
    predictions = ["the Broncos", "Broncos team", "y y y"]
    # ex 1: "broncos" equals the 2nd answer -> EM 1, F1 1.
    # ex 2: "broncos team" vs "denver broncos": 1 shared token, P 1/2, R 1/2 -> F1 1/2; EM 0.
    # ex 3: bag overlap min(2, 3) = 2 y's: P 2/3, R 2/3 -> F1 2/3; EM 0.
    result = squad(targets, predictions)
    assert result["em"] == pytest.approx(100 / 3)
    assert result["f1"] == pytest.approx(100 * (1 + 1 / 2 + 2 / 3) / 3)


def test_target_must_be_a_list_of_answers() -> None:
    with pytest.raises(ValueError, match="list of answer strings"):
        squad(["Broncos"], ["Broncos"])
