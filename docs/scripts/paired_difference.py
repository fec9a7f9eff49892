"""Paired bootstrap of an accuracy difference between two runs on the same examples (docs/pretrain.md).

Usage: python docs/scripts/paired_difference.py RUN_A/TASK/predictions.jsonl RUN_B/TASK/predictions.jsonl
Prints accuracy A, accuracy B, B − A and its 95% percentile interval (1000 resamples of the examples, seed 0).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def correct(path: str) -> dict[int, bool]:
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
    return {r["index"]: r["prediction_value"] == r["target_value"] for r in rows}


def main(path_a: str, path_b: str, n_boot: int = 1000) -> None:
    a, b = correct(path_a), correct(path_b)
    if a.keys() != b.keys():
        raise SystemExit("the two runs scored different examples")
    keys = sorted(a)
    ca = np.array([a[k] for k in keys], dtype=float)
    cb = np.array([b[k] for k in keys], dtype=float)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(keys), size=(n_boot, len(keys)))
    diffs = (cb[idx].mean(axis=1) - ca[idx].mean(axis=1)) * 100
    low, high = np.percentile(diffs, [2.5, 97.5])
    print(json.dumps({"n": len(keys), "acc_a": round(ca.mean() * 100, 2), "acc_b": round(cb.mean() * 100, 2),
                      "b_minus_a": round((cb.mean() - ca.mean()) * 100, 2), "ci95": [round(low, 2), round(high, 2)],
                      "both_right": int((ca * cb).sum()), "only_a": int((ca * (1 - cb)).sum()),
                      "only_b": int(((1 - ca) * cb).sum())}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
