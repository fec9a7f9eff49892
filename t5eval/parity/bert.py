"""Native BERT vs transformers' BertModel on real texts: hidden states and pooled output (`t5eval parity`).

Same JSON keys as T5's parity (`max_abs_logit_diff` is the largest hidden-state difference here);
`greedy_match` is null: an encoder-only model generates nothing, so there is no greedy output to
compare (`greedy_match_note` says so). transformers is imported lazily, inside functions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from t5eval.model import Bert, load_model
from t5eval.parity.t5 import task_texts
from t5eval.tokenizer import WordPieceTokenizer

NO_GREEDY = "encoder-only model: nothing is generated, so greedy agreement does not apply"


@dataclass(frozen=True)
class BertParityResult:
    """What `t5eval parity` prints and writes for a BERT checkpoint."""

    model: str
    n: int
    max_abs_logit_diff: float  # hidden states over real (non-pad) positions
    greedy_match: None
    max_decode_len: int
    tasks: str
    model_type: str
    max_rel_hidden_diff: float  # max |diff| / max |reference|
    max_abs_pooled_diff: float
    max_rel_pooled_diff: float
    greedy_match_note: str = NO_GREEDY


def _pad(rows: list[list[int]], pad: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [pad] * (width - len(r)) for r in rows])


def compare_bert(native: Bert, reference: torch.nn.Module, tokenizer: WordPieceTokenizer,
                 pairs: list[tuple[str, str]], batch_size: int = 16) -> dict[str, float]:
    """Max abs and relative differences of hidden states (B,S,D) and pooled outputs (B,D) over `pairs`."""
    max_len = native.config.max_position_embeddings
    worst = {"hidden": 0.0, "hidden_ref": 0.0, "pooled": 0.0, "pooled_ref": 0.0}
    for start in range(0, len(pairs), batch_size):
        enc = tokenizer.encode_batch(list(pairs[start:start + batch_size]), max_len)
        ids, types = _pad([e.ids for e in enc], tokenizer.pad_id), _pad([e.type_ids for e in enc], 0)
        mask = _pad([[1] * len(e.ids) for e in enc], 0)
        with torch.inference_mode():
            hidden, pooled = native(ids, mask, types)
            out = reference(input_ids=ids, attention_mask=mask, token_type_ids=types)
        keep = mask.bool()[..., None]
        worst["hidden"] = max(worst["hidden"], float(((hidden - out.last_hidden_state).abs() * keep).max()))
        worst["hidden_ref"] = max(worst["hidden_ref"], float((out.last_hidden_state.abs() * keep).max()))
        worst["pooled"] = max(worst["pooled"], float((pooled - out.pooler_output).abs().max()))
        worst["pooled_ref"] = max(worst["pooled_ref"], float(out.pooler_output.abs().max()))
    return worst


def run_bert_parity(model_dir: Path, vocab: Path | None = None, data_dir: Path | None = None, n: int = 64,
                    tasks: str = "rte", max_decode_len: int = 32, json_out: Path | None = None) -> BertParityResult:
    """Load `model_dir` natively and as transformers' BertModel; compare on n real (inputs, target) pairs."""
    from transformers import BertModel

    loaded = load_model(model_dir)
    tokenizer = WordPieceTokenizer.find(model_dir, vocab)
    tokenizer.check_fits(loaded.config.vocab_size)
    pairs = task_texts(tasks, data_dir, n)  # segment A = the task's input text, B = its target text
    reference = BertModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    worst = compare_bert(loaded.model, reference, tokenizer, pairs)
    result = BertParityResult(
        str(model_dir), len(pairs), worst["hidden"], None, max_decode_len, tasks, "bert",
        worst["hidden"] / max(worst["hidden_ref"], 1e-30), worst["pooled"],
        worst["pooled"] / max(worst["pooled_ref"], 1e-30))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result
