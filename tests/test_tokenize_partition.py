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


def test_dask_runner_two_workers_matches_single_process(prefect_harness, tmp_path):
    pytest.importorskip("prefect_dask")
    import pyarrow.parquet as pq

    from tasks.tokenize import tokenize_file

    pq.write_table(table(), tmp_path / "in.parquet")
    # The N21 stage's streamed path: 2 batches through one Prefect flow on a 2-worker LocalCluster.
    report = tokenize_file(
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        {
            "tagger": "mecab",
            "workers": 2,
            "chunk_size": 4,
            "runner": {"kind": "dask", "address": None},
            "cache": True,
            "cache_dir": str(tmp_path / "cache"),
        },
        batch_rows=8,
    )
    assert pq.read_table(tmp_path / "out.parquet").equals(single())
    # A Prefect task per partition (8 + 7 rows -> 2 + 2); each worker built one tagger.
    assert report["runner"] == "dask" and report["partitions"] == 4 and report["tagged"] == 15
    assert 1 <= report["worker_processes"] <= 2 and report["taggers_built"] == report["worker_processes"]


def test_auto_workers_one_per_50k_mecab_rows_at_most_one_per_cpu():
    import os

    from tasks.tokenize import with_workers

    cpus = os.cpu_count() or 1
    assert with_workers({"tagger": "mecab", "workers": 0}, 50_000)["workers"] == 1
    assert with_workers({"tagger": "mecab", "workers": 0}, 1_000_000)["workers"] == min(cpus, 20)
    assert with_workers({"tagger": "okt", "workers": 0}, 30_000)["workers"] == min(cpus, 3)  # JVM: slower per row
    assert with_workers({"tagger": "mecab", "workers": 3}, 10)["workers"] == 3  # explicit wins


@pytest.mark.parametrize("terminal", [True, False])
def test_tokenize_stage_shows_a_rows_bar_on_a_terminal_only(terminal, tmp_path, monkeypatch, capsys):
    import pyarrow.parquet as pq

    from tasks import progress
    from tasks.tokenize import tokenize_file

    bars, make = [], progress.bar

    def recorded(total, unit, desc, enabled=True, min_total=1):  # a bar even for 15 rows
        bars.append(make(total, unit, desc, enabled, min_total))
        return bars[-1]

    monkeypatch.setattr(progress, "on_terminal", lambda: terminal)
    monkeypatch.setattr(progress, "bar", recorded)
    pq.write_table(table(), tmp_path / "in.parquet")
    tokenize_file(
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        {"tagger": "mecab", "workers": 1, "chunk_size": 4, "cache": False},
        batch_rows=8,
    )
    err = capsys.readouterr().err
    assert len(bars) == 1  # one bar for the stage, not one per batch
    if terminal:  # 2 batches, 4 partitions: the one bar reaches every row
        assert "tokenize (mecab)" in err and bars[0].n == bars[0].total == 15
    else:
        assert err == "" and isinstance(bars[0], progress.Silent)
