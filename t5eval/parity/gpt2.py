"""Native GPT-2 vs transformers' GPT2LMHeadModel on real texts: logits and greedy continuations.

transformers is imported here only, lazily; `t5eval/model` never imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from t5eval.model import GPT2, LMDecodeConfig, generate, load_model
from t5eval.parity.t5 import ParityResult, task_texts, write_result
from t5eval.tokenizer import GPT2Tokenizer

EOT = 50256


def _right(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    return (torch.tensor([r + [0] * (width - len(r)) for r in rows]),
            torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows]))


def _logit_diff(native: GPT2, reference: torch.nn.Module, rows: list[list[int]]) -> tuple[float, float]:
    """(max |native - reference|, max |reference|) over the real positions of right-padded rows."""
    ids, mask = _right(rows)
    with torch.inference_mode():
        ours = native(ids, mask)
        theirs = reference(input_ids=ids, attention_mask=mask).logits  # (B, T, V)
    keep = mask.bool()
    return float((ours - theirs)[keep].abs().max()), float(theirs[keep].abs().max())


def _greedy_same(native: GPT2, reference: Any, rows: list[list[int]], max_new: int) -> list[bool]:
    """Per row: our greedy continuation == transformers' generate(do_sample=False) on left-padded rows."""
    ids, mask = _right(rows)
    ours = generate(native, ids, mask, LMDecodeConfig(max_new_tokens=max_new))
    width = ids.shape[1]
    left = torch.tensor([[EOT] * (width - len(r)) + r for r in rows])
    left_mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    with torch.inference_mode():
        out = reference.generate(input_ids=left, attention_mask=left_mask, do_sample=False, num_beams=1,
                                 max_new_tokens=max_new, pad_token_id=EOT)
    theirs = [row[width:].tolist() for row in out]
    theirs = [r[: r.index(EOT) + 1] if EOT in r else r for r in theirs]  # HF pads after EOS
    return [a == b for a, b in zip(ours, theirs, strict=True)]


def compare(native: GPT2, reference: torch.nn.Module, texts: list[str], tokenizer: GPT2Tokenizer,
            max_len: int = 256, max_new: int = 32, batch_size: int = 16) -> tuple[float, float, float]:
    """(max abs logit diff, max |logit| of the reference, share of identical greedy continuations)."""
    diff, scale, same = 0.0, 0.0, []
    for start in range(0, len(texts), batch_size):
        rows = [tokenizer.encode(t, max_len=max_len) or [EOT] for t in texts[start:start + batch_size]]
        d, s = _logit_diff(native, reference, rows)
        diff, scale = max(diff, d), max(scale, s)
        same += _greedy_same(native, reference, rows, max_new)
    return diff, scale, sum(same) / max(len(same), 1)


def run_gpt2_parity(model_dir: Path, vocab: Path | None = None, data_dir: Path | None = None, n: int = 64,
                    tasks: str = "rte", max_decode_len: int = 32, json_out: Path | None = None) -> ParityResult:
    """Load `model_dir` natively and with transformers; compare on the eval inputs of `tasks`."""
    from transformers import GPT2LMHeadModel

    loaded = load_model(model_dir)
    tokenizer = GPT2Tokenizer.find(model_dir, vocab)
    tokenizer.check_fits(loaded.config.vocab_size)
    texts = [x for x, _ in task_texts(tasks, data_dir, n)]
    reference = GPT2LMHeadModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    diff, scale, match = compare(loaded.model, reference, texts, tokenizer, max_new=max_decode_len)
    result = ParityResult(str(model_dir), len(texts), diff, match, max_decode_len, tasks, "gpt2", scale)
    write_result(result, json_out)
    return result
