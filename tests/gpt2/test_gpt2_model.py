"""Native GPT-2 vs transformers' GPT2LMHeadModel on real texts: logits, greedy ids, the cached step."""

from __future__ import annotations

from pathlib import Path

import torch

from t5eval.model import LMDecodeConfig, generate, load_model
from t5eval.tokenizer.gpt2 import GPT2Tokenizer

from .conftest import GPT2_VOCAB, real_texts


def _right_padded(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return ids, mask


def _prompts(n: int, max_len: int = 96) -> list[list[int]]:
    tok = GPT2Tokenizer(GPT2_VOCAB)
    return [tok.encode(t, max_len=max_len) for t in real_texts(n)]


def test_logits_match_transformers_relative_1e4(gpt2_dir: Path, hf_gpt2: torch.nn.Module) -> None:
    """Done-means of issue 16: max |Δlogit| <= 1e-4 of the logits' scale on real texts (right padding)."""
    ids, mask = _right_padded(_prompts(12))
    ours = load_model(gpt2_dir).model
    with torch.no_grad():
        expected = hf_gpt2(input_ids=ids, attention_mask=mask).logits  # (B, T, V)
        got = ours(ids, mask)
    keep = mask.bool()
    scale = expected[keep].abs().max().item()
    diff = (got - expected)[keep].abs().max().item()
    assert scale > 0.1
    assert diff <= 1e-4 * scale, (diff, scale)


def test_greedy_equals_transformers_generate(gpt2_dir: Path, hf_gpt2: torch.nn.Module) -> None:
    """Our greedy continuation (right-padded batch, cached step) == transformers' generate (left padding)."""
    prompts = _prompts(12, max_len=48)
    ids, mask = _right_padded(prompts)
    ours = generate(load_model(gpt2_dir).model, ids, mask, LMDecodeConfig(max_new_tokens=20))
    width = ids.shape[1]
    left = torch.tensor([[50256] * (width - len(p)) + p for p in prompts])
    left_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.no_grad():
        out = hf_gpt2.generate(input_ids=left, attention_mask=left_mask, do_sample=False, num_beams=1,
                               max_new_tokens=20, pad_token_id=50256)
    theirs = [row[width:].tolist() for row in out]
    theirs = [r[: r.index(50256) + 1] if 50256 in r else r for r in theirs]
    assert ours == theirs


def test_cached_steps_equal_full_forward(gpt2_dir: Path) -> None:
    """Logits of each cached step equal a full forward pass over prompt + generated tokens."""
    model = load_model(gpt2_dir).model
    prompt = _prompts(1, max_len=30)[0]
    new = generate(model, torch.tensor([prompt]), torch.ones(1, len(prompt), dtype=torch.long),
                   LMDecodeConfig(max_new_tokens=8))[0]
    full = torch.tensor([prompt + new])
    with torch.no_grad():
        logits = model(full)[0]  # (T, V)
    assert [int(logits[len(prompt) - 1 + i].argmax()) for i in range(len(new))] == new


def test_top_k_sampling_is_seeded_per_row(gpt2_dir: Path) -> None:
    """k=2 draws stay among the two best tokens, repeat with the seed, and do not depend on the batch."""
    model = load_model(gpt2_dir).model
    prompts = _prompts(4, max_len=24)
    ids, mask = _right_padded(prompts)
    cfg = LMDecodeConfig(max_new_tokens=10, top_k=2, seed=7)
    batch = generate(model, ids, mask, cfg)
    alone = [generate(model, torch.tensor([p]), torch.ones(1, len(p), dtype=torch.long), cfg)[0] for p in prompts]
    assert batch == alone
    assert batch == generate(model, ids, mask, cfg)
    other = generate(model, ids, mask, LMDecodeConfig(max_new_tokens=10, top_k=2, seed=8))
    assert other != batch
    greedy = generate(model, ids, mask, LMDecodeConfig(max_new_tokens=10))
    assert greedy != batch
    seq = prompts[0] + batch[0]
    with torch.no_grad():
        logits = model(torch.tensor([seq]))[0]
    for i, token in enumerate(batch[0]):
        assert token in logits[len(prompts[0]) - 1 + i].topk(2).indices.tolist()
