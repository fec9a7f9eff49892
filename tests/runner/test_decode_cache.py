"""Cached, length-bucketed decoding with a stand-in `generate` (no model needed)."""

import torch

from t5eval.eval.cache import DecodeCache, cache_key, decode_all
from t5eval.model.checkpoint import state_dict_sha256

DECODE = {"beam_size": 1, "alpha": 0.6, "max_decode_len": 128}


class FakeGenerate:
    """Per row: [sum of the real input ids, len, EOS]. Counts the rows it decodes."""

    def __init__(self) -> None:
        self.rows = 0
        self.widths: list[int] = []

    def __call__(self, model, ids, mask, decode):
        self.rows += ids.shape[0]
        self.widths.append(ids.shape[1])
        return [[int(r[m.bool()].sum()), int(m.sum()), 1] for r, m in zip(ids, mask, strict=True)]


INPUTS = [[5, 1], [7, 7, 7, 7, 1], [9, 1], [4, 4, 1], [3, 3, 3, 3, 3, 3, 1], [2, 1]]
EXPECTED = [[sum(x), len(x), 1] for x in INPUTS]


def test_outputs_in_input_order_and_batches_length_sorted(tmp_path):
    gen = FakeGenerate()
    out, stats = decode_all(torch.nn.Linear(1, 1), INPUTS, DECODE, gen, batch_tokens=6, weights_sha256="w")
    assert out == EXPECTED
    assert stats.decoded == 6 and stats.cached == 0 and stats.generated_tokens == 18
    assert gen.widths == sorted(gen.widths)  # shortest first
    assert all(w * b <= 6 or b == 1 for w, b in zip(gen.widths, stats.batch_sizes, strict=True))


def test_second_pass_is_served_from_disk_and_keys_depend_on_weights(tmp_path):
    path = tmp_path / "decode_cache.jsonl"
    gen = FakeGenerate()
    cache = DecodeCache(path)
    decode_all(torch.nn.Linear(1, 1), INPUTS[:4], DECODE, gen, batch_tokens=8, weights_sha256="w", cache=cache)
    cache.close()
    assert gen.rows == 4
    cache = DecodeCache(path)  # a restarted process
    out, stats = decode_all(torch.nn.Linear(1, 1), INPUTS, DECODE, gen, batch_tokens=8, weights_sha256="w",
                            cache=cache)
    assert out == EXPECTED
    assert (stats.cached, stats.decoded, gen.rows) == (4, 2, 6)
    _, stats = decode_all(torch.nn.Linear(1, 1), INPUTS, DECODE, gen, batch_tokens=8, weights_sha256="v",
                          cache=cache)
    assert stats.cached == 0  # other weights: nothing reused
    cache.close()


def test_torn_cache_line_is_decoded_again(tmp_path):
    path = tmp_path / "decode_cache.jsonl"
    keys = [cache_key("w", DECODE, x) for x in INPUTS[:2]]
    path.write_text(f'{{"key": "{keys[0]}", "ids": [6, 2, 1]}}\n{{"key": "{keys[1]}", "ids": [2')
    gen = FakeGenerate()
    cache = DecodeCache(path)
    out, stats = decode_all(torch.nn.Linear(1, 1), INPUTS[:2], DECODE, gen, batch_tokens=8,
                            weights_sha256="w", cache=cache)
    cache.close()
    assert out == EXPECTED[:2] and stats.cached == 1 and gen.rows == 1
    assert len(path.read_text().splitlines()) == 2


def test_cache_key_covers_decode_settings_and_state_hash_covers_values():
    assert cache_key("w", DECODE, [1]) != cache_key("w", {**DECODE, "beam_size": 4}, [1])
    assert cache_key("w", DECODE, [1]) != cache_key("w", DECODE, [2, 1])
    torch.manual_seed(0)
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    b.load_state_dict(a.state_dict())
    assert state_dict_sha256(a) == state_dict_sha256(b)
    with torch.no_grad():
        b.bias[0] += 1e-6
    assert state_dict_sha256(a) != state_dict_sha256(b)
