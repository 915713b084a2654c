"""Partitioned tokenization: every runner gives the single-process result, one tagger per worker."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tasks import partition
from tasks.tokenize import tokenize_table

TEXTS = [
    f"{a} {b} {i}"
    for i, (a, b) in enumerate(
        [
            ("영화", "정말 재밌어요"),
            ("최악의", "연기였다"),
            ("배우들이", "너무 좋았다!"),
            ("", ""),
            ("다시는", "안 본다"),
        ]
        * 3
    )
]


def table() -> pa.Table:
    return pa.table({"id": [f"r{i}" for i in range(len(TEXTS))], "text": TEXTS})


def single() -> pa.Table:
    return tokenize_table(table(), {"tagger": "mecab", "workers": 1})[0]


def test_settings_and_chunks():
    assert partition.settings({}) == ("process", 1, None)
    assert partition.settings({"workers": 2, "runner": {"kind": "dask", "address": "tcp://h:8786"}}) == (
        "dask",
        2,
        "tcp://h:8786",
    )
    assert partition.settings({"runner": "thread"})[0] == "thread"
    with pytest.raises(ValueError, match="process, thread, dask"):
        partition.settings({"runner": {"kind": "ray"}})
    assert partition.chunks(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    # Dask: a Prefect task per partition is costly, so at least two partitions' worth per worker, no more
    assert partition.chunk_rows({"chunk_size": 2000, "workers": 2}, 50_000) == 2000
    assert partition.chunk_rows({"chunk_size": 2000, "workers": 2, "runner": {"kind": "dask"}}, 50_000) == 12_500
    assert partition.chunk_rows({"chunk_size": 2000, "workers": 2, "runner": {"kind": "dask"}}, 3_000) == 2000


def test_thread_runner_matches_single_process():
    out, report = tokenize_table(
        table(), {"tagger": "mecab", "workers": 2, "chunk_size": 4, "runner": {"kind": "thread"}}
    )
    assert out.equals(single())
    assert report["partitions"] == 4 and report["runner"] == "thread"


def test_auto_workers_one_per_50k_mecab_rows_at_most_one_per_cpu():
    import os

    from tasks.tokenize import with_workers

    cpus = os.cpu_count() or 1
    assert with_workers({"tagger": "mecab", "workers": 0}, 50_000)["workers"] == 1
    assert with_workers({"tagger": "mecab", "workers": 0}, 1_000_000)["workers"] == min(cpus, 20)
    assert with_workers({"tagger": "okt", "workers": 0}, 30_000)["workers"] == min(cpus, 3)  # JVM: slower per row
    assert with_workers({"tagger": "mecab", "workers": 3}, 10)["workers"] == 3  # explicit wins
