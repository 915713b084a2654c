"""The vocabulary (tasks/vocab.py): specials first, counts and ties, case, ids, JSON round trip."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from tasks.vocab import PAD, SPECIALS, UNK, Vocab, build_vocab, encode_ids


def test_specials_first():
    assert SPECIALS[:2] == ("<pad>", "<unk>")
    assert (PAD, UNK) == (0, 1)
    vocab = build_vocab([["a"]])
    assert vocab.itos[: len(SPECIALS)] == list(SPECIALS)
    assert vocab.stoi["<pad>"] == 0 and vocab.stoi["<unk>"] == 1


def test_min_freq_max_size_and_tie_order():
    tokens = [["c", "b", "a", "d"], ["b", "a", "c"], ["a", "b"], ["z"]]
    # counts: a=3, b=3, c=2, d=1, z=1
    vocab = build_vocab(tokens, min_freq=1)
    assert vocab.itos[len(SPECIALS) :] == ["a", "b", "c", "d", "z"]  # by count, ties by token
    assert build_vocab(tokens, min_freq=2).itos[len(SPECIALS) :] == ["a", "b", "c"]
    capped = build_vocab(tokens, min_freq=1, max_size=len(SPECIALS) + 2)
    assert len(capped) == len(SPECIALS) + 2
    assert capped.itos[len(SPECIALS) :] == ["a", "b"]
    # the same data in any order gives the same ids
    assert build_vocab(tokens[::-1]).itos == vocab.itos


def test_lowercase_and_case_sensitive():
    tokens = [["Good", "good", "GOOD", "Bad"]]
    low = build_vocab(tokens, lowercase=True)
    assert low.itos[len(SPECIALS) :] == ["good", "bad"]
    assert low.ids(["GoOd", "BAD", "ugly"]) == [low.stoi["good"], low.stoi["bad"], UNK]
    cased = build_vocab(tokens, lowercase=False)
    assert set(cased.itos[len(SPECIALS) :]) == {"Good", "good", "GOOD", "Bad"}
    assert cased.ids(["gOOD"]) == [UNK]


def test_special_strings_in_data_do_not_duplicate():
    vocab = build_vocab([["<unk>", "<pad>", "x", "<unk>"]])
    assert vocab.itos == [*SPECIALS, "x"]
    assert vocab.ids(["<pad>", "<unk>"]) == [PAD, UNK]


def test_encode_ids_empty_rows():
    vocab = build_vocab([["a"]])
    arr = encode_ids(pa.chunked_array([pa.array([[], ["a", "b"]], pa.list_(pa.string()))]), vocab)
    assert arr.type == pa.list_(pa.int32())
    assert arr.to_pylist() == [[], [vocab.stoi["a"], UNK]]


def test_vocab_json_round_trip():
    vocab = build_vocab([["영화", "좋다", "영화"]], lowercase=False)
    obj = json.loads(json.dumps(vocab.to_json(), ensure_ascii=False))
    assert obj["specials"] == list(SPECIALS)
    back = Vocab.from_json(obj)
    assert back.itos == vocab.itos
    assert back.lowercase is False
    assert back.stoi == vocab.stoi
    assert back.ids(["영화", "없음"]) == vocab.ids(["영화", "없음"]) == [vocab.stoi["영화"], UNK]


@pytest.mark.parametrize("max_size", [0, 2])
def test_max_size_below_specials_keeps_specials(max_size):
    vocab = build_vocab([["a", "b"]], max_size=max_size)
    assert vocab.itos == list(SPECIALS)
