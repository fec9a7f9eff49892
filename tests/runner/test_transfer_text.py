"""--transfer for text-to-text T5 (the paper's §3.5.1 on its encoder-decoder): which parameter groups get
gradients, the gradual-unfreezing schedule in the loop, exact resume of an adapters run, the run's files."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from t5eval.errors import T5evalError
from t5eval.model import T5, T5Config
from t5eval.train.loop import finetune
from t5eval.train.stream import TrainSource, TrainStream
from t5eval.train.text_step import TrainConfig
from t5eval.train.transfer import Transfer, apply_text_transfer, check_text_transfer

from .conftest import CB, FT_ARGS
from .helpers import base_args, cli, read_json

torch.set_num_threads(1)
TINY = replace(T5Config.preset("tiny"), vocab_size=50)  # v1.0: tied head, 2 + 2 blocks, d_model 64


def _model(cfg: T5Config = TINY) -> T5:
    torch.manual_seed(0)
    return T5(cfg)


def _group(name: str) -> str:
    """shared | lm_head | encoder_bias | encoder_norm | <stack>_layers.i | <stack>_layers.i.norms | … .adapter"""
    parts = name.split(".")
    if parts[0] not in ("encoder_layers", "decoder_layers"):
        return parts[0]
    where = ".".join(parts[:2])
    return f"{where}.adapter" if ".adapter." in name else f"{where}.norms" if "norm" in name else where


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(2, 50, (3, 7), generator=gen)
    return ids, torch.ones_like(ids), torch.randint(2, 50, (3, 4), generator=gen)


def _groups_with_gradients(model: T5) -> set[str]:
    model.loss(*_batch()).backward()
    return {_group(n) for n, p in model.named_parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)}


BLOCKS = {f"{s}_layers.{i}" for s in ("encoder", "decoder") for i in (0, 1)}
NORMS = {f"{b}.norms" for b in BLOCKS} | {"encoder_norm", "decoder_norm"}
TOP = {"encoder_layers.1", "encoder_layers.1.norms", "decoder_layers.1", "decoder_layers.1.norms"}


@pytest.mark.parametrize(("text", "expected"), [
    ("all", BLOCKS | NORMS | {"shared", "encoder_bias", "decoder_bias"}),  # the tied head is `shared`
    ("frozen", {"decoder_layers.1", "decoder_layers.1.norms", "decoder_norm", "lm_head"}),
    ("adapters:4", {f"{b}.adapter" for b in BLOCKS}),  # task_adapter.gin: only the adapters (their norms included)
    ("adapters-houlsby:4", {f"{b}.adapter" for b in BLOCKS} | NORMS),
    ("gradual-unfreezing", TOP | {"shared", "encoder_norm", "decoder_norm"}),  # episode 1 of 2: top blocks
])
def test_each_transfer_sends_gradients_only_where_it_should(text: str, expected: set[str]) -> None:
    model = _model()
    apply_text_transfer(model, Transfer.parse(text), seed=0, steps=4)
    assert _groups_with_gradients(model) == expected
    adapters = sum(p.numel() for n, p in model.named_parameters() if ".adapter." in n)
    if text == "adapters:4":  # wi (64x4), wo (4x64), no biases, + the adapter's norm (64), after each of 4 feed-forwards
        assert adapters == 4 * (64 * 4 * 2 + 64) == 2304
        assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 2304
        assert (model.config.adapter_dim, model.config.adapter_form) == (4, "official")
    if text == "adapters-houlsby:4":  # dense(64->4)+bias, dense(4->64)+bias after each of the 4 feed-forwards
        assert adapters == 4 * (64 * 4 + 4 + 4 * 64 + 64)
        assert (model.config.adapter_dim, model.config.adapter_form) == (4, "houlsby")


def test_frozen_unties_a_tied_head_without_changing_the_function() -> None:
    model = _model().eval()  # no dropout: the same function twice
    ids, mask, labels = _batch()
    before = model.loss(ids, mask, labels).item()
    apply_text_transfer(model, Transfer.parse("frozen"), seed=0, steps=4)
    assert model.lm_head.weight is not model.shared.weight
    assert not model.config.tie_word_embeddings and not model.config.scale_decoder_outputs  # rescale folded in
    assert model.loss(ids, mask, labels).item() == pytest.approx(before, rel=1e-6)
    v11 = _model(replace(T5Config.preset("tiny-v1_1"), vocab_size=50))  # untied already: nothing to untie
    _, record = apply_text_transfer(v11, Transfer.parse("frozen"), seed=0, steps=4)
    assert record["lm_head"] == "untied already"


def _source() -> TrainSource:
    inputs = [[2 + i % 9, 3 + i % 5, 4 + i % 7, 1] for i in range(40)]
    targets = [[10 + (i % 9 > 4), 1] for i in range(40)]
    return TrainSource("toy", inputs, targets)


def _finetune(model: T5, cfg: TrainConfig, ckpt, evaluate=None, progress=None):
    evaluate = evaluate or (lambda step: {"toy": {"accuracy": float(step)}})
    return finetune(model, TrainStream([_source()], cfg.batch_tokens, cfg.seed), cfg, ckpt, evaluate,
                    lambda task, step: None, progress=progress)


def test_gradual_unfreezing_opens_both_stacks_from_the_top_and_frozen_weights_stay_put(tmp_path) -> None:
    cfg = TrainConfig(steps=4, eval_every=4, batch_tokens=64, seed=1, transfer="gradual-unfreezing")
    model, seen = _model(), {}
    record = lambda state: seen.setdefault(state.step, {_group(n) for n, p in model.named_parameters()  # noqa: E731
                                                        if p.requires_grad})
    state = _finetune(model, cfg, tmp_path / "g.pt", progress=record)
    every = BLOCKS | NORMS | {"shared", "encoder_bias", "decoder_bias"}
    assert [seen[s] for s in (1, 2, 3, 4)] == [TOP | {"shared", "encoder_norm", "decoder_norm"}] * 2 + [every] * 2
    assert [(e["first_step"], e["last_step"], e["encoder_blocks"]) for e in state.transfer["episodes"]] == [
        (1, 2, [1]), (3, 4, [0, 1])]
    assert state.trainable_parameters < state.trainable_parameters_last == sum(p.numel() for p in model.parameters())

    frozen, before = _model(), _model().state_dict()
    _finetune(frozen, replace(cfg, transfer="frozen"), tmp_path / "f.pt")
    after = frozen.state_dict()
    moved = {_group(k) for k in before if not torch.equal(after[k], before[k])}
    assert moved == {"decoder_layers.1", "decoder_layers.1.norms", "decoder_norm", "lm_head"}  # not `shared`


def test_an_adapters_run_resumes_after_a_crash_to_identical_weights(tmp_path) -> None:
    cfg = TrainConfig(steps=4, eval_every=2, batch_tokens=64, seed=1, transfer="adapters:4")
    reference = _model()
    _finetune(reference, cfg, tmp_path / "a.pt")

    def crash_at_4(step: int) -> dict:
        if step == 4:
            raise RuntimeError("simulated crash")
        return {"toy": {"accuracy": 0.0}}

    with pytest.raises(RuntimeError):
        _finetune(_model(), cfg, tmp_path / "b.pt", evaluate=crash_at_4)
    resumed = _model()  # a fresh pre-trained model: adapters are added before the checkpoint is loaded
    state = _finetune(resumed, cfg, tmp_path / "b.pt")
    assert state.resumed_from == [2]
    ref = reference.state_dict()
    assert set(ref) == set(resumed.state_dict()) and any(".adapter." in k for k in ref)
    for name, value in resumed.state_dict().items():
        assert torch.equal(value, ref[name]), name


def test_an_adapters_run_records_and_reloads_its_best_weights_and_never_reuses_an_all_run(
        finetuned, tmp_path, vocab_path, data_dir, capsys) -> None:
    from t5eval.model import load_model, state_dict_sha256

    out = tmp_path / "adapters"
    assert cli(["run", *FT_ARGS, *base_args(vocab_path, data_dir), "--transfer", "adapters:4", "--out", out]) == 0
    record = read_json(out / "run.json")
    train = record["tasks"][CB]["train"]
    assert train["transfer"] == "adapters:4" and record["settings"]["finetune"]["transfer"] == "adapters:4"
    # official form: wi 64x4 + wo 4x64 + the adapter's norm 64, after each of the 4 feed-forwards; nothing else
    assert train["trainable_parameters"] == train["trainable_parameters_last"] == 4 * (64 * 4 * 2 + 64)
    assert train["transfer_detail"]["adapter_form"] == "official"
    best = load_model(str(out / CB / "best"))
    assert (best.config.adapter_dim, best.config.adapter_form) == (4, "official")
    saved = read_json(out / CB / "best" / "config.json")
    assert (saved["adapter_dim"], saved["adapter_form"]) == (4, "official")
    assert state_dict_sha256(best.model) == record["tasks"][CB]["weights_sha256"]
    assert record["tasks"][CB]["throughput"]["cached_examples"] == 4  # best/ reloads to the validated weights
    capsys.readouterr()
    assert cli(["run", *FT_ARGS, *base_args(vocab_path, data_dir), "--transfer", "adapters:4",
                "--out", finetuned]) == 2
    assert "different settings (finetune.transfer: None there, 'adapters:4' now)" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "message"), [
    (["--transfer", "adapters:0"], "--transfer adapters:0: the adapter size must be a positive integer"),
    (["--transfer", "frozen", "--no-finetune"], "--transfer frozen chooses what fine-tuning trains"),
    (["--transfer", "gradual-unfreezing", "--steps", "1"], "needs --steps 2 or more, got 1"),
])
def test_meaningless_transfers_are_one_line_errors_and_write_nothing(extra, message, tmp_path, vocab_path,
                                                                    data_dir, capsys) -> None:
    out = tmp_path / "refused"
    assert cli(["run", "cb", *base_args(vocab_path, data_dir), *extra, "--out", out]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("preset", ["tiny-lm", "tiny-gpt2"])
def test_a_text_to_text_model_other_than_t5_or_a_distributed_run_refuses_a_transfer(preset: str) -> None:
    from t5eval.model import load_model

    decoder_only = load_model(preset, init="random").model  # the paper's LM / GPT-2: no encoder-decoder
    with pytest.raises(T5evalError, match="defined for T5's encoder-decoder and for task heads"):
        check_text_transfer(decoder_only, "adapters:8", steps=10, finetune=True, distributed=False)
    assert check_text_transfer(decoder_only, "all", steps=10, finetune=True, distributed=False).kind == "all"
    with pytest.raises(T5evalError, match="one process only"):
        check_text_transfer(_model(), "frozen", steps=10, finetune=True, distributed=True)
