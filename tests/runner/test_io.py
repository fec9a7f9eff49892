"""Crash-safety helpers: atomic writes and the append-only JSONL with a torn last line."""

import hashlib
import json

from t5eval.io import (
    JsonlAppender,
    atomic_write_json,
    iter_jsonl,
    repair_jsonl_tail,
    sha256_file,
    sha256_json,
)


def test_atomic_write_json_replaces_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "x.json"
    atomic_write_json(path, {"a": 1})
    atomic_write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    # sha256("abc") is the FIPS 180-2 test vector
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_json({"b": 1, "a": 2}) == hashlib.sha256(b'{"a":2,"b":1}').hexdigest()


def test_torn_last_line_is_skipped_and_cut_before_appending(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"k": 1}\n{"k": 2}\n{"k": 3, "ids": [1, 2')  # killed mid-append
    assert list(iter_jsonl(path)) == [{"k": 1}, {"k": 2}]
    with JsonlAppender(path) as out:
        out.append_many([{"k": 4}])
    assert path.read_text() == '{"k": 1}\n{"k": 2}\n{"k": 4}\n'


def test_repair_of_a_file_whose_only_line_is_torn(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"k"')
    assert repair_jsonl_tail(path) == 4
    assert path.read_text() == ""
