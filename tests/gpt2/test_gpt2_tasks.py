"""GPT-2 prompt tasks: names, prompts rendered from the data (hand-checked), extraction, WSC candidates,
the declared truncation rule, and one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t5eval.errors import T5evalError
from t5eval.eval.predictor import PromptPredictor, predictor_for
from t5eval.model import load_model
from t5eval.tasks import TaskRegistry, load_examples
from t5eval.tasks.prompts import extract, parse_prompt
from t5eval.tokenizer import GPT2Tokenizer, T5Tokenizer

from .conftest import GPT2_VOCAB

NAMES = ["gpt2_cnn_dailymail_tldr", "gpt2_cnn_dailymail_tldr_greedy", "gpt2_wmt14_en_fr", "gpt2_wmt14_fr_en",
         "gpt2_squad_rc", "gpt2_squad_closed_book", "gpt2_wsc_lm"]


def _examples(name: str, data_dir: Path, limit: int = 3):  # type: ignore[no-untyped-def]
    spec = TaskRegistry.default().get(name)
    return spec, load_examples(spec, spec.splits["eval"], data_dir, limit=limit).examples


def test_the_issue_task_names_exist() -> None:
    reg = TaskRegistry.default()
    assert sorted(reg.benchmark("gpt2_zero_shot").members) == sorted(NAMES)
    assert all(reg.get(n).prompt is not None for n in NAMES)


def test_tldr_prompt_is_article_then_tldr(data_dir: Path) -> None:
    first = json.loads((data_dir / "cnn_dailymail" / "test_subset_summeval100.jsonl").read_text().splitlines()[0])
    with pytest.warns(UserWarning):
        spec, examples = _examples("gpt2_cnn_dailymail_tldr", data_dir)
    assert examples[0].inputs == first["article"] + "\nTL;DR:"
    assert examples[0].targets == first["highlights"]
    assert (spec.prompt.top_k, spec.prompt.seed, spec.prompt.sentences, spec.prompt.max_new_tokens) == (2, 0, 3, 100)


def test_squad_rc_prompt(data_dir: Path) -> None:
    article = json.loads((data_dir / "squad" / "dev-v1.1.json").read_text())["data"][0]["paragraphs"][0]
    _, examples = _examples("gpt2_squad_rc", data_dir)
    qa = article["qas"][0]
    assert examples[0].inputs == f"{article['context']}\nQ: {qa['question']}\nA:"
    assert "Denver Broncos" in examples[0].fields["answers"]


def test_wmt_prompt_has_eight_seeded_pool_pairs_then_the_source(data_dir: Path) -> None:
    source = (data_dir / "wmt" / "en-fr" / "newstest2014.en").read_text().splitlines()[1]
    spec, examples = _examples("gpt2_wmt14_en_fr", data_dir)
    lines = examples[1].inputs.split("\n")
    assert lines[-1] == f"{source} ="
    pool = {f"{p['en']} = {p['fr']}" for p in spec.prompt.few_shot.pool}
    assert len(lines) == 9 and set(lines[:8]) <= pool and len(set(lines[:8])) == 8
    assert examples[0].inputs.split("\n")[:8] != lines[:8]  # drawn per example
    _, again = _examples("gpt2_wmt14_en_fr", data_dir)
    assert again[1].inputs == examples[1].inputs  # seeded
    _, reverse = _examples("gpt2_wmt14_fr_en", data_dir)
    assert reverse[0].inputs.endswith("\nSpectaculaire saut en \"wingsuit\" au-dessus de Bogota =")


def test_wsc_candidates_come_from_sibling_rows(data_dir: Path) -> None:
    _, examples = _examples("gpt2_wsc_lm", data_dir, limit=1)
    choices = examples[0].fields["choices"]
    assert [c["candidate"] for c in choices] == ["anyone", "the government official"]
    assert choices[1]["prompt"].endswith("could take his claim away from the government official")
    assert {c["continuation"] for c in choices} == {" ."}


def test_extract_cuts_at_stop_and_keeps_first_sentences() -> None:
    qa = parse_prompt("t.yaml", {"template": "{q}", "truncate": "left", "stop": ["\n"]}, 32)
    assert extract(qa, " Denver Broncos\nQ: next") == "Denver Broncos"
    tldr = parse_prompt("t.yaml", {"template": "{a}", "truncate": "left", "sentences": 3}, 100)
    assert extract(tldr, " One. Two! Three? Four. Five") == "One. Two! Three?"


@pytest.mark.parametrize(("section", "needle"), [
    ({"template": "{a}"}, "'truncate' must be declared"),
    ({"template": "{a}", "truncate": "middle"}, "'truncate' must be declared"),
    ({"template": "{a}", "truncate": "left", "colour": 1}, "unknown field 'colour'"),
    ({"template": "{a}", "truncate": "left", "few_shot": {"n": 1, "pool": [{"a": "b"}]}}, "{shots}"),
])
def test_bad_prompt_sections_are_one_line_errors(section: dict, needle: str) -> None:
    with pytest.raises(T5evalError) as err:
        parse_prompt("t.yaml", section, 8)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_long_prompts_are_cut_on_the_declared_side(data_dir: Path) -> None:
    """A 180-token window leaves 80 prompt tokens beside 100 new ones: the TL;DR prompt keeps its end ("TL;DR:");
    a `truncate: none` task refuses instead."""
    tok = GPT2Tokenizer(GPT2_VOCAB)
    model = load_model("tiny-gpt2", init="random").model
    model.config = type(model.config)(**{**model.config.__dict__, "n_positions": 180})
    with pytest.warns(UserWarning):
        spec, examples = _examples("gpt2_cnn_dailymail_tldr", data_dir, limit=2)
    predictor = predictor_for(spec, tok, model)
    assert isinstance(predictor, PromptPredictor)
    ids = predictor.encode(examples[0])
    assert len(ids) == 80 and tok.decode(ids).endswith("\nTL;DR:")
    assert predictor.truncated == [0] and predictor.decode_record()["truncated_inputs"] == 1
    wsc, rows = _examples("gpt2_wsc_lm", data_dir, limit=1)
    model.config = type(model.config)(**{**model.config.__dict__, "n_positions": 20})
    with pytest.raises(T5evalError, match=r"declares prompt\.truncate: none"):
        predictor_for(wsc, tok, model).encode(rows[0])


def test_family_task_mismatches_are_refused(vocab_path: Path) -> None:
    reg = TaskRegistry.default()
    gpt2 = load_model("tiny-gpt2", init="random").model
    with pytest.raises(T5evalError, match="no prompt template for a decoder-only model"):
        predictor_for(reg.get("rte"), GPT2Tokenizer(GPT2_VOCAB), gpt2)
    with pytest.raises(T5evalError, match="needs GPT-2's vocabulary"):
        predictor_for(reg.get("gpt2_squad_rc"), T5Tokenizer(vocab_path), gpt2)
    t5 = load_model("tiny", init="random").model
    with pytest.raises(T5evalError, match="run it with a decoder-only model"):
        predictor_for(reg.get("gpt2_wsc_lm"), T5Tokenizer(vocab_path), t5)
