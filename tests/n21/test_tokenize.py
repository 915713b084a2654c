"""N21's tokenize stage (tasks/n21/tokenize.py): streamed in batches, the same table as tagging it whole, on every
runner, through the cache, with one progress bar."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from tasks import partition
from tasks.n21.tokenize import tokenize_file
from tasks.tokenize import tokenize_table
from tests import test_tokenize_partition as runners
from tests.test_tokenize_cache import cfg, table, texts


def test_streamed_stage_matches_table_and_rerun_starts_no_pool(tmp_path, monkeypatch):
    c = cfg(tmp_path, workers=2, chunk_size=8)
    src, dst = tmp_path / "in.parquet", tmp_path / "out.parquet"
    rows = texts(60)
    pq.write_table(table(rows), src)
    report = tokenize_file(src, dst, c, batch_rows=25)  # 3 batches, 2 of them over 2 spawn workers
    expected, _ = tokenize_table(table(rows), {**c, "cache": False, "workers": 1})
    assert pq.read_table(dst).equals(expected)
    assert report["rows_in"] == 60 and report["tagged"] == 60 and report["cache_hits"] == 0
    assert report["taggers_built"] == report["worker_processes"] <= 2

    def no_pool(*args, **kwargs):
        raise AssertionError("a fully cached rerun must not start workers")

    monkeypatch.setattr(partition, "ProcessPoolExecutor", no_pool)
    rerun = tokenize_file(src, dst, c, batch_rows=25)
    assert rerun["cache_hits"] == 60 and rerun["tagged"] == 0
    assert pq.read_table(dst).equals(expected)


def test_streamed_stage_on_empty_input(tmp_path):
    src, dst = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(table([]), src)
    report = tokenize_file(src, dst, cfg(tmp_path))
    out = pq.read_table(dst)
    assert out.num_rows == 0 and {"tokens", "pos"} <= set(out.column_names) and report["rows_in"] == 0


def test_dask_runner_two_workers_matches_single_process(prefect_harness, tmp_path):
    pytest.importorskip("prefect_dask")
    pq.write_table(runners.table(), tmp_path / "in.parquet")
    # 2 batches through one Prefect flow on a 2-worker LocalCluster.
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
    assert pq.read_table(tmp_path / "out.parquet").equals(runners.single())
    # A Prefect task per partition (8 + 7 rows -> 2 + 2); each worker built one tagger.
    assert report["runner"] == "dask" and report["partitions"] == 4 and report["tagged"] == 15
    assert 1 <= report["worker_processes"] <= 2 and report["taggers_built"] == report["worker_processes"]


@pytest.mark.parametrize("terminal", [True, False])
def test_tokenize_stage_shows_a_rows_bar_on_a_terminal_only(terminal, tmp_path, monkeypatch, capsys):
    from tasks import progress

    bars, make = [], progress.bar

    def recorded(total, unit, desc, enabled=True, min_total=1):  # a bar even for 15 rows
        bars.append(make(total, unit, desc, enabled, min_total))
        return bars[-1]

    monkeypatch.setattr(progress, "on_terminal", lambda: terminal)
    monkeypatch.setattr(progress, "bar", recorded)
    pq.write_table(runners.table(), tmp_path / "in.parquet")
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
