"""End-to-end evaluation measure of `t5eval bench`: tokenize → decode → postprocess → score a real task.

Each implementation runs the task twice: batches in file order, and batches of rows sorted by
input length (length bucketing), so the cost of padding is visible. Predictions of every run are
compared with the native file-order run: bucketing must not change a single output.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from t5eval.bench.impls import Impl
from t5eval.bench.measures import compare_outputs
from t5eval.bench.timing import sync
from t5eval.errors import T5evalError
from t5eval.model import DecodeConfig


@dataclass(frozen=True)
class E2EConfig:
    """Which task, how many examples, batch size and an optional cap on the decode length."""

    task: str
    limit: int | None
    batch_size: int
    data_dir: Path | None
    vocab: Path | None
    max_decode_len: int | None = None
    model_dir: Path | None = None  # a checkpoint's spiece.model is used when --vocab is not given


def _eval_split(spec: Any) -> str:
    """The split T5 reports for the task (the validation split for GLUE/SuperGLUE)."""
    for role in ("eval", "validation", "test"):
        if role in spec.splits:
            return str(spec.splits[role])
    return str(next(iter(spec.splits.values())))


def load_task(cfg: E2EConfig) -> dict[str, Any]:
    """Task spec, examples, tokenizer, encoded inputs and decode settings, or a one-line error."""
    try:
        from t5eval.tasks import TaskRegistry, load_examples
        from t5eval.tokenizer import T5Tokenizer
    except ImportError as err:  # the task/tokenizer modules land in parallel with the bench
        raise T5evalError(f"end-to-end measure needs t5eval.tasks and t5eval.tokenizer ({err}); "
                          "run with --skip e2e") from err
    spec = TaskRegistry.default().get(cfg.task)
    examples = load_examples(spec, _eval_split(spec), data_dir=cfg.data_dir, limit=cfg.limit).examples
    tok = T5Tokenizer.find(cfg.model_dir, cfg.vocab)
    decode = dict(spec.decode)
    if cfg.max_decode_len is not None:
        decode["max_decode_len"] = cfg.max_decode_len
    inputs = [tok.encode(ex.inputs) for ex in examples]  # eval inputs are not cut (spec §0)
    return {"spec": spec, "examples": examples, "tok": tok, "inputs": inputs, "decode": DecodeConfig(**decode)}


def batches(lengths: list[int], batch_size: int, bucket: bool) -> list[list[int]]:
    """Row indices per batch: file order, or sorted by (length, index) when bucketing."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i)) if bucket else list(range(len(lengths)))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _pad(seqs: list[list[int]], device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad with 0 (T5's pad): ids (B, S) and mask (B, S)."""
    width = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), width), dtype=torch.long)  # (B, S)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)  # (B, S)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    return ids.to(device), mask.to(device)


def run_task(impl: Impl, task: dict[str, Any], batch_size: int, bucket: bool, device: str) -> dict[str, Any]:
    """Decode and score the whole task once; wall time covers padding, decoding, detok and scoring."""
    from t5eval.tasks import compute_metrics, postprocess

    spec, examples, tok, inputs = task["spec"], task["examples"], task["tok"], task["inputs"]
    sync(device)
    start = time.perf_counter()
    preds: list[list[int]] = [[] for _ in examples]
    padded = 0
    for rows in batches([len(s) for s in inputs], batch_size, bucket):
        ids, mask = _pad([inputs[i] for i in rows], device)
        padded += ids.numel()
        for i, out in zip(rows, impl.generate(ids, mask, task["decode"], False), strict=True):
            preds[i] = out
    texts = [tok.decode(p) for p in preds]
    pred_values = [postprocess(spec, t, ex, False) for t, ex in zip(texts, examples, strict=True)]
    target_values = [postprocess(spec, ex.targets, ex, True) for ex in examples]
    metrics = compute_metrics(spec, target_values, pred_values)
    sync(device)
    wall = time.perf_counter() - start
    generated = sum(len(p) for p in preds)
    return {"wall_s": wall, "examples_per_s": len(examples) / wall, "generated_tokens": generated,
            "generated_tokens_per_s": generated / wall, "input_tokens": sum(len(s) for s in inputs),
            "padded_input_tokens": padded, "metrics": metrics, "_preds": preds}


def measure_e2e(impls: list[Impl], cfg: E2EConfig, device: str, repeats: int = 1) -> dict[str, Any]:
    """Run every implementation without and with bucketing, alternating; report medians and agreement.

    A warm-up pass on the first batch (untimed) pays one-off costs first: lazy imports of the
    metric libraries, allocator growth, the first use of each kernel.
    """
    task = load_task(cfg)
    warm = dict(task, examples=task["examples"][: cfg.batch_size], inputs=task["inputs"][: cfg.batch_size])
    for impl in impls:
        run_task(impl, warm, cfg.batch_size, False, device)
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _ in range(repeats):
        for mode in ("file_order", "bucketed"):
            for impl in impls:
                runs.setdefault((impl.name, mode), []).append(
                    run_task(impl, task, cfg.batch_size, mode == "bucketed", device))
    out: dict[str, Any] = {"task": cfg.task, "n": len(task["examples"]), "batch_size": cfg.batch_size,
                           "repeats": repeats, "decode": dataclasses.asdict(task["decode"])}
    reference = runs[("native", "file_order")][0]["_preds"]
    for (name, mode), results in runs.items():
        res = _median_run(results)
        res.update(compare_outputs(res.pop("_preds"), reference))
        out.setdefault(name, {})[mode] = res
    return _e2e_summary(out)


def _median_run(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time, plus every wall time (identical outputs across repeats)."""
    ordered = sorted(results, key=lambda r: r["wall_s"])
    res = dict(ordered[(len(ordered) - 1) // 2])
    res["times_s"] = [round(r["wall_s"], 4) for r in results]
    return res


def _e2e_summary(out: dict[str, Any]) -> dict[str, Any]:
    """Ratios (transformers time / native time), bucketing speed-ups and the overall agreement flag."""
    nat, hf = out["native"], out["transformers"]
    out["ratio"] = {k: hf[k]["wall_s"] / nat[k]["wall_s"] for k in ("file_order", "bucketed")}
    out["bucketing_speedup"] = {name: out[name]["file_order"]["wall_s"] / out[name]["bucketed"]["wall_s"]
                                for name in ("native", "transformers")}
    out["outputs_identical"] = all(out[n][k]["outputs_identical"] for n in ("native", "transformers")
                                   for k in ("file_order", "bucketed"))
    if "ctranslate2" in out:  # its agreement is reported, not required (beam ranking differs: docs/bench.md)
        ct2 = out["ctranslate2"]
        out["ratio_ct2"] = {k: ct2[k]["wall_s"] / nat[k]["wall_s"] for k in ("file_order", "bucketed")}
        out["bucketing_speedup"]["ctranslate2"] = ct2["file_order"]["wall_s"] / ct2["bucketed"]["wall_s"]
    return out
