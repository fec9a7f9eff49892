"""The fine-tuning loop on a toy model: resume after a crash, best-step selection, dropout, optimizer."""

import pytest
import torch

from t5eval.train.loop import finetune, group_score
from t5eval.train.stream import TrainSource, TrainStream
from t5eval.train.text_step import TrainConfig, optimizer_record


class Toy(torch.nn.Module):
    """Mean-pooled embeddings -> first target token. Counts `loss` calls (micro-batches)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(20, 8)
        self.drop = torch.nn.Dropout(0.5)
        self.out = torch.nn.Linear(8, 20)
        self.calls = 0

    def loss(self, input_ids, attention_mask, labels):
        self.calls += 1
        h = (self.emb(input_ids) * attention_mask[..., None]).sum(1) / attention_mask.sum(1, keepdim=True)
        return torch.nn.functional.cross_entropy(self.out(self.drop(h)), labels[:, 0])


def _source() -> TrainSource:
    inputs = [[2 + i % 9, 3 + i % 5, 1] for i in range(40)]
    targets = [[10 + (i % 9 > 4), 1] for i in range(40)]
    return TrainSource("toy", inputs, targets)


CFG = TrainConfig(steps=6, eval_every=2, batch_tokens=30, grad_accum=2, seed=1)


def _scores():
    table = {2: 50.0, 4: 70.0, 6: 70.0}  # a tie at step 6 keeps step 4 (strictly better only)
    return lambda step: {"toy": {"accuracy": table[step]}}


def _run(tmp_path, evaluate, model=None):
    model = model or Toy()
    saved = []
    state = finetune(model, TrainStream([_source()], CFG.batch_tokens, CFG.seed), CFG, tmp_path / "ckpt.pt",
                     evaluate, lambda task, step: saved.append((task, step)))
    return model, state, saved


def test_resume_after_crash_gives_identical_weights_without_redoing_steps(tmp_path):
    ref, ref_state, ref_saved = _run(tmp_path / "a", _scores())
    assert ref_state.step == 6 and ref.calls == 12  # 6 steps x 2 micro-batches
    assert ref_state.best["toy"]["step"] == 4 and ref_saved == [("toy", 2), ("toy", 4)]
    assert [h["step"] for h in ref_state.history["toy"]] == [2, 4, 6]

    def crash_at_4(step):
        if step == 4:
            raise RuntimeError("simulated crash")
        return _scores()(step)

    with pytest.raises(RuntimeError):
        _run(tmp_path / "b", crash_at_4)
    resumed, state, saved = _run(tmp_path / "b", _scores())
    assert resumed.calls == 8  # steps 3..6 only: steps 1-2 came from the checkpoint
    assert saved == [("toy", 2), ("toy", 4)]  # the restored best step is handed over again (best/ may have
    # missed it: a kill between the checkpoint and the best/ swap); the runner skips it when best/ has it
    assert state.history == ref_state.history and state.best == ref_state.best
    for name, value in ref.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_dropout_is_set_to_t5_rate_and_optimizer_recorded(tmp_path):
    model, state, _ = _run(tmp_path, _scores())
    assert model.drop.p == 0.1
    assert state.train_tokens > 0 and state.tokens_per_s > 0
    record = optimizer_record(CFG)
    assert record["name"] == "torch.optim.Adafactor" and record["lr"] == 1e-3
    assert record["initial_state"].startswith("fresh")


def test_group_score_is_the_mean_of_the_metric_group():
    assert group_score({"f1": 80.0, "accuracy": 70.0}) == 75.0
