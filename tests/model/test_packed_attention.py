"""Per-example attention on packed rows (t5eval.model.segments): several length groups, and gradients.

Reference: each example alone through the plain (unpacked) `T5.loss`, which tests/model/test_parity holds
to transformers. tests/model/test_packing.py checks the losses with examples that all fall in one group.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from t5eval.batching import pack_rows
from t5eval.model import T5, T5Config
from t5eval.model.segments import length_groups, slots, spans

# input lengths 2, 5, 12, 30, 3: sorted 2, 3, 5 | 12 | 30 (a new group past max(1.25 x first, first + 8))
EXAMPLES = [
    ([9, 1], [88, 23, 1]),
    ([5, 17, 300, 42, 1], [7, 1]),
    ([*range(100, 111), 1], [5, 6, 7, 8, 1]),
    ([*range(200, 229), 1], [31, 1]),
    ([77, 78, 1], [1]),
]
ROWS = [[0, 1, 2], [3, 4]]


def test_length_groups_hand_checked():
    assert [g.tolist() for g in length_groups(torch.tensor([2, 5, 12, 30, 3]))] == [[0, 4, 1], [2], [3]]
    assert [g.tolist() for g in length_groups(torch.tensor([5, 2, 8, 4, 3]))] == [[1, 4, 3, 0, 2]]


def test_slots_place_each_example_at_its_own_positions():
    segments = torch.tensor([[1, 1, 2, 2, 2, 0], [1, 1, 1, 1, 0, 0]])  # (B=2, L=6)
    where = spans(segments)
    assert where.starts.tolist() == [0, 2, 6] and where.lengths.tolist() == [2, 3, 4]
    layout = slots(where, [torch.tensor([0, 1]), torch.tensor([2])])
    assert layout.gathers[0].tolist() == [[0, 1, 0], [2, 3, 4]] and layout.gathers[1].tolist() == [[6, 7, 8, 9]]
    assert layout.valid[0].tolist() == [[True, True, False], [True, True, True]]
    # slots: group 0 = 0..5, group 1 = 6..9, padding tokens -> 10 (the zero slot)
    assert layout.scatter.tolist() == [0, 1, 3, 4, 5, 10, 6, 7, 8, 9, 10, 10]


@pytest.fixture(scope="module", params=["tiny", "tiny-v1_1"])
def model(request) -> T5:
    torch.manual_seed(0)
    return T5(dataclasses.replace(T5Config.preset(request.param), dropout_rate=0.0)).eval()


def _summed_loss(model: T5, batch) -> torch.Tensor:
    return model.loss(batch.input_ids, batch.attention_mask, batch.labels, batch.packing, reduction="sum")


def test_packed_loss_and_gradients_equal_the_examples_alone(model):
    batch = pack_rows([[EXAMPLES[i] for i in row] for row in ROWS])
    assert len(length_groups(spans(batch.packing[0]).lengths)) == 3
    model.zero_grad()
    packed = _summed_loss(model, batch)
    packed.backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    alone = sum(model.loss(torch.tensor([x]), torch.ones(1, len(x), dtype=torch.long), torch.tensor([y]),
                           reduction="sum") for x, y in EXAMPLES)
    alone.backward()
    assert float(packed.detach()) == pytest.approx(float(alone.detach()), rel=1e-5)
    for name, param in model.named_parameters():
        torch.testing.assert_close(got[name], param.grad, rtol=1e-4, atol=1e-5, msg=name)
