"""The streamed tokens table as reusable parts: an appended rerun writes only the changed batch."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks import token_parts
from tasks.tokenize import tokenize_file, tokenize_table
from tests.test_tokenize_cache import calls, table, texts  # noqa: F401 (calls is a fixture)


def cfg(tmp_path, cache: bool = True) -> dict:
    return {"tagger": "mecab", "workers": 1, "chunk_size": 16, "cache": cache, "cache_dir": str(tmp_path / "cache")}


def cold(rows: list[str], tmp_path) -> pa.Table:
    out, _ = tokenize_table(table(rows), {**cfg(tmp_path), "cache": False})
    return out


def test_appended_rows_rewrite_only_the_last_part(tmp_path, calls):  # noqa: F811
    src, dst = tmp_path / "in.parquet", tmp_path / "tokens.parquet"
    pq.write_table(table(texts(60)), src)
    first = tokenize_file(src, dst, cfg(tmp_path), batch_rows=25)  # parts of 25, 25, 10 rows
    assert first["parts_reused"] == 0 and first["tagged"] == 60
    assert sorted(p.name for p in dst.iterdir()) == [token_parts.part_name(i) for i in range(3)]

    pq.write_table(table(texts(63)), src)  # 3 rows appended: only the third batch changes
    calls.clear()
    rerun = tokenize_file(src, dst, cfg(tmp_path), batch_rows=25)
    assert rerun["parts_reused"] == 2 and rerun["tagged"] == 3 and rerun["cache_hits"] == 60
    assert rerun["rows_in"] == 63 and calls == texts(3, start=60)
    assert pq.read_table(dst).equals(cold(texts(63), tmp_path))
    # counts of the reused parts come back with them
    assert rerun["tokens_total"] == pc_sum(pq.read_table(dst))
    # the store keeps what this run used: 3 parts and their counts, nothing of the replaced third part
    stored = token_parts.PartStore(tmp_path / "cache", cfg(tmp_path)).dir
    assert len(list(stored.glob("*.parquet"))) == 3 and len(list(stored.glob("*.json"))) == 3


def pc_sum(out: pa.Table) -> int:
    import pyarrow.compute as pc

    return pc.sum(pc.list_value_length(out.column("tokens"))).as_py()


def test_an_edited_row_retags_its_own_batch_only(tmp_path):
    src, dst = tmp_path / "in.parquet", tmp_path / "tokens.parquet"
    rows = texts(50)
    pq.write_table(table(rows), src)
    tokenize_file(src, dst, cfg(tmp_path), batch_rows=25)
    rows[3] = "완전히 새로운 문장이다"
    pq.write_table(table(rows), src)
    rerun = tokenize_file(src, dst, cfg(tmp_path), batch_rows=25)
    assert rerun["parts_reused"] == 1 and rerun["tagged"] == 1
    assert pq.read_table(dst).equals(cold(rows, tmp_path))


def test_other_tagger_options_never_reuse_a_part(tmp_path):
    src, dst = tmp_path / "in.parquet", tmp_path / "tokens.parquet"
    pq.write_table(table(texts(30)), src)
    tokenize_file(src, dst, cfg(tmp_path), batch_rows=25)
    joined = tokenize_file(src, dst, {**cfg(tmp_path), "join_pos": True}, batch_rows=25)
    assert joined["parts_reused"] == 0
    assert "/" in pq.read_table(dst).column("tokens")[0].as_py()[0]


def test_cache_off_still_writes_parts_and_keeps_nothing(tmp_path):
    src, dst = tmp_path / "in.parquet", tmp_path / "tokens.parquet"
    pq.write_table(table(texts(30)), src)
    dst.write_bytes(b"an older single-file output")  # what earlier versions wrote: replaced by the folder
    report = tokenize_file(src, dst, cfg(tmp_path, cache=False), batch_rows=25)
    again = tokenize_file(src, dst, cfg(tmp_path, cache=False), batch_rows=25)
    assert report["parts_reused"] == again["parts_reused"] == 0 and again["tagged"] == 30
    assert pq.read_table(dst).equals(cold(texts(30), tmp_path)) and not (tmp_path / "cache").exists()


def test_a_failed_run_leaves_the_previous_output(tmp_path):
    dst = tmp_path / "tokens.parquet"
    with token_parts.part_folder(dst) as folder:
        pq.write_table(pa.table({"x": [1]}), folder / token_parts.part_name(0))
    with pytest.raises(RuntimeError), token_parts.part_folder(dst) as folder:
        pq.write_table(pa.table({"x": [2]}), folder / token_parts.part_name(0))
        raise RuntimeError("tagger crashed")
    assert pq.read_table(dst).column("x").to_pylist() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.parquet"]  # no temporary folder left


def test_parts_smaller_than_the_tagging_batch(tmp_path, calls):  # noqa: F811
    src, dst = tmp_path / "in.parquet", tmp_path / "tokens.parquet"
    pq.write_table(table(texts(60)), src)
    first = tokenize_file(src, dst, cfg(tmp_path), batch_rows=25, part_rows=10)
    assert len(list(dst.iterdir())) == 6 and first["tagged"] == 60 and first["rows_in"] == 60
    pq.write_table(table(texts(63)), src)
    calls.clear()
    rerun = tokenize_file(src, dst, cfg(tmp_path), batch_rows=25, part_rows=10)
    # 60 rows filled 6 parts exactly: all of them come back, the 3 new rows make a 7th
    assert rerun["parts_reused"] == 6 and rerun["tagged"] == 3 and calls == texts(3, start=60)
    assert pq.read_table(dst).equals(cold(texts(63), tmp_path))
