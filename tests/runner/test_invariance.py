"""fp32 predictions do not depend on batch size or example order (native tiny model, real inputs)."""

import random

import pytest
import torch

from t5eval.eval.cache import decode_all


@pytest.fixture(scope="module")
def setup(vocab_path, data_dir):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the CPU is shared by parallel test runs: 1 thread is much faster here
    yield _setup(vocab_path, data_dir)
    torch.set_num_threads(threads)


def _setup(vocab_path, data_dir):
    from t5eval.model import load_model
    from t5eval.tasks import TaskRegistry, load_examples
    from t5eval.tokenizer import T5Tokenizer

    tok = T5Tokenizer(vocab_path)
    spec = TaskRegistry.default().get("rte")  # long inputs: padding differs a lot between batches
    examples = load_examples(spec, "validation", data_dir, limit=10).examples
    inputs = [tok.encode(ex.inputs) for ex in examples]
    model = load_model("tiny", init="random", seed=1).model
    return model, inputs


@pytest.mark.parametrize("beam_size,max_len", [(1, 12), (4, 6)])
def test_predictions_independent_of_batch_size_and_order(setup, beam_size, max_len):
    from t5eval.model import DecodeConfig, generate

    model, inputs = setup
    cfg = DecodeConfig(beam_size=beam_size, alpha=0.6, max_decode_len=max_len)
    lengths = sorted(len(x) for x in inputs)
    one_by_one, stats = decode_all(model, inputs, cfg, generate, batch_tokens=1, weights_sha256="w")
    assert max(stats.batch_sizes) == 1
    all_at_once, stats = decode_all(model, inputs, cfg, generate, batch_tokens=10**6, weights_sha256="w")
    assert stats.batch_sizes == [len(inputs)]
    assert all_at_once == one_by_one
    order = list(range(len(inputs)))
    random.Random(0).shuffle(order)
    shuffled, _ = decode_all(model, [inputs[i] for i in order], cfg, generate,
                             batch_tokens=3 * lengths[len(lengths) // 2] * beam_size, weights_sha256="w")
    assert [shuffled[order.index(i)] for i in range(len(inputs))] == one_by_one
    assert len({tuple(x) for x in one_by_one}) > 1  # the model does not emit one constant string
