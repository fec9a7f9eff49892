"""Native T5 vs transformers on real texts: teacher-forced logits and greedy ids (`t5eval parity`).

transformers is imported here only, lazily; `t5eval/model` never imports it.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from t5eval.model import T5, DecodeConfig, generate, load_model
from t5eval.tokenizer import T5Tokenizer


@dataclass(frozen=True)
class ParityResult:
    """What `t5eval parity` prints and writes as JSON."""

    model: str
    n: int
    max_abs_logit_diff: float
    greedy_match: float
    max_decode_len: int
    tasks: str
    model_type: str = "t5"
    max_abs_logit: float | None = None  # the reference's largest |logit| (the scale the diff is read against)


def write_result(result: ParityResult, json_out: Path | None) -> None:
    """Write `result` as JSON to `json_out` (when given)."""
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(asdict(result), indent=2) + "\n")


def task_texts(tasks: str, data_dir: Path | None, n: int) -> list[tuple[str, str]]:
    """Up to n (inputs, targets) pairs from the eval splits of `tasks`, taken round-robin (tasks API)."""
    from t5eval.tasks import TaskRegistry, load_examples

    specs = TaskRegistry.default().resolve(tasks)
    per_task = [load_examples(s, s.splits.get("eval") or "validation", data_dir, limit=n).examples for s in specs]
    mixed = [ex for group in itertools.zip_longest(*per_task) for ex in group if ex is not None]
    return [(ex.inputs, ex.targets) for ex in mixed[:n]]


def _pad(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists with 0 -> ids (B, S) and mask (B, S)."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return ids, mask


def _logit_diff(native: T5, reference: torch.nn.Module, inputs: list[list[int]], targets: list[list[int]]) -> float:
    """Max |native - reference| logit over the real (non-pad) target positions, teacher-forced."""
    ids, mask = _pad(inputs)
    dec, dec_mask = _pad([[0, *t[:-1]] for t in targets])  # decoder input = targets shifted right from 0
    with torch.inference_mode():
        ours = native(ids, mask, dec)  # (B, T, V)
        theirs = reference(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
    keep = dec_mask.bool()[..., None]
    return float(((ours - theirs).abs() * keep).max())


def _greedy_same(native: T5, reference: Any, inputs: list[list[int]], max_len: int) -> list[bool]:
    """Per row: native greedy ids == transformers' generate(num_beams=1, do_sample=False) ids."""
    ids, mask = _pad(inputs)
    ours = generate(native, ids, mask, DecodeConfig(beam_size=1, max_decode_len=max_len))
    with torch.inference_mode():
        out = reference.generate(input_ids=ids, attention_mask=mask, num_beams=1, do_sample=False,
                                 max_new_tokens=max_len)
    theirs = [row[1:].tolist() for row in out]
    theirs = [r[: r.index(1) + 1] if 1 in r else r for r in theirs]  # HF pads after EOS
    return [a == b for a, b in zip(ours, theirs, strict=True)]


def compare(native: T5, reference: torch.nn.Module, tokenizer: T5Tokenizer, pairs: list[tuple[str, str]],
            max_input_len: int = 512, max_decode_len: int = 32, batch_size: int = 16) -> tuple[float, float]:
    """(max abs logit diff, share of identical greedy outputs) over `pairs` of (inputs, targets)."""
    diff, same = 0.0, []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        inputs = [tokenizer.encode(x, max_len=max_input_len) for x, _ in chunk]
        targets = [tokenizer.encode(y, max_len=max_decode_len) for _, y in chunk]
        diff = max(diff, _logit_diff(native, reference, inputs, targets))
        same += _greedy_same(native, reference, inputs, max_decode_len)
    return diff, sum(same) / max(len(same), 1)


def run_parity(model_dir: Path, vocab: Path | None = None, data_dir: Path | None = None, n: int = 64,
               tasks: str = "rte", max_decode_len: int = 32, json_out: Path | None = None) -> ParityResult:
    """Load `model_dir` natively and with transformers, compare on n real texts, optionally write JSON."""
    from transformers import T5ForConditionalGeneration

    loaded = load_model(model_dir)
    tokenizer = T5Tokenizer.find(model_dir, vocab)
    tokenizer.check_fits(loaded.config.vocab_size)
    pairs = task_texts(tasks, data_dir, n)
    reference = T5ForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
    diff, match = compare(loaded.model, reference, tokenizer, pairs, max_decode_len=max_decode_len)
    result = ParityResult(str(model_dir), len(pairs), diff, match, max_decode_len, tasks)
    write_result(result, json_out)
    return result


def save_random_hf_model(out_dir: Path, preset: str, seed: int = 0) -> Path:
    """Save a seeded random-weight transformers T5 of a preset's shape, as a parity reference.

    transformers 5.23 always saves T5 with the lm head tied to `shared`; for untied (v1.1) presets
    a distinct `lm_head.weight` is added and `tie_word_embeddings` set false, as in the released
    v1.1 checkpoints.
    """
    import transformers
    from safetensors.torch import load_file, save_file

    from t5eval.model import T5Config

    cfg = T5Config.preset(preset)
    torch.manual_seed(seed)
    transformers.T5ForConditionalGeneration(transformers.T5Config(**cfg.to_hf())).save_pretrained(out_dir)
    if not cfg.tie_word_embeddings:
        weights = load_file(str(out_dir / "model.safetensors"))
        weights["lm_head.weight"] = torch.randn_like(weights["shared.weight"]) * cfg.d_model ** -0.5
        save_file(weights, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
        config = json.loads((out_dir / "config.json").read_text())
        config.pop("scale_decoder_outputs", None)
        (out_dir / "config.json").write_text(json.dumps(config | {"tie_word_embeddings": False}, indent=2))
    return out_dir
