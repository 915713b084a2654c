"""The tokenization cache: content keys per tagger namespace, hit/miss accounting, 1% appended rows tag only those."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

import tasks.tokenize as tok
from tasks import token_cache
from tasks.tokenize import tokenize_table, tokenize_texts

WORDS = ["영화", "정말", "재밌어요", "최악의", "연기", "배우들이", "너무", "좋았다", "다시는", "안", "본다", "음악"]


def texts(n: int, start: int = 0) -> list[str]:
    return [f"{WORDS[i % 12]} {WORDS[(i * 5 + 1) % 12]} {WORDS[(i * 7 + 3) % 12]} {i}" for i in range(start, start + n)]


def table(rows: list[str]) -> pa.Table:
    return pa.table({"id": [f"r{i}" for i in range(len(rows))], "text": rows})


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """Every text the tagger is asked for (fresh per-thread taggers, counting ones)."""
    seen: list[str] = []
    real = tok.make_tagger

    def counting(name):
        pos = real(name)
        return lambda text: (seen.append(text), pos(text))[1]

    monkeypatch.setattr(tok, "make_tagger", counting)
    monkeypatch.setattr(tok, "_local", threading.local())
    return seen


def cfg(tmp_path, **extra) -> dict:
    return {"tagger": "mecab", "workers": 1, "chunk_size": 16, "cache": True, "cache_dir": str(tmp_path / "c"), **extra}


def test_appending_one_percent_tags_only_the_new_rows(tmp_path, calls):
    c = cfg(tmp_path)
    base = texts(100)
    with token_cache.using(c):
        first, rep1 = tokenize_table(table(base), c)
    assert len(calls) == 100 and rep1["cache_hits"] == 0 and rep1["tagged"] == 100
    calls.clear()
    grown = base + texts(1, start=100)
    with token_cache.using(c):
        second, rep2 = tokenize_table(table(grown), c)
    assert calls == grown[-1:]  # the tagger saw only the appended row
    assert rep2["cache_hits"] == 100 and rep2["tagged"] == 1
    uncached, _ = tokenize_table(table(grown), {**c, "cache": False})
    assert second.equals(uncached)
    assert second.slice(0, 100).equals(first)


@pytest.mark.parametrize("order", ["reversed", "subset", "in order"])
def test_rerun_output_matches_uncached_whatever_the_row_order(tmp_path, order):
    """In order, the cached blocks are the output as they are; otherwise rows are gathered from them."""
    c = cfg(tmp_path)
    base = texts(40)
    with token_cache.using(c):
        tokenize_table(table(base), c)
    rows = {"reversed": base[::-1] + texts(2, 40), "subset": base[5:30:2], "in order": base + texts(2, 40)}[order]
    with token_cache.using(c):
        cached, report = tokenize_table(table(rows), c)
    assert report["tagged"] == len(rows) - sum(r in base for r in rows)
    assert cached.equals(tokenize_table(table(rows), {**c, "cache": False})[0])


def test_duplicates_tagged_once_and_join_pos_from_cache(tmp_path, calls):
    c = cfg(tmp_path, join_pos=True)
    rows = texts(5) * 3
    with token_cache.using(c):
        out, rep = tokenize_table(table(rows), c)
    assert len(calls) == 5 and rep["tagged"] == 5
    with token_cache.using(c):
        again, rep = tokenize_table(table(rows), c)
    assert rep["tagged"] == 0 and rep["cache_hits"] == 15
    plain, _ = tokenize_table(table(rows), {**c, "cache": False, "join_pos": False})
    assert again.equals(out)
    assert out.column("tokens").to_pylist()[0] == [
        f"{m}/{t}" for m, t in zip(plain.column("tokens").to_pylist()[0], plain.column("pos").to_pylist()[0])
    ]


def test_cache_only_inside_a_stage(tmp_path, calls):
    c = cfg(tmp_path)
    tokenize_texts(texts(3), c)  # predict/evaluate: no `using`, nothing written
    assert not (tmp_path / "c").exists()
    with token_cache.using(c):
        tokenize_texts(texts(3), c)
        tokenize_texts(texts(3), c)
    assert len(calls) == 6  # 3 uncached + 3 in the stage; the second call in the stage hit the cache


def test_namespace_separates_options_and_versions(tmp_path, monkeypatch):
    c = cfg(tmp_path)
    dirs = {token_cache.TokenCache(tmp_path / "c", x).dir for x in (c, {**c, "join_pos": True})}
    assert len(dirs) == 1  # join_pos is derived from the cached pairs
    assert token_cache.TokenCache(tmp_path / "c", {**c, "stem": True}).dir not in dirs
    assert token_cache.TokenCache(tmp_path / "c", {**c, "tagger": "okt"}).dir not in dirs
    monkeypatch.setattr(token_cache, "_version", lambda package: "9.9")  # a new dictionary release
    assert token_cache.TokenCache(tmp_path / "c", c).dir not in dirs


def test_segments_compact_and_still_hit(tmp_path, monkeypatch):
    monkeypatch.setattr(token_cache, "COMPACT_AT", 2)
    c = cfg(tmp_path)
    for start in range(0, 40, 10):  # four runs, four segments
        with token_cache.using(c):
            tokenize_table(table(texts(10, start)), c)
    cache = token_cache.TokenCache(tmp_path / "c", c)
    # The 4th run found 3 segments (> COMPACT_AT), merged them into one, then added its own.
    assert len(list(cache.dir.glob("seg-*.arrow"))) == 2 and len(cache) == 40
    positions, blocks, rows = cache.lookup(pa.array(texts(40)[::-1] + ["new"]))
    assert positions.tolist() == list(range(40))
    morphs = pa.chunked_array([m for m, _ in blocks]).take(pa.array(rows)).to_pylist()
    expected, _ = tokenize_table(table(texts(40)[::-1]), {**c, "cache": False})
    assert morphs == expected.column("tokens").to_pylist()
    cache.close()


def test_stage_runners_use_the_cache_and_report_it(tmp_path):
    from flows import n2m, n2path
    from tests.conftest import n2m_section, n2path_section

    for module, section in ((n2path, n2path_section(tmp_path / "p")), (n2m, n2m_section(tmp_path / "m"))):
        module.ingest(section)
        first, second = module.tokenize(section), module.tokenize(section)
        assert first["token_cache"]["cache_hits"] == 0 < first["token_cache"]["tagged"]
        # hits count rows, tagged counts distinct texts: N2M's 400 pairs have 80 distinct answers
        assert second["token_cache"]["tagged"] == 0
        assert second["token_cache"]["cache_hits"] >= first["token_cache"]["tagged"]
        assert (tmp_path / section["work_dir"] / "token_cache").is_dir()  # cache_dir null: inside the work dir


def test_a_cache_deleted_while_a_session_is_open_is_a_miss_and_made_again(tmp_path, calls):
    """README: the cache may be deleted at any time, also between a session's lookups and writes."""
    import shutil

    c = cfg(tmp_path)
    with token_cache.using(c):
        tokenize_table(table(texts(20)), c)
    calls.clear()
    with token_cache.using(c) as counts:
        session = token_cache.active(c)  # the index of the 20 texts is loaded here
        shutil.rmtree(tmp_path / "c")
        out, report = tokenize_table(table(texts(25)), c)  # its hits' segments are gone: tagged again
        assert report["cache_hits"] == 0 and report["tagged"] == 25 and len(calls) == 25
        assert session.dir.is_dir() and list(session.dir.glob("seg-*.arrow"))  # the store was made again
    assert out.equals(tokenize_table(table(texts(25)), {**c, "cache": False})[0])
    assert counts["tagged"] == 25
    with token_cache.using(c):
        _, again = tokenize_table(table(texts(25)), c)
    assert again["cache_hits"] == 25 and again["tagged"] == 0
