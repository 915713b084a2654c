"""Ingest on tiny files written under tmp_path: formats, quarantine, splits, and errors a user can act on."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.n21.formats import QUARANTINE, read_rows
from tasks.n21.ingest import CANONICAL, ingest
from tasks.splits import IngestError, assign_splits
from tests.conftest import n21_defaults

DATA = n21_defaults()["data"]
SPLIT = {"dev": 0.1, "test": 0.15, "seed": 13}
COLUMNS = {"id": "id", "text": "text", "label": "label", "split": None}


def write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    lines = ["\t".join(header)] + ["\t".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cfg(path: Path, fmt: str = "tsv", columns: dict | None = None, split: dict | None = None, **extra) -> dict:
    return {
        **DATA,
        "path": str(path),
        "format": fmt,
        "encoding": "utf-8",
        "columns": dict(columns or COLUMNS),
        "split": dict(split or SPLIT),
        **extra,
    }


def all_train() -> dict:
    return {"dev": 0.0, "test": 0.0, "seed": 1}


# --- NSMC --------------------------------------------------------------------------------------


def test_nsmc_quote_kept_verbatim_and_empty_document_quarantined(tmp_path):
    quoted = '"재밌다" 최고 "진짜'  # unbalanced quotes: a quoting reader would swallow the next lines
    path = write_tsv(
        tmp_path / "ratings.txt",
        ["id", "document", "label"],
        [["101", quoted, "1"], ["102", "", "0"], ["103", "그냥 그래요", "0"]],
    )
    kept, quarantined, report = ingest({**DATA, "path": str(path), "format": "nsmc", "split": all_train()})

    assert kept.schema == CANONICAL
    assert quarantined.schema == QUARANTINE
    assert kept.column("id").to_pylist() == ["101", "103"]
    assert kept.column("text").to_pylist() == [quoted, "그냥 그래요"]
    assert kept.column("source_row").to_pylist() == [2, 4]
    q = quarantined.to_pylist()
    assert len(q) == 1
    assert q[0]["reason"] == "empty text"
    assert q[0]["source_row"] == 3  # editor line: header is line 1
    assert q[0]["source_file"] == str(path)
    assert q[0]["raw"].startswith("102")
    assert report["rows_in"] == 3
    assert report["rows_in"] == report["rows_kept"] + report["rows_quarantined"]
    assert report["quarantine_reasons"] == {"empty text": 1}


def test_nsmc_ignores_configured_columns(tmp_path):
    path = write_tsv(tmp_path / "ratings.txt", ["id", "document", "label"], [["1", "좋아요", "1"]])
    # columns in params name `text`, which NSMC lacks; the nsmc format uses its own layout.
    kept, _, _ = ingest(cfg(path, "nsmc", split=all_train()))
    assert kept.column("text").to_pylist() == ["좋아요"]


# --- generic formats with a column mapping --------------------------------------------------


MAPPED = {"id": "review_id", "text": "body", "label": "stars", "split": None}
RECORDS = [
    {"review_id": "a1", "body": '배우 연기가 "최고", 정말', "stars": "2"},
    {"review_id": "a2", "body": "  지루했다  ", "stars": "2   "},
    {"review_id": "a3", "body": "다시 볼래요", "stars": "1"},
]


def write_format(tmp_path: Path, fmt: str, records: list[dict]) -> Path:
    df = pd.DataFrame(records)
    if fmt == "csv":
        path = tmp_path / "data.csv"
        df.to_csv(path, index=False)
    elif fmt == "tsv":
        # No quoting in TSV: write raw lines so the `"` in a text stays as-is.
        path = write_tsv(tmp_path / "data.tsv", list(df.columns), df.astype(str).values.tolist())
    elif fmt == "jsonl":
        path = tmp_path / "data.jsonl"
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    else:
        path = tmp_path / "data.parquet"
        pq.write_table(pa.Table.from_pylist(records), path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_generic_formats_with_column_mapping(tmp_path, fmt):
    path = write_format(tmp_path, fmt, RECORDS)
    kept, quarantined, report = ingest(cfg(path, fmt, MAPPED, split=all_train()))
    assert kept.schema == CANONICAL
    assert quarantined.num_rows == 0
    assert kept.column("id").to_pylist() == ["a1", "a2", "a3"]
    assert kept.column("text").to_pylist() == ['배우 연기가 "최고", 정말', "지루했다", "다시 볼래요"]
    assert kept.column("label").to_pylist() == ["2", "2", "1"]  # '2   ' normalized
    assert kept.column("split").to_pylist() == ["train"] * 3
    assert kept.column("source_file").to_pylist() == [str(path)] * 3
    assert report["rows_in"] == report["rows_kept"] + report["rows_quarantined"] == 3


def test_jsonl_integer_labels_become_plain_strings(tmp_path):
    records = [
        {"id": 1, "text": "좋다", "label": 2},
        {"id": 2, "text": "별로", "label": "2   "},
        {"id": 3, "text": "괜찮다", "label": 1},
    ]
    path = write_format(tmp_path, "jsonl", records)
    kept, _, _ = ingest(cfg(path, "jsonl", split=all_train()))
    assert kept.column("label").to_pylist() == ["2", "2", "1"]
    assert kept.column("id").to_pylist() == ["1", "2", "3"]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_null_text_is_quarantined_not_a_crash(tmp_path, fmt):
    records = [{"id": "a", "text": "좋다", "label": "1"}, {"id": "b", "text": None, "label": "0"}]
    path = write_format(tmp_path, fmt, records)
    kept, quarantined, _ = ingest(cfg(path, fmt, split=all_train()))
    assert kept.column("id").to_pylist() == ["a"]
    assert quarantined.column("reason").to_pylist() == ["empty text"]
    # JSONL: the record's line; Parquet: its 1-based row (neither has a header line)
    assert quarantined.column("source_row").to_pylist() == [2]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_integer_labels_with_a_missing_value(tmp_path, fmt):
    records = [
        {"id": 1, "text": "좋다", "label": 2},
        {"id": 2, "text": "별로", "label": 1},
        {"id": 3, "text": "라벨 없음", "label": None},
    ]
    path = write_format(tmp_path, fmt, records)
    kept, quarantined, _ = ingest(cfg(path, fmt, split=all_train()))
    assert quarantined.column("reason").to_pylist() == ["empty label"]
    assert kept.column("label").to_pylist() == ["2", "1"]
    assert kept.column("id").to_pylist() == ["1", "2"]


def test_empty_label_quarantined(tmp_path):
    path = write_tsv(tmp_path / "d.tsv", ["id", "text", "label"], [["1", "좋다", "1"], ["2", "나쁘다", "  "]])
    kept, quarantined, report = ingest(cfg(path, split=all_train()))
    assert kept.column("id").to_pylist() == ["1"]
    assert quarantined.to_pylist()[0]["reason"] == "empty label"
    assert quarantined.to_pylist()[0]["source_row"] == 3
    assert report["rows_in"] == report["rows_kept"] + report["rows_quarantined"] == 2


def test_missing_id_column_numbers_rows(tmp_path):
    path = write_tsv(tmp_path / "d.tsv", ["text", "label"], [["좋다", "1"], ["나쁘다", "0"]])
    kept, _, _ = ingest(
        cfg(path, columns={"id": None, "text": "text", "label": "label", "split": None}, split=all_train())
    )
    assert kept.column("id").to_pylist() == ["2", "3"]


# --- split column given in the data ---------------------------------------------------------


def test_split_column_used_as_given_and_invalid_quarantined(tmp_path):
    rows = [
        ["1", "가", "1", "train"],
        ["2", "나", "0", "dev"],
        ["3", "다", "1", "test"],
        ["4", "라", "0", "validation"],
        ["5", "마", "1", "train"],
    ]
    path = write_tsv(tmp_path / "d.tsv", ["id", "text", "label", "part"], rows)
    columns = {**COLUMNS, "split": "part"}
    # Split fractions that would put everything in test if hashing were used.
    kept, quarantined, report = ingest(cfg(path, columns=columns, split={"dev": 0.0, "test": 0.99, "seed": 1}))
    assert kept.column("id").to_pylist() == ["1", "2", "3", "5"]
    assert kept.column("split").to_pylist() == ["train", "dev", "test", "train"]
    q = quarantined.to_pylist()
    assert [(r["source_row"], r["reason"]) for r in q] == [(5, "split not one of train/dev/test")]
    assert report["splits"] == {"train": 2, "dev": 1, "test": 1}
    assert report["rows_in"] == report["rows_kept"] + report["rows_quarantined"] == 5


# --- hash splits ----------------------------------------------------------------------------


def synthetic_texts(n: int) -> list[str]:
    return [f"리뷰 번호 {i} 영화 {i * 7 % 13}" for i in range(n)]


def test_hash_split_deterministic_and_seeded():
    texts = synthetic_texts(200)
    a = assign_splits(texts, dev=0.1, test=0.15, seed=13)
    assert a == assign_splits(list(texts), dev=0.1, test=0.15, seed=13)
    assert set(a) <= {"train", "dev", "test"}
    assert a != assign_splits(texts, dev=0.1, test=0.15, seed=14)


def test_hash_split_keeps_identical_texts_together():
    texts = synthetic_texts(300)
    doubled = texts + texts[::-1] + ["최고"] * 50
    out = assign_splits(doubled, dev=0.2, test=0.2, seed=13)
    by_text: dict[str, set] = {}
    for t, s in zip(doubled, out):
        by_text.setdefault(t, set()).add(s)
    assert all(len(s) == 1 for s in by_text.values())


def test_hash_split_fractions_on_2000_rows():
    out = Counter(assign_splits(synthetic_texts(2000), dev=0.1, test=0.15, seed=13))
    assert abs(out["dev"] / 2000 - 0.10) < 0.03
    assert abs(out["test"] / 2000 - 0.15) < 0.03
    assert abs(out["train"] / 2000 - 0.75) < 0.04


def test_hash_split_stable_when_rows_appended(tmp_path):
    texts = synthetic_texts(60)
    rows = [[f"r{i}", t, str(i % 2)] for i, t in enumerate(texts)]
    split = {"dev": 0.2, "test": 0.2, "seed": 5}
    first, _, _ = ingest(cfg(write_tsv(tmp_path / "v1.tsv", ["id", "text", "label"], rows[:40]), split=split))
    second, _, _ = ingest(cfg(write_tsv(tmp_path / "v2.tsv", ["id", "text", "label"], rows), split=split))
    before = dict(zip(first.column("id").to_pylist(), first.column("split").to_pylist()))
    after = dict(zip(second.column("id").to_pylist(), second.column("split").to_pylist()))
    assert len(before) == 40 and len(after) == 60
    assert {k: after[k] for k in before} == before
    assert len(set(after.values())) == 3  # the check is not trivially "all train"


def test_hash_split_rejects_bad_fractions():
    with pytest.raises(IngestError, match="dev=0.6 and test=0.5"):
        assign_splits(["a"], dev=0.6, test=0.5, seed=1)


# --- errors -----------------------------------------------------------------------------------


def test_missing_column_names_file_and_columns_present(tmp_path):
    path = write_tsv(tmp_path / "reviews.tsv", ["id", "document", "label"], [["1", "좋다", "1"]])
    with pytest.raises(IngestError) as err:
        ingest(cfg(path, split=all_train()))
    msg = str(err.value)
    assert str(path) in msg
    assert "'text'" in msg
    assert "['id', 'document', 'label']" in msg


def test_empty_file(tmp_path):
    path = tmp_path / "empty.tsv"
    path.write_bytes(b"")
    with pytest.raises(IngestError, match="empty") as err:
        ingest(cfg(path))
    assert str(path) in str(err.value)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(
        IngestError, match=r"nope.tsv: no such file; check the data path \(params key data.path, or --data\)"
    ):
        read_rows(tmp_path / "nope.tsv", "tsv")
    path = write_tsv(tmp_path / "d.tsv", ["id"], [["1"]])
    with pytest.raises(IngestError, match="unknown format 'xlsx'"):
        read_rows(path, "xlsx")


@pytest.mark.parametrize("fmt", ["tsv", "csv", "jsonl"])
def test_cp949_bytes_name_the_encoding(tmp_path, fmt):
    path = tmp_path / f"windows.{fmt}"
    if fmt == "jsonl":
        path.write_bytes('{"id": 1, "text": "영화 좋다", "label": 1}\n'.encode("cp949"))
    else:
        sep = "\t" if fmt == "tsv" else ","
        path.write_bytes(f"id{sep}text{sep}label\n1{sep}영화 좋다{sep}1\n".encode("cp949"))
    with pytest.raises(IngestError) as err:
        read_rows(path, fmt, encoding="utf-8")
    msg = str(err.value)
    assert str(path) in msg
    assert "utf-8" in msg
    assert "cp949" in msg  # the hint a Korean user needs
    # and the hint works
    assert "영화 좋다" in read_rows(path, fmt, encoding="cp949").frame["text"].tolist()


def test_cp949_error_reports_file_byte_offset(tmp_path):
    path = tmp_path / "windows.tsv"
    path.write_bytes("id\ttext\tlabel\n1\t영화\t1\n".encode("cp949"))
    with pytest.raises(IngestError, match=r"byte offset 16 \(line 2\) is not valid utf-8"):
        read_rows(path, "tsv")


def test_duplicate_ids_name_rows(tmp_path):
    rows = [["1", "가", "1"], ["2", "나", "0"], ["1", "다", "1"], ["3", "라", "0"], ["2", "마", "1"]]
    path = write_tsv(tmp_path / "d.tsv", ["id", "text", "label"], rows)
    with pytest.raises(IngestError) as err:
        ingest(cfg(path, split=all_train()))
    msg = str(err.value)
    assert "2 duplicate id(s)" in msg
    assert "[4, 6]" in msg  # editor rows of the repeated ids
    assert str(path) in msg


def test_no_training_rows(tmp_path):
    rows = [["1", "가", "1", "test"], ["2", "나", "0", "dev"]]
    path = write_tsv(tmp_path / "d.tsv", ["id", "text", "label", "split"], rows)
    with pytest.raises(IngestError, match="no training rows"):
        ingest(cfg(path, columns={**COLUMNS, "split": "split"}))


def test_report_counts_and_digest(tmp_path):
    rows = [["1", "좋다", "1"], ["2", "", "0"], ["3", "별로", ""], ["4", "보통", "0"]]
    path = write_tsv(tmp_path / "d.tsv", ["id", "text", "label"], rows)
    kept, quarantined, report = ingest(cfg(path, split=all_train()))
    assert report["rows_in"] == 4
    assert report["rows_kept"] == kept.num_rows == 2
    assert report["rows_quarantined"] == quarantined.num_rows == 2
    assert report["rows_in"] == report["rows_kept"] + report["rows_quarantined"]
    assert report["quarantine_reasons"] == {"empty text": 1, "empty label": 1}
    assert report["splits"] == {"train": 2, "dev": 0, "test": 0}
    import hashlib

    assert report["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_texts_the_leakage_check_calls_the_same_land_in_one_split():
    """Splits hash the same key the validate stage's leakage check compares: case, spacing, Unicode form aside."""
    import unicodedata

    variants = ["good", "Good", "GOOD ", "  good", "재밌어요", "재밌어요 ", unicodedata.normalize("NFD", "재밌어요")]
    for seed in range(40):
        splits = assign_splits(variants, dev=0.3, test=0.3, seed=seed)
        assert len(set(splits[:4])) == 1 and len(set(splits[4:])) == 1, (seed, splits)
