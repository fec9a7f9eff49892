"""The T5 paper's LM / prefix LM: attention visibility, cached decoding, save/load, fine-tuning loss on targets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from t5eval.model import LMDecodeConfig, generate, load_model, save_model


def _outputs_after_change(model, ids: torch.Tensor, position: int, prefix: int) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """|logits(ids) - logits(ids with token `position` changed)| per position (T,), prefix columns visible."""
    changed = ids.clone()
    changed[0, position] = (int(ids[0, position]) + 7) % model.config.vocab_size
    pre = torch.tensor([prefix])
    with torch.no_grad():
        return (model(ids, prefix=pre) - model(changed, prefix=pre)).abs().amax(-1)[0]


def test_prefix_lm_is_fully_visible_over_inputs_and_causal_over_targets() -> None:
    """Changing input token 3 (of a 6-token prefix) moves every position, the earlier ones too; changing target
    token 8 moves only positions >= 8. The plain LM is causal everywhere: input token 3 moves only >= 3."""
    torch.manual_seed(0)
    ids = torch.randint(2, 1000, (1, 12))
    prefix_lm = load_model("tiny-prefix-lm", init="random", seed=1).model
    moved = _outputs_after_change(prefix_lm, ids, 3, prefix=6) > 1e-6
    assert moved.tolist() == [True] * 12
    moved = _outputs_after_change(prefix_lm, ids, 8, prefix=6) > 1e-6
    assert moved.tolist() == [False] * 8 + [True] * 4
    lm = load_model("tiny-lm", init="random", seed=1).model
    moved = _outputs_after_change(lm, ids, 3, prefix=0) > 1e-6
    assert moved.tolist() == [False] * 3 + [True] * 9


@pytest.mark.parametrize("preset", ["tiny-lm", "tiny-prefix-lm"])
def test_cached_greedy_equals_full_forward(preset: str) -> None:
    """Each cached step's argmax equals a full forward pass over prompt + generated, with the prompt as prefix;
    a right-padded batch gives each row's own result."""
    model = load_model(preset, init="random", seed=2).model
    with torch.no_grad():
        model.shared.weight[1] *= 0.0  # keep EOS from ending rows at once
    prompts = [[5, 17, 300, 42, 1], [9, 8, 1]]
    ids = torch.tensor([p + [0] * (5 - len(p)) for p in prompts])
    mask = torch.tensor([[1] * len(p) + [0] * (5 - len(p)) for p in prompts])
    batch = generate(model, ids, mask, LMDecodeConfig(max_new_tokens=6))
    for prompt, new in zip(prompts, batch, strict=True):
        assert len(new) == 6
        with torch.no_grad():
            logits = model(torch.tensor([prompt + new]), prefix=torch.tensor([len(prompt)]))[0]
            if model.config.architecture == "lm":  # the LM ignores a prefix
                assert torch.equal(logits, model(torch.tensor([prompt + new]), prefix=torch.tensor([0]))[0])
        assert [int(logits[len(prompt) - 1 + i].argmax()) for i in range(len(new))] == new


def test_loss_is_on_targets_only_and_save_load_round_trips(tmp_path: Path) -> None:
    model = load_model("tiny-prefix-lm", init="random", seed=3).model
    ids, mask = torch.tensor([[5, 6, 7, 1]]), torch.ones(1, 4, dtype=torch.long)
    labels = torch.tensor([[11, 12, 1]])
    seq = torch.tensor([[5, 6, 7, 1, 11, 12, 1]])
    with torch.no_grad():
        logp = torch.log_softmax(model(seq, prefix=torch.tensor([4]))[0], -1)
        expected = -(logp[3, 11] + logp[4, 12] + logp[5, 1]) / 3
        assert abs(float(model.loss(ids, mask, labels)) - float(expected)) < 1e-5
    again = load_model(save_model(model, tmp_path / "saved"))
    assert type(again.model) is type(model) and again.config == model.config
    with torch.no_grad():
        assert torch.equal(again.model(seq), model(seq))


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["tiny-prefix-lm", "tiny-lm"])
def test_quickstart_recipe_learns_sst2(preset: str, data_dir: Path, vocab_path: Path, tmp_path: Path) -> None:
    """README's quick-start recipe (1,200 steps, 1,024-token batches) with a decoder-only T5: SST-2 dev accuracy
    above the majority baseline (444 of 872 positive = 50.92%), fine-tuned by `t5eval run` as is."""
    import json

    from typer.testing import CliRunner

    from t5eval.cli import app

    out = tmp_path / preset
    result = CliRunner().invoke(app, ["run", "sst2", "--model", preset, "--init", "random", "--vocab", str(vocab_path),
                                      "--data-dir", str(data_dir), "--steps", "1200", "--eval-every", "400",
                                      "--batch-tokens", "1024", "--threads", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    task = json.loads((out / "run.json").read_text())["tasks"]["glue_sst2_v002"]
    assert task["finetuned"] and task["n"] == 872
    assert task["metrics"]["accuracy"] > 100 * 444 / 872
