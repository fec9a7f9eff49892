"""Token-budget batching, padding, and the seeded, resumable training stream."""

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
