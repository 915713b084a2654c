"""N21's encode stage: the vocabulary from the train split only, ids as list<int32>, label ids in params order,
partitions (vocabulary itself: tests/test_vocab.py)."""

from __future__ import annotations


import pyarrow as pa
import pytest

from tasks.n21.encode import encode_table, label_values
from tasks.vocab import UNK, Vocab
from tasks.io import read_table, write_table
from tests.conftest import n21_defaults

ENCODE = n21_defaults()["encode"]
CFG = {**ENCODE, "min_freq": 1, "max_size": 50000, "lowercase": True, "ngrams": {**ENCODE["ngrams"], "buckets": 0}}
LABELS_CFG = [{"value": "negative", "name": "negative"}, {"value": "positive", "name": "positive"}]


def make_table(rows: list[tuple[list[str], str, str]]) -> pa.Table:
    return pa.table(
        {
            "id": [f"r{i}" for i in range(len(rows))],
            "tokens": pa.array([r[0] for r in rows], pa.list_(pa.string())),
            "label": [r[1] for r in rows],
            "split": [r[2] for r in rows],
        }
    )


ROWS = [
    (["영화", "가", "좋다"], "positive", "train"),
    (["영화", "가", "별로"], "negative", "train"),
    (["Movie", "좋다"], "positive", "train"),
    (["영화", "명작"], "positive", "test"),  # 명작 appears only in test
    (["movie", "지루", "가"], "negative", "dev"),
]


def test_vocab_from_train_split_only():
    out, vocab, report = encode_table(make_table(ROWS), CFG, ["negative", "positive"])
    assert "명작" not in vocab.stoi
    assert "지루" not in vocab.stoi
    ids = out.column("ids").to_pylist()
    assert ids[3] == [vocab.stoi["영화"], UNK]
    assert ids[4] == [vocab.stoi["movie"], UNK, vocab.stoi["가"]]  # Movie/movie lowercased together
    assert UNK not in ids[0] + ids[1] + ids[2]
    assert report["vocab_size"] == len(vocab)
    assert report["unk_share"] == round(2 / 13, 4)  # 2 unknown of 13 tokens


def test_ids_type_and_parquet_round_trip(tmp_path):
    out, _, _ = encode_table(make_table(ROWS), CFG, ["negative", "positive"])
    assert out.schema.field("ids").type == pa.list_(pa.int32())
    assert out.schema.field("label_id").type == pa.int32()
    path = write_table(out, tmp_path / "sub" / "encoded.parquet")
    back = read_table(path)
    assert back.schema.field("ids").type == pa.list_(pa.int32())
    assert back.equals(out)
    assert read_table(path, columns=["ids"]).column("ids").to_pylist() == out.column("ids").to_pylist()
    assert [p.name for p in path.parent.iterdir()] == ["encoded.parquet"]  # no temp file left


def test_label_ids_follow_params_order_and_unknown_is_minus_one():
    rows = [(["a"], "positive", "train"), (["b"], "negative", "train"), (["c"], "neutral", "test")]
    labels = label_values(make_table(rows), LABELS_CFG)
    assert labels == ["negative", "positive"]
    out, _, report = encode_table(make_table(rows), CFG, labels)
    assert out.column("label_id").to_pylist() == [1, 0, -1]
    # reversed params order reverses ids
    rev = label_values(make_table(rows), LABELS_CFG[::-1])
    assert encode_table(make_table(rows), CFG, rev)[0].column("label_id").to_pylist() == [0, 1, -1]
    assert report["labels"] == ["negative", "positive"]


def test_label_values_without_params_sorted_from_train():
    rows = [(["a"], "2", "train"), (["b"], "0", "train"), (["c"], "9", "test"), (["d"], "0", "dev")]
    assert label_values(make_table(rows), []) == ["0", "2"]
    assert label_values(make_table(rows), [{"value": 1}, {"value": 0}]) == ["1", "0"]


def test_reusing_vocab_encodes_new_data_identically():
    table = make_table(ROWS)
    first, vocab, _ = encode_table(table, CFG, ["negative", "positive"])
    # New data whose own train split would give a different vocabulary.
    new = make_table([(["명작", "영화", "Movie"], "positive", "train"), (["명작"], "positive", "train")])
    reused, same_vocab, _ = encode_table(new, {**CFG, "min_freq": 99}, ["negative", "positive"], vocab=vocab)
    assert same_vocab is vocab
    assert reused.column("ids").to_pylist() == [[UNK, vocab.stoi["영화"], vocab.stoi["movie"]], [UNK]]
    again, _, _ = encode_table(table, CFG, ["negative", "positive"], vocab=Vocab.from_json(vocab.to_json()))
    assert again.equals(first)


@pytest.mark.parametrize("kind", ["thread", "process", "dask"])
def test_partitioned_encode_equals_one_partition(kind, request):
    if kind == "dask":
        pytest.importorskip("prefect_dask")
        request.getfixturevalue("prefect_harness")  # a Prefect task per partition, on a 2-worker LocalCluster
    rows = [(["영화", "가", f"좋{i % 7}"], "pos" if i % 2 else "neg", "train" if i % 5 else "test") for i in range(40)]
    table = make_table(rows)
    table = table.append_column("text", pa.array([" ".join(r[0]) for r in rows]))
    cfg = {**CFG, "max_size": 100, "ngrams": {**ENCODE["ngrams"], "buckets": 256, "hash": "poly64"}}
    whole, vocab, report = encode_table(table, {**cfg, "workers": 1, "chunk_size": 1000}, ["neg", "pos"])
    parts, _, part_report = encode_table(
        table, {**cfg, "workers": 2, "chunk_size": 7, "runner": {"kind": kind}}, ["neg", "pos"]
    )
    # Dask partitions hold at least rows / (2 x workers) rows: a Prefect task costs more than 7 rows' work.
    assert report["partitions"] == 1 and part_report["partitions"] == (4 if kind == "dask" else 6)
    assert part_report["runner"] == kind
    assert parts.equals(whole)


def test_encode_workers_auto_one_per_cpu_once_there_are_two_partitions():
    import os

    from tasks.partition import stage_settings

    assert stage_settings({"workers": 0, "chunk_size": 50_000}, 10_000)["workers"] == 1
    assert stage_settings({"workers": 0, "chunk_size": 50_000}, 1_000_000)["workers"] == os.cpu_count()
    assert stage_settings({"workers": 3}, 10)["workers"] == 3
    assert stage_settings({}, 10**6) == {"workers": 1, "chunk_size": 50_000, "runner": {"kind": "thread"}}
