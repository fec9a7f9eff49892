"""--scoring rank: label log-likelihoods checked against transformers for both families, and a run whose
predictions are label words chosen by those scores."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from t5eval.cli import app
from t5eval.model import load_model
from t5eval.model.generate import target_logprobs
from t5eval.model.lm_generate import continuation_logprobs


def test_gpt2_continuation_logprobs_equal_transformers(gpt2_dir: Path, hf_gpt2: torch.nn.Module) -> None:
    ours = load_model(gpt2_dir).model
    prompt, conts = [464, 3290, 318, 257], [[922], [1332, 13], [2089, 284, 11]]
    got = continuation_logprobs(ours, [(prompt, c) for c in conts])
    for cont, value in zip(conts, got, strict=True):
        with torch.no_grad():
            logp = torch.log_softmax(hf_gpt2(input_ids=torch.tensor([prompt + cont])).logits[0], -1)
        expected = sum(float(logp[len(prompt) - 1 + i, t]) for i, t in enumerate(cont))
        assert abs(value - expected) < 1e-4


def test_t5_target_logprobs_equal_transformers_loss(tmp_path: Path) -> None:
    import transformers

    from t5eval.model import save_model

    loaded = load_model("tiny", init="random", seed=1)
    folder = save_model(loaded.model, tmp_path / "t5")
    reference = transformers.T5ForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()
    inputs, targets = [37, 1782, 19, 1], [[3, 9, 1], [1465, 1]]
    got = target_logprobs(loaded.model, inputs, targets)
    for target, value in zip(targets, got, strict=True):
        with torch.no_grad():
            loss = reference(input_ids=torch.tensor([inputs]), labels=torch.tensor([target])).loss  # mean NLL
        assert abs(value + float(loss) * len(target)) < 1e-4


def _rank_run(args: list[str], out: Path, data_dir: Path) -> tuple[dict, list[dict]]:
    result = CliRunner().invoke(app, ["run", "rte", *args, "--no-finetune", "--scoring", "rank", "--limit", "4",
                                      "--data-dir", str(data_dir), "--out", str(out), "--threads", "1"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in (out / "glue_rte_v002" / "predictions.jsonl").read_text().splitlines()]
    return json.loads((out / "run.json").read_text()), rows


def test_rank_run_gpt2_and_t5(gpt2_dir: Path, data_dir: Path, vocab_path: Path, tmp_path: Path) -> None:
    record, rows = _rank_run(["--model", str(gpt2_dir)], tmp_path / "gpt2", data_dir)
    assert record["settings"]["scoring"] == "rank"
    assert record["tasks"]["glue_rte_v002"]["decode"]["sampling"] == "rank"
    assert {r["prediction"] for r in rows} <= {"entailment", "not_entailment"}
    model = load_model(gpt2_dir).model
    from t5eval.tokenizer import GPT2Tokenizer

    tok = GPT2Tokenizer(gpt2_dir)
    for row in rows:  # the chosen label is the one with the higher log-likelihood after the inputs
        scores = {lab: continuation_logprobs(model, [(tok.encode(row["inputs"]), tok.encode(" " + lab))])[0]
                  for lab in ("entailment", "not_entailment")}
        assert row["prediction"] == max(scores, key=scores.__getitem__)
    _, t5_rows = _rank_run(["--model", "tiny", "--init", "random", "--vocab", str(vocab_path)], tmp_path / "t5",
                           data_dir)
    assert {r["prediction"] for r in t5_rows} <= {"entailment", "not_entailment"}
