"""Beam search: exact against exhaustive search on a tiny vocabulary, and against transformers."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from torch import nn

from t5eval.model import DecodeConfig, T5Config, generate, load_model
from t5eval.model.t5.weights import random_model
from t5eval.tokenizer import T5Tokenizer

from .conftest import batch_of, hf_model, rte_texts

EOS = 1


def _exhaustive_best(model: nn.Module, input_ids: torch.Tensor, mask: torch.Tensor, vocab: int,
                     max_len: int, alpha: float) -> list[list[int]]:
    """Score every sequence that ends in EOS within max_len by log p / ((5 + len) / 6) ** alpha."""
    tokens = [v for v in range(vocab) if v != EOS]
    prefixes = torch.tensor(list(itertools.product(tokens, repeat=max_len - 1)))  # (P, L-1)
    dec = torch.cat([torch.zeros(len(prefixes), 1, dtype=torch.long), prefixes], dim=1)  # (P, L)
    best = []
    with torch.no_grad():
        for i in range(input_ids.shape[0]):
            rows = len(prefixes)
            logp = torch.log_softmax(model(input_ids[i:i + 1].expand(rows, -1), mask[i:i + 1].expand(rows, -1),
                                           dec).float(), dim=-1)  # (P, L, V)
            step_lp = logp[:, :-1].gather(2, prefixes[..., None])[..., 0]  # (P, L-1)
            prefix_lp = torch.cat([torch.zeros(rows, 1), step_lp.cumsum(1)], dim=1)  # (P, L): lp of first j
            candidates = []
            for length in range(1, max_len + 1):  # sequence = prefix[:length-1] + EOS
                score = (prefix_lp[:, length - 1] + logp[:, length - 1, EOS]) / ((5 + length) / 6) ** alpha
                j = int(score.argmax())
                candidates.append((float(score[j]), [*prefixes[j, : length - 1].tolist(), EOS]))
            best.append(max(candidates)[1])
    return best


def test_beam_equals_exhaustive_search_on_tiny_vocab() -> None:
    vocab, max_len = 6, 4
    cfg = T5Config(vocab_size=vocab, d_model=16, d_kv=4, d_ff=32, num_heads=4, num_layers=2, num_decoder_layers=2)
    model = random_model(cfg, seed=3, dtype=torch.float32, device="cpu", source="test").model
    with torch.no_grad():  # sharper distributions, a weaker EOS row; the best and second-best
        model.shared.weight.mul_(2.5)  # hypotheses differ by > 0.1 in score, so no float near-ties
        model.shared.weight[EOS].mul_(0.8)
    torch.manual_seed(0)
    input_ids, mask = batch_of([[*torch.randint(2, vocab, (n,)).tolist(), EOS] for n in (3, 7, 5, 2, 9, 4, 6, 8)])
    lengths = set()
    for alpha in (0.0, 0.6, 2.0):
        # With 2K >= every candidate of every step (5**3 alive prefixes x 6 tokens), Mesh TF's beam
        # search keeps every hypothesis, so it must return the exhaustive optimum.
        decode = DecodeConfig(beam_size=375, alpha=alpha, max_decode_len=max_len)
        got = generate(model, input_ids, mask, decode)
        assert got == _exhaustive_best(model, input_ids, mask, vocab, max_len, alpha), alpha
        lengths |= {len(x) for x in got}
    assert min(lengths) < max_len < max(lengths) + 1  # winners end early (EOS first) and at the limit


class _NoEos(nn.Module):
    """Wraps an lm head so EOS can never be chosen (logit -1e4), identically in both models."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.head(hidden).clone()
        logits[..., EOS] = -1e4
        return logits


@pytest.mark.parametrize("fixture", ["tiny_dir", "tiny_v11_dir"])
def test_beam_equals_transformers_without_eos(fixture: str, request: pytest.FixtureRequest,
                                              vocab_path: Path) -> None:
    """Where T5's and transformers' beam searches provably coincide.

    They differ in (a) the length penalty (GNMT ((5+len)/6)**alpha vs len**length_penalty), (b) which
    EOS candidates may finish (T5: any of the top 2K; HF: only the top K), (c) what happens at the
    length limit (T5 prefers any finished hypothesis; HF also ranks the unfinished ones). With EOS
    impossible (its logit forced to -1e4 in both models) no hypothesis ever finishes, so (b) and (c)
    vanish, and both reduce to "keep the K best cumulative log-probs, return the best": T5 returns
    alive[0]; HF scores the K unfinished beams by sum_logprobs / len**0 (length_penalty=0), the same
    order. alpha is then irrelevant for T5 (no finished hypotheses are ever scored).
    """
    model_dir = request.getfixturevalue(fixture)
    tok = T5Tokenizer(vocab_path)
    input_ids, mask = batch_of([tok.encode(x, max_len=64) for x, _ in rte_texts(12)])
    hf = hf_model(model_dir)
    hf.lm_head = _NoEos(hf.lm_head)
    with torch.no_grad():
        out = hf.generate(input_ids=input_ids, attention_mask=mask, num_beams=4, do_sample=False,
                          length_penalty=0.0, early_stopping=False, max_new_tokens=8)
    ours = load_model(model_dir).model
    ours.lm_head = _NoEos(ours.lm_head)
    got = generate(ours, input_ids, mask, DecodeConfig(beam_size=4, alpha=0.0, max_decode_len=8))
    assert got == [row[1:].tolist() for row in out]


def test_beam_one_is_greedy_and_beam_rows_end_at_eos(tiny_dir: Path, vocab_path: Path) -> None:
    tok = T5Tokenizer(vocab_path)
    input_ids, mask = batch_of([tok.encode(x, max_len=64) for x, _ in rte_texts(8)])
    model = load_model(tiny_dir).model
    beams = generate(model, input_ids, mask, DecodeConfig(beam_size=4, max_decode_len=16))
    assert all(row[-1] == EOS or len(row) == 16 for row in beams)
    assert all(EOS not in row[:-1] for row in beams)
    assert generate(model, input_ids, mask, DecodeConfig(beam_size=1, max_decode_len=16)) == \
        generate(model, input_ids, mask, DecodeConfig(max_decode_len=16))
