"""Native T5 vs transformers on real texts: logits, greedy ids, caching, padding invariance."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from t5eval.model import DecodeConfig, generate, load_model
from t5eval.tokenizer import T5Tokenizer

from .conftest import batch_of, hf_model, mixed_texts, rte_texts

CONFIGS = ["tiny_dir", "tiny_v11_dir", "small_dir"]


def _inputs(vocab: Path, n: int, max_len: int) -> list[list[int]]:
    tok = T5Tokenizer(vocab)
    texts = [x for x, _ in rte_texts(n)]
    return [tok.encode(t, max_len=max_len) for t in texts]


@pytest.mark.parametrize("fixture", CONFIGS)
def test_logits_match_transformers(fixture: str, request: pytest.FixtureRequest, vocab_path: Path) -> None:
    model_dir = request.getfixturevalue(fixture)
    tok = T5Tokenizer(vocab_path)
    pairs = rte_texts(8)
    input_ids, mask = batch_of([tok.encode(x, max_len=96) for x, _ in pairs])
    targets = [[0, *tok.encode(y)] for _, y in pairs]  # decoder input: start 0 + target + EOS
    dec, _ = batch_of(targets)
    ours = load_model(model_dir).model
    with torch.no_grad():
        expected = hf_model(model_dir)(input_ids=input_ids, attention_mask=mask, decoder_input_ids=dec).logits
        got = ours(input_ids, mask, dec)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() < 1e-4


@pytest.mark.parametrize(("fixture", "n", "steps"), [("tiny_dir", 64, 24), ("tiny_v11_dir", 64, 24),
                                                      ("small_dir", 64, 6)])
def test_greedy_ids_match_transformers(fixture: str, n: int, steps: int, request: pytest.FixtureRequest,
                                       vocab_path: Path) -> None:
    model_dir = request.getfixturevalue(fixture)
    input_ids, mask = batch_of(_inputs(vocab_path, n, 40 if fixture == "small_dir" else 128))
    with torch.no_grad():
        hf_out = hf_model(model_dir).generate(input_ids=input_ids, attention_mask=mask, num_beams=1,
                                              do_sample=False, max_new_tokens=steps)
    expected = [[t for t in row[1:].tolist()] for row in hf_out]
    expected = [row[: row.index(1) + 1] if 1 in row else row for row in expected]  # HF pads after EOS
    got = generate(load_model(model_dir).model, input_ids, mask, DecodeConfig(max_decode_len=steps))
    assert got == expected
    lengths = {len(row) for row in got}
    assert min(lengths) < steps, "no decode ended early: the finished-row path was not exercised"


def _uncached_greedy(model: torch.nn.Module, input_ids: torch.Tensor, mask: torch.Tensor, steps: int) -> list:
    """Reference decode: recompute the full teacher-forced forward pass at every step."""
    rows = []
    with torch.no_grad():
        for i in range(input_ids.shape[0]):
            dec = torch.zeros(1, 1, dtype=torch.long)
            for _ in range(steps):
                nxt = model(input_ids[i:i + 1], mask[i:i + 1], dec)[0, -1].argmax()
                dec = torch.cat([dec, nxt.view(1, 1)], dim=1)
                if nxt.item() == 1:
                    break
            rows.append(dec[0, 1:].tolist())
    return rows


@pytest.mark.parametrize("fixture", ["tiny_dir", "tiny_v11_dir"])
def test_cached_equals_uncached(fixture: str, request: pytest.FixtureRequest, vocab_path: Path) -> None:
    model = load_model(request.getfixturevalue(fixture)).model
    input_ids, mask = batch_of(_inputs(vocab_path, 8, 128))
    got = generate(model, input_ids, mask, DecodeConfig(max_decode_len=20))
    assert got == _uncached_greedy(model, input_ids, mask, 20)


@pytest.mark.parametrize("beam_size", [1, 4])
def test_batch_of_one_equals_padded_batch(beam_size: int, tiny_dir: Path, vocab_path: Path) -> None:
    tok = T5Tokenizer(vocab_path)
    ids = [tok.encode(t, max_len=128) for t in mixed_texts()[:16]]
    model = load_model(tiny_dir).model
    decode = DecodeConfig(beam_size=beam_size, max_decode_len=20)
    batched = generate(model, *batch_of(ids), decode)
    single = [generate(model, *batch_of([x]), decode)[0] for x in ids]
    assert batched == single
    assert len({len(x) for x in ids}) > 4  # the batch really was padded to different lengths


@pytest.mark.parametrize("fixture", ["tiny_dir", "tiny_v11_dir"])
def test_loss_matches_transformers(fixture: str, request: pytest.FixtureRequest, vocab_path: Path) -> None:
    model_dir = request.getfixturevalue(fixture)
    tok = T5Tokenizer(vocab_path)
    pairs = rte_texts(6)
    input_ids, mask = batch_of([tok.encode(x, max_len=64) for x, _ in pairs])
    labels, label_mask = batch_of([tok.encode(y) for _, y in pairs])
    labels = labels.masked_fill(label_mask == 0, -100)
    with torch.no_grad():
        expected = hf_model(model_dir)(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        got = load_model(model_dir).model.loss(input_ids, mask, labels)
    assert abs(got.item() - expected.item()) < 1e-5
