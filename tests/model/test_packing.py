"""Packed fine-tuning (T5/seqio packing): a packed row gives each of its examples the loss it has alone.

Reference: each example run alone through the plain (unpacked) `T5.loss`, which tests/model/test_parity
holds to transformers; nothing of the packing code is used for it.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from t5eval.batching import pack_greedy, pack_rows
from t5eval.model import T5, T5Config

EXAMPLES = [  # (input ids, target ids): different lengths, each ending in EOS (1)
    ([5, 17, 300, 42, 1], [7, 1]),
    ([9, 1], [88, 23, 1]),
    ([400, 401, 402, 403, 404, 405, 406, 1], [5, 1]),
    ([12, 13, 14, 1], [31, 32, 33, 34, 1]),
    ([77, 78, 1], [1]),
]
ROWS = [[0, 1, 2], [3, 4]]  # two packed rows (the second shorter: padding at its end)


@pytest.fixture(scope="module", params=["tiny", "tiny-v1_1"])
def model(request) -> T5:
    torch.manual_seed(0)
    return T5(dataclasses.replace(T5Config.preset(request.param), dropout_rate=0.0)).eval()


def _alone(model: T5, example: tuple[list[int], list[int]]) -> float:
    ids, labels = torch.tensor([example[0]]), torch.tensor([example[1]])
    with torch.no_grad():
        return float(model.loss(ids, torch.ones_like(ids), labels))


def _packed_per_example(model: T5, batch) -> list[float]:
    with torch.no_grad():
        tokens = model.token_losses(batch.input_ids, batch.attention_mask, batch.labels, batch.packing)  # (B, T)
    segments = batch.packing[1]
    out = []
    for row, members in enumerate(ROWS):
        for k in range(1, len(members) + 1):
            out.append(float(tokens[row][segments[row] == k].mean()))
    return out


def test_packed_rows_hand_checked():
    batch = pack_rows([[EXAMPLES[i] for i in row] for row in ROWS])
    assert batch.input_ids[1].tolist() == [12, 13, 14, 1, 77, 78, 1] + [0] * 8
    segments, target_segments, target_positions = batch.packing
    assert segments[1].tolist() == [1, 1, 1, 1, 2, 2, 2] + [0] * 8
    assert batch.input_positions[1].tolist() == [0, 1, 2, 3, 0, 1, 2] + [0] * 8
    assert batch.labels[0].tolist() == [7, 1, 88, 23, 1, 5, 1]
    assert target_segments[0].tolist() == [1, 1, 2, 2, 2, 3, 3]
    assert target_positions[0].tolist() == [0, 1, 0, 1, 2, 0, 1]
    assert batch.labels[1].tolist() == [31, 32, 33, 34, 1, 1, -100]
    assert batch.n_tokens == (5 + 2 + 8 + 4 + 3) + 13 and batch.n_target_tokens == 2 + 3 + 2 + 5 + 1


def test_each_packed_example_has_its_loss_alone(model):
    batch = pack_rows([[EXAMPLES[i] for i in row] for row in ROWS])
    want = [_alone(model, EXAMPLES[i]) for row in ROWS for i in row]
    got = _packed_per_example(model, batch)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-5)
    # the batch loss is the mean over all target tokens of the row tokens
    lengths = [len(EXAMPLES[i][1]) for row in ROWS for i in row]
    with torch.no_grad():
        mean = float(model.loss(batch.input_ids, batch.attention_mask, batch.labels, batch.packing))
    assert mean == pytest.approx(sum(w * n for w, n in zip(want, lengths, strict=True)) / sum(lengths), rel=1e-5)


def test_without_segments_the_examples_leak_into_each_other(model):
    """The check above can fail: the same rows without segment masks give other losses."""
    batch = pack_rows([[EXAMPLES[i] for i in row] for row in ROWS])
    _, target_segments, positions = batch.packing
    everything_one = (torch.ones_like(batch.packing[0]) * batch.attention_mask, (target_segments > 0).long(),
                      positions)
    with torch.no_grad():
        leaked = model.token_losses(batch.input_ids, batch.attention_mask, batch.labels, everything_one)
    want = torch.tensor([_alone(model, EXAMPLES[i]) for i in ROWS[0]])
    got = torch.stack([leaked[0][target_segments[0] == k].mean() for k in (1, 2, 3)])
    assert not torch.allclose(got, want, atol=1e-4)


def test_pack_greedy_fills_rows_in_order_and_gives_long_examples_their_own_row():
    # (input, target) lengths with a row length of 8: 3+4 fit, then 2 would pass 8 inputs
    assert pack_greedy([(3, 1), (4, 2), (2, 1), (6, 5), (10, 1), (1, 1)], 8) == [[0, 1], [2, 3], [4], [5]]
    assert pack_greedy([(1, 5), (1, 4)], 8) == [[0], [1]]  # targets decide too
