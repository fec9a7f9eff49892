"""Token-budget batching, padding, and the seeded, resumable training stream."""

import pytest
import torch

from t5eval.batching import length_sorted_batches, make_train_batch, pad_ids
from t5eval.train.stream import TrainSource, TrainStream


def test_length_sorted_batches_hand_checked():
    # sorted by (length, index): 1(len1) 3(len2) 0(len3) 2(len5) 4(len5)
    lengths = [3, 1, 5, 2, 5]
    # budget 6: [1,3] -> 2*2=4; adding 0 -> 3*3=9 > 6, new batch; [0] then 2 -> 2*5=10 > 6 ...
    assert length_sorted_batches(lengths, 6) == [[1, 3], [0], [2], [4]]
    assert length_sorted_batches(lengths, 100) == [[1, 3, 0, 2, 4]]
    # a row longer than the budget still gets a batch of its own
    assert length_sorted_batches([10], 4) == [[0]]


def test_pad_ids_and_labels():
    ids, mask = pad_ids([[5, 6, 1], [7, 1]])
    assert ids.tolist() == [[5, 6, 1], [7, 1, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    batch = make_train_batch([[5, 1], [6, 7, 1]], [[9, 1], [8, 1, 1]])
    assert batch.labels.tolist() == [[9, 1, -100], [8, 1, 1]]
    assert batch.n_tokens == 2 + 3 + 2 + 3


def _source(n: int, name: str = "a", weight: float = 1.0) -> TrainSource:
    return TrainSource(name, [[i + 2] * (1 + i % 7) + [1] for i in range(n)], [[3, 1]] * n, weight)


def _refs(stream: TrainStream, k: int) -> list:
    return [stream.next_refs() for _ in range(k)]


def test_stream_is_seeded_and_resumes_exactly():
    full = _refs(TrainStream([_source(50)], batch_tokens=40, seed=3), 30)
    assert full == _refs(TrainStream([_source(50)], batch_tokens=40, seed=3), 30)
    assert full != _refs(TrainStream([_source(50)], batch_tokens=40, seed=4), 30)
    first = TrainStream([_source(50)], batch_tokens=40, seed=3)
    head = _refs(first, 12)
    state = first.state_dict()
    resumed = TrainStream([_source(50)], batch_tokens=40, seed=3)
    resumed.load_state_dict(torch.load(_roundtrip(state), weights_only=False))
    assert head + _refs(resumed, 18) == full


def _roundtrip(obj):
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return buf


def test_stream_reads_every_example_equally_often_within_budget():
    stream = TrainStream([_source(40)], batch_tokens=30, seed=0, pool_batches=4)
    counts = [0] * 40
    drawn = 0
    while drawn < 200 or stream._queue:  # stop at a pool boundary: every drawn example is used
        batch = stream.next_refs()
        longest = max(len(stream.sources[0].inputs[i]) + 2 for _, i in batch)
        assert longest * len(batch) <= 30 or len(batch) == 1
        for _, i in batch:
            counts[i] += 1
        drawn += len(batch)
    assert max(counts) - min(counts) <= 1  # epochs are permutations


def test_mixture_draws_sources_in_proportion_to_weight():
    stream = TrainStream([_source(30, "a", 3.0), _source(30, "b", 1.0), _source(30, "c", 0.0)], 60, seed=1)
    assert [s.name for s in stream.sources] == ["a", "b"]  # weight 0: eval only
    counts = [0, 0]
    for _ in range(300):
        for src, _ in stream.next_refs():
            counts[src] += 1
    share = counts[0] / sum(counts)
    assert 0.68 < share < 0.82  # expected 0.75


def test_packed_stream_is_seeded_and_resumes_exactly():
    def draws(stream: TrainStream, k: int) -> list:
        return [stream.next_batch().input_ids.tolist() for _ in range(k)]

    first = TrainStream([_source(60)], batch_tokens=40, seed=3, pool_batches=4, pack_length=12)
    again = TrainStream([_source(60)], batch_tokens=40, seed=3, pool_batches=4, pack_length=12)
    assert draws(first, 9) == draws(again, 9)
    state = first.state_dict()
    resumed = TrainStream([_source(60)], batch_tokens=40, seed=3, pool_batches=4, pack_length=12)
    resumed.load_state_dict(state)
    assert draws(resumed, 12) == draws(first, 12)  # crosses a pool refill


def test_packed_stream_rows_hold_several_examples_within_the_length():
    stream = TrainStream([_source(60)], batch_tokens=40, seed=0, pool_batches=4, pack_length=12)
    seen = []
    for _ in range(6):
        for row in stream.next_refs():
            lengths = [len(stream.sources[s].inputs[i]) for s, i in row]
            assert sum(lengths) <= 12 or len(row) == 1
            seen.extend(row)
    assert len(seen) > 6 * 2  # more than one example per row on average
    assert len(set(seen)) == len(seen) or len(seen) > 60  # each example once per epoch


def test_a_packed_batch_holds_budget_over_pack_length_full_rows():
    # SST-2-like examples: 30 input tokens, 2 target tokens; rows of pack length 60 hold two examples
    # per row (60 input tokens, 4 target tokens). A 120-token budget must hold two such rows (T5: 65,536 / 512
    # = 128 rows), not one (counting inputs + targets, 64 per row, two rows would cost 128 > 120).
    source = TrainSource("t", [[5] * 29 + [1]] * 40, [[7, 1]] * 40)
    stream = TrainStream([source], batch_tokens=120, seed=0, pool_batches=4, pack_length=60)
    for _ in range(6):
        rows = stream.next_refs()
        assert len(rows) == 2 and all(len(row) <= 2 for row in rows)  # a pool's last row may hold one


def test_packed_state_does_not_load_into_a_padded_stream():
    packed = TrainStream([_source(20)], batch_tokens=40, seed=0, pack_length=12)
    packed.next_batch()
    padded = TrainStream([_source(20)], batch_tokens=40, seed=0)
    try:
        padded.load_state_dict(packed.state_dict())
    except ValueError as err:
        assert "pack_length 12" in str(err)
    else:
        raise AssertionError("a packed stream state loaded into a padded stream")


def test_step_loss_is_normalised_by_the_steps_target_tokens_not_micro_batch_means():
    """Reference written here: all token losses of the step summed, divided by its target tokens, SGD."""
    import copy
    import dataclasses

    from t5eval.distributed.context import DistContext
    from t5eval.distributed.parallel import plan_batches, train_step, wrap_model
    from t5eval.model import T5, T5Config

    torch.manual_seed(0)
    model = T5(dataclasses.replace(T5Config.preset("tiny"), dropout_rate=0.0))
    reference = copy.deepcopy(model)
    micro = [make_train_batch([[5, 6, 1]], [[7, 1]]),  # 2 target tokens
             make_train_batch([[8, 1], [9, 10, 11, 1]], [[12, 13, 14, 15, 1], [16, 17, 1]])]  # 8 target tokens

    class Stream:
        def __init__(self) -> None:
            self.left = list(micro)

        def next_batch(self):
            return self.left.pop(0)

    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    loss, tokens = train_step(wrap_model(model, DistContext()), opt, Stream(), plan_batches(2, 1), DistContext())
    total = sum(torch.nn.functional.cross_entropy(
        reference(b.input_ids, b.attention_mask, torch.cat([torch.zeros_like(b.labels[:, :1]),
                                                             b.labels[:, :-1].clamp(min=0)], 1)).flatten(0, 1),
        b.labels.flatten(), ignore_index=-100, reduction="sum") for b in micro) / 10
    total.backward()
    assert loss == pytest.approx(float(total.detach()), rel=1e-6) and tokens == micro[0].n_tokens + micro[1].n_tokens
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(p, q.detach() - q.grad, atol=1e-6)
