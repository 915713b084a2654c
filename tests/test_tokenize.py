"""Tokenize: Mecab morphemes and POS as Arrow list columns, the Okt JVM in threads, and the spawn pool."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pyarrow as pa
import pytest

from tasks import partition
from tasks.tokenize import TAGGERS, TokenizerError, make_tagger, tokenize_table, tokenize_texts, tokenizer_settings

SENTENCE = "아버지가 방에 들어가신다"
TEXTS = [
    "영화 정말 재밌어요",
    "최악의 연기였다",
    "배우들이 너무 좋았다!",
    "",
    "시간 가는 줄 몰랐네요 ㅎㅎ",
    "다시는 안 본다",
    "OST가 좋다",
    "별로",
    "감독의 다음 작품이 기대된다",
    "음...",
]


def table(texts: list[str]) -> pa.Table:
    return pa.table({"id": [f"r{i}" for i in range(len(texts))], "text": texts})


def test_mecab_morphemes_and_pos():
    (tokens,), (tags,) = tokenize_texts([SENTENCE], {"tagger": "mecab"})
    assert len(tokens) == len(tags) > 3
    pairs = list(zip(tokens, tags))
    assert ("아버지", "NNG") in pairs
    assert ("방", "NNG") in pairs
    assert tags[tokens.index("가")].startswith("J")  # a particle, split off the noun
    assert "".join(tokens) == SENTENCE.replace(" ", "")  # morphemes cover the sentence


def test_tokenize_table_list_columns_same_row_order():
    t = table(TEXTS)
    out, report = tokenize_table(t, {"tagger": "mecab"})
    assert out.schema.field("tokens").type == pa.list_(pa.string())
    assert out.schema.field("pos").type == pa.list_(pa.string())
    assert out.column("id").to_pylist() == t.column("id").to_pylist()
    assert out.column("text").to_pylist() == TEXTS
    tokens, tags = out.column("tokens").to_pylist(), out.column("pos").to_pylist()
    for text, row_tokens, row_tags in zip(TEXTS, tokens, tags):
        assert (row_tokens, row_tags) == tuple(x[0] for x in tokenize_texts([text], {"tagger": "mecab"}))
        assert len(row_tokens) == len(row_tags)
    assert tokens[3] == [] and tags[3] == []  # empty text: no tokens, not a crash
    assert "최악" in tokens[1]
    assert report["rows_in"] == report["rows_kept"] == len(TEXTS)
    assert report["tokens_total"] == sum(map(len, tokens))
    assert report["rows_without_tokens"] == 1
    assert report["tagger"] == "mecab"


def test_join_pos():
    (plain,), (tags,) = tokenize_texts([SENTENCE], {"tagger": "mecab"})
    (joined,), (tags2,) = tokenize_texts([SENTENCE], {"tagger": "mecab", "join_pos": True})
    assert tags2 == tags
    assert joined == [f"{m}/{t}" for m, t in zip(plain, tags)]
    assert "아버지/NNG" in joined


def test_unknown_tagger_names_choices():
    with pytest.raises(TokenizerError) as err:
        make_tagger("mecabb")
    msg = str(err.value)
    assert "'mecabb'" in msg
    for name in TAGGERS:
        assert name in msg
    with pytest.raises(TokenizerError, match="okt"):
        tokenize_texts(["안녕"], {"tagger": "OKT"})


def test_tokenizer_settings_keeps_only_tokenizer_keys():
    cfg = {"tagger": "okt", "join_pos": False, "norm": True, "stem": False, "workers": 4, "chunk_size": 10}
    assert tokenizer_settings(cfg) == {"tagger": "okt", "join_pos": False, "norm": True, "stem": False}


def has_java() -> bool:
    return bool(shutil.which("java") or os.environ.get("JAVA_HOME"))


@pytest.mark.skipif(not has_java(), reason="Okt needs a Java runtime")
def test_okt_in_four_threads_at_once_matches_one_thread():
    texts = ["아버지가 방에 들어가신다", "이 영화 진짜 재밌네요ㅋㅋ", "최악이다"]
    cfg = {"tagger": "okt"}
    # Fresh threads: each builds its own Okt at the same moment (and races the JVM start if
    # nothing in this process started it yet).
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: tokenize_texts(texts, cfg), range(4)))
    single = tokenize_texts(texts, cfg)
    assert all(r == single for r in results)
    tokens, tags = single
    assert tokens[0][0] == "아버지"
    assert "Noun" in tags[0]


class SpyPool(ProcessPoolExecutor):
    created: list[str] = []

    def __init__(self, workers, mp_context=None, **kwargs):
        SpyPool.created.append(mp_context.get_start_method())
        super().__init__(workers, mp_context=mp_context, **kwargs)


def test_spawn_pool_matches_single_process(monkeypatch):
    t = table([f"{text} {i}" for i in range(3) for text in TEXTS])  # 30 rows, chunk_size 4 -> 8 partitions
    single, rep1 = tokenize_table(t, {"tagger": "mecab", "workers": 1, "chunk_size": 4})
    SpyPool.created.clear()
    monkeypatch.setattr(partition, "ProcessPoolExecutor", SpyPool)
    pooled, rep2 = tokenize_table(t, {"tagger": "mecab", "workers": 2, "chunk_size": 4})
    assert SpyPool.created == ["spawn"]  # the pool path really ran, with spawn
    assert pooled.equals(single)
    assert rep2["partitions"] == 8 and 1 <= rep2["worker_processes"] <= 2
    assert rep2["taggers_built"] == rep2["worker_processes"]  # one tagger per worker, built once
    same = ("rows_in", "rows_kept", "tokens_total", "tokens_per_row_max", "rows_without_tokens", "tagged")
    assert {k: rep2[k] for k in same} == {k: rep1[k] for k in same}
