"""N21's streamed tokens table as reusable parts (tasks/token_parts.py): an appended rerun writes only the changed
batch."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks import token_parts
from tasks.n21.tokenize import tokenize_file
from tasks.tokenize import tokenize_table
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
    stored = _store(tmp_path)
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


def _store(tmp_path):
    from tasks import token_cache

    return token_cache.store_dir(tmp_path / "cache", cfg(tmp_path)) / "parts"


def test_an_output_part_edited_in_place_is_not_reused(tmp_path, calls):  # noqa: F811
    """The output's parts and the stored ones are one file (a hard link): an edit in place reaches the store. What
    is reused is checked against the size and digest recorded when it was stored; a bad entry is tagged again."""
    src, dst = tmp_path / "in.parquet", tmp_path / "tokens.parquet"
    pq.write_table(table(texts(60)), src)
    tokenize_file(src, dst, cfg(tmp_path), batch_rows=25)
    expected = pq.read_table(dst)
    part = dst / token_parts.part_name(0)
    edited = pq.read_table(part).slice(0, 3)  # a valid parquet file of other content, written into the same file
    with open(part, "r+b") as fh:
        fh.truncate(0)
        pq.write_table(edited, fh)
    assert sum(pq.read_metadata(p).num_rows for p in _store(tmp_path).glob("*.parquet")) == 38  # the store's too
    calls.clear()
    rerun = tokenize_file(src, dst, cfg(tmp_path), batch_rows=25)
    assert pq.read_table(dst).equals(expected)
    assert rerun["parts_reused"] == 2 and rerun["parts_dropped"] == 1
    assert rerun["rows_in"] == 60 and rerun["cache_hits"] == 60  # the texts come from the token cache, not the part
    again = tokenize_file(src, dst, cfg(tmp_path), batch_rows=25)  # the recomputed entry is good again
    assert again["parts_reused"] == 3 and "parts_dropped" not in again


def test_a_store_deleted_mid_run_only_costs_misses(tmp_path, monkeypatch):
    """README: the cache may be deleted at any time: here right after a run opened it, and after every batch."""
    import shutil

    import tasks.tokenize as tok
    from tasks import token_cache

    src, dst = tmp_path / "in.parquet", tmp_path / "tokens.parquet"
    pq.write_table(table(texts(60)), src)
    tokenize_file(src, dst, cfg(tmp_path), batch_rows=25)
    renamed = table(texts(60)).set_column(0, "id", pa.array([f"x{i}" for i in range(60)]))
    pq.write_table(renamed, src)  # new ids: no part is reused, every text is in the token cache's index
    opened = token_cache.TokenCache.__init__

    def open_then_delete(self, *args):
        opened(self, *args)
        shutil.rmtree(tmp_path / "cache")

    monkeypatch.setattr(token_cache.TokenCache, "__init__", open_then_delete)
    rerun = tokenize_file(src, dst, cfg(tmp_path), batch_rows=25)
    assert pq.read_table(dst).equals(tokenize_table(renamed, {**cfg(tmp_path), "cache": False})[0])
    assert rerun["cache_hits"] == 0 and rerun["tagged"] == 60  # the index's segments were gone: tagged again
    monkeypatch.undo()

    tagged = tok.tokenized

    def then_delete(*args, **kwargs):
        out = tagged(*args, **kwargs)
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)
        return out

    monkeypatch.setattr(tok, "tokenized", then_delete)
    pq.write_table(table(texts(80)), src)
    third = tokenize_file(src, dst, cfg(tmp_path), batch_rows=25)
    assert pq.read_table(dst).equals(cold(texts(80), tmp_path)) and third["rows_in"] == 80
