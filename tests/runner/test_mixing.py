"""`--mixing` (issue 25, the paper's Tables 11–12): T5's `rate_num_examples` rules, worked by hand.

seqio.mixing_rate_num_examples(task, maximum, scale=1, temperature): rate = n; if maximum: rate = min(rate,
maximum); if temperature != 1: rate = rate ** (1 / temperature). A mixture samples task i with rate_i / Σ rate.
"""

from __future__ import annotations

import math

import pytest

from t5eval.errors import T5evalError
from t5eval.train.mixing import PAPER_TEMPERATURE_LIMIT, Mixing, mixing_rates, parse_mixing, rate_num_examples

from .helpers import base_args, cli, read_json

# GLUE training-set sizes (T5's glue weight mapping): MNLI 392,702, RTE 2,490; CB 250
SIZES = {"mnli": 392_702, "rte": 2_490, "cb": 250}


def test_parse_every_form() -> None:
    assert parse_mixing("proportional") == Mixing("proportional", None, 1.0, published_weights=True)
    assert parse_mixing("proportional:65536") == Mixing("proportional", 65536, 1.0, published_weights=False)
    assert parse_mixing("temperature:2") == Mixing("proportional", 2**21, 2.0, published_weights=False)
    assert parse_mixing("temperature:8:1024") == Mixing("proportional", 1024, 8.0, published_weights=False)
    assert parse_mixing("equal").kind == "equal"
    assert PAPER_TEMPERATURE_LIMIT == 2_097_152


@pytest.mark.parametrize(("text", "needle"), [
    ("bogus", "is not a mixing strategy"), ("proportional:abc", "K 'abc' is not a number"),
    ("temperature:0", "T must be positive"), ("proportional:1.5", "K must be a whole number"),
    ("equal:3", "is not a mixing strategy"),
])  # fmt: skip
def test_bad_forms_are_one_line(text: str, needle: str) -> None:
    with pytest.raises(T5evalError, match=needle):
        parse_mixing(text)


def test_examples_proportional_with_limit_by_hand() -> None:
    """K = 2,490: MNLI and RTE are both clipped to 2,490, CB keeps 250; Σ = 5,230."""
    rates = mixing_rates(parse_mixing("proportional:2490"), SIZES, {})
    assert [r["rate"] for r in rates.values()] == [2490.0, 2490.0, 250.0]
    assert rates["mnli"]["probability"] == pytest.approx(2490 / 5230)  # 0.47610
    assert rates["cb"]["probability"] == pytest.approx(250 / 5230)  # 0.04780
    assert rates["rte"]["examples"] == 2490


def test_temperature_scaling_by_hand() -> None:
    """T = 2 with the paper's K = 2^21: rates are square roots of the (unclipped) sizes:
    √392,702 = 626.659…, √2,490 = 49.8999…, √250 = 15.8114…; Σ = 692.370…"""
    rates = mixing_rates(parse_mixing("temperature:2"), SIZES, {})
    assert rates["mnli"]["rate"] == pytest.approx(626.6594, abs=1e-3)
    assert rates["rte"]["rate"] == pytest.approx(49.8999, abs=1e-3)
    assert rates["cb"]["rate"] == pytest.approx(15.8114, abs=1e-3)
    assert rates["mnli"]["probability"] == pytest.approx(626.6594 / 692.3707, abs=1e-6)


def test_the_limit_applies_before_the_temperature() -> None:
    """A task of 4,000,000 examples under temperature:2 (K = 2^21): (2^21)^(1/2) = 2^10.5 = 1024·√2 = 1448.15…"""
    assert rate_num_examples(4_000_000, 2**21, 2.0) == pytest.approx(1024 * math.sqrt(2))
    assert rate_num_examples(4_000_000, None, 2.0) == pytest.approx(2000.0)
    assert rate_num_examples(300, 0) == 300.0  # maximum 0 is "no maximum", as T5's `if maximum:`


def test_equal_and_published() -> None:
    equal = mixing_rates(parse_mixing("equal"), SIZES, {})
    assert [r["probability"] for r in equal.values()] == pytest.approx([1 / 3] * 3)
    published = mixing_rates(parse_mixing("proportional"), SIZES, {"mnli": 100.0, "rte": 300.0, "cb": 0.0})
    assert [r["probability"] for r in published.values()] == [0.25, 0.75, 0.0]


def test_mixing_needs_mixture(vocab_path, data_dir, capsys) -> None:
    assert cli(["run", "cb", *base_args(vocab_path, data_dir), "--mixing", "equal"]) == 2
    assert "--mixing equal sets the rates of a multi-task mixture: add --mixture" in capsys.readouterr().err


def test_run_records_and_prints_the_rates(vocab_path, data_dir, tmp_path, capsys) -> None:
    """CB (250 train examples) and COPA (400) under proportional:300: rates 250 and 300, Σ 550."""
    out = tmp_path / "mix"
    args = ["cb,copa", "--mixture", "--mixing", "proportional:300", "--limit", "2", "--steps", "1",
            "--eval-every", "1", "--batch-tokens", "256", "--max-input-len", "32", "--out", out]
    assert cli(["run", *args, *base_args(vocab_path, data_dir)]) == 0
    mixture = read_json(out / "run.json")["mixture"]
    assert mixture["mixing"] == "proportional:300"
    cb, copa = mixture["tasks"]["super_glue_cb_v102"], mixture["tasks"]["super_glue_copa_v102"]
    assert (cb["examples"], cb["rate"], copa["examples"], copa["rate"]) == (250, 250.0, 400, 300.0)
    assert cb["probability"] == pytest.approx(250 / 550)
    assert "super_glue_cb_v102 45.45% (250 examples, rate 250)" in capsys.readouterr().err
