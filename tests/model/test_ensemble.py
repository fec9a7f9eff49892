"""Ensemble decoding (issue 25, Table 13): Mesh TF's reduce_ensemble_logits rules and the ensemble identities."""

from __future__ import annotations

import math

import pytest
import torch

from t5eval.errors import T5evalError
from t5eval.model import DecodeConfig, generate, load_model
from t5eval.model.ensemble import Ensemble, combine_logits

GREEDY, BEAM = DecodeConfig(max_decode_len=12), DecodeConfig(beam_size=3, max_decode_len=12)


def test_two_members_by_hand_mean_prob_and_mean_logit_differ() -> None:
    """Member A: p = (0.70, 0.29, 0.01), member B: p = (0.01, 0.40, 0.59).
    Mean of probabilities (Mesh TF's default): (0.355, 0.345, 0.300) -> token 0.
    Mean of logits = log of the geometric mean, up to a constant: (√0.007, √0.116, √0.0059) = (0.0837, 0.3406,
    0.0768) -> token 1."""
    a, b = torch.tensor([0.70, 0.29, 0.01]).log(), torch.tensor([0.01, 0.40, 0.59]).log()
    logits = torch.stack([a, b])[:, None, :]  # (M=2, N=1, V=3)
    prob = combine_logits(logits, "prob")[0]
    torch.testing.assert_close(prob.exp(), torch.tensor([0.355, 0.345, 0.300]))
    assert int(prob.argmax()) == 0
    logit = combine_logits(logits, "logit")[0]
    geometric = torch.softmax(logit, dim=-1)
    expected = torch.tensor([math.sqrt(0.007), math.sqrt(0.116), math.sqrt(0.0059)])
    torch.testing.assert_close(geometric, expected / expected.sum())
    assert int(logit.argmax()) == 1


def test_mean_prob_floor_is_mesh_tfs_1e_minus_20() -> None:
    logits = torch.tensor([[[0.0, -1e4]]])  # the second token's probability underflows to 0
    assert combine_logits(logits, "prob")[0, 1].item() == pytest.approx(math.log(1e-20))


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([[37, 1000, 5, 1], [800, 91, 300, 1], [6, 7, 8, 1]])
    return ids, torch.ones_like(ids)


@pytest.mark.parametrize("decode", [GREEDY, BEAM])
def test_an_ensemble_of_one_decodes_as_its_model(decode: DecodeConfig) -> None:
    model = load_model("tiny", init="random", seed=1).model
    ids, mask = _inputs()
    alone = generate(model, ids, mask, decode)
    for reduce in ("prob", "logit"):
        assert generate(Ensemble([model], reduce), ids, mask, decode) == alone


@pytest.mark.parametrize("decode", [GREEDY, BEAM])
def test_two_identical_members_decode_as_one(decode: DecodeConfig) -> None:
    first = load_model("tiny", init="random", seed=2).model
    twin = load_model("tiny", init="random", seed=2).model  # a separate copy of the same weights
    ids, mask = _inputs()
    assert generate(Ensemble([first, twin]), ids, mask, decode) == generate(first, ids, mask, decode)


def test_first_greedy_token_is_the_argmax_of_the_members_mean_probability() -> None:
    """Against each member's full teacher-forced forward (not the cached step): position 0 after the start token."""
    a = load_model("tiny", init="random", seed=4).model
    b = load_model("tiny-half", init="random", seed=5).model
    ids, mask = _inputs()
    start = torch.zeros(ids.shape[0], 1, dtype=torch.long)
    with torch.no_grad():
        probs = (torch.softmax(a(ids, mask, start)[:, 0], -1) + torch.softmax(b(ids, mask, start)[:, 0], -1)) / 2
    first_tokens = [row[0] for row in generate(Ensemble([a, b]), ids, mask, DecodeConfig(max_decode_len=1))]
    assert first_tokens == probs.argmax(-1).tolist()


def test_members_must_be_encoder_decoders_of_one_vocabulary() -> None:
    t5 = load_model("tiny", init="random").model
    with pytest.raises(T5evalError, match="member 2 is a T5LM"):
        Ensemble([t5, load_model("tiny-lm", init="random").model])
    with pytest.raises(T5evalError, match="not one of prob, logit"):
        Ensemble([t5], "max")


def test_ensemble_run_needs_no_finetune(vocab_path, data_dir, capsys) -> None:
    from tests.runner.helpers import base_args, cli

    assert cli(["run", "cb", *base_args(vocab_path, data_dir), "--ensemble", "x,y"]) == 2
    assert "--ensemble decodes models fine-tuned separately" in capsys.readouterr().err


def test_run_of_two_identical_members_predicts_as_the_model_alone(vocab_path, data_dir, tmp_path) -> None:
    from t5eval.model import save_model
    from tests.runner.helpers import cli, read_json, read_jsonl

    model_dir = save_model(load_model("tiny", init="random", seed=6).model, tmp_path / "m")
    common = ["cb", "--no-finetune", "--limit", "3", "--vocab", vocab_path, "--data-dir", data_dir, "--threads", "1",
              "--model", model_dir]
    assert cli(["run", *common, "--out", tmp_path / "one"]) == 0
    assert cli(["run", *common, "--ensemble", str(model_dir), "--out", tmp_path / "two"]) == 0
    task = "super_glue_cb_v102"
    alone, both = (read_jsonl(tmp_path / r / task / "predictions.jsonl") for r in ("one", "two"))
    assert [p["prediction"] for p in both] == [p["prediction"] for p in alone] and len(alone) == 3
    record = read_json(tmp_path / "two" / "run.json")["model"]
    assert record["ensemble"] == {"members": [str(model_dir)] * 2, "reduce": "prob", "size": 2}
    assert record["cost"]["params"] == 2 * 2_221_056  # two tiny models (tests/model/test_architectures.py)
