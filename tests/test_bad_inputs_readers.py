"""The bad-input corpus, continued: values that look missing, files without a header line, an unclosed
double quote, JSON values that are not one text, paths that are not files, and files whose rows are all
quarantined, for every reader of the four problem types."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.stages import ingest_runner
from tasks.n2m.formats import read_pairs
from tasks.n21.ingest import ingest
from tasks.splits import IngestError, QuarantineError
from tasks.n2m.ingest import ingest_pairs, read_pairs_cfg
from tasks.n2n.formats import read_ner
from tasks.n2n.ingest import ingest_ner
from tasks.params import load_params
from tasks.n2path.ingest import ingest_parse, read_treebank
from tests.conftest import ROOT
from tests.test_bad_inputs import ALL_TRAIN, PATHS, f, n21, reasons

QUOTE_FIX = (
    "an unclosed quote merges every following line into one record. Close the quote (a quote inside a "
    'quoted field is written ""), or remove it'
)


def n2m(name: str, fmt: str = "chatbot", **extra) -> dict:
    data = load_params(ROOT / "params.yaml")["n2m"]["data"]  # its defaults, under the test's keys
    return {**data, "path": str(f(name)), "format": fmt, "split": {**data["split"], **ALL_TRAIN}, **extra}


def n2n(name: str, fmt: str = "jsonl") -> dict:
    return {
        "path": str(f(name)),
        "format": fmt,
        "encoding": "utf-8",
        "split_as": None,
        "extra_sources": [],
        "type_map": {},
        "keep_unmapped_types": True,
        "split": dict(ALL_TRAIN),
    }


def n2path(name: str) -> dict:
    return {
        "path": str(f(name)),
        "format": "conllu",
        "encoding": "utf-8",
        "split_as": None,
        "extra_sources": [],
        "split": dict(ALL_TRAIN),
    }


# ---------------------------------------------------------------- "none", "NA", "null", "-" are values


def test_none_is_a_class_through_the_canonical_table_and_a_schema_listing_it(tmp_path):
    from tasks.label_schema import SchemaError, check_known, load_schema

    columns = {"id": None, "text": "comments", "label": "hate", "split": None}
    kept, quarantined, report = ingest(n21("n21_none_class.tsv", columns=columns))
    assert kept.column("label").to_pylist() == ["none", "offensive", "hate", "none", "offensive"]
    assert kept.column("text").to_pylist()[3:] == ["NA", "-"]  # comments someone wrote
    assert [(q["source_row"], q["reason"]) for q in quarantined.to_pylist()] == [(7, "empty label")]
    assert (report["rows_in"], report["rows_kept"]) == (6, 5)
    schema = tmp_path / "hate.yaml"
    schema.write_text(
        "problem: n21\nclasses:\n"
        + "".join(f"  - {{id: {i}, value: {v}, name: {v}}}\n" for i, v in enumerate(["none", "offensive", "hate"])),
        encoding="utf-8",
    )
    values = [c["value"] for c in load_schema(schema, "n21")]
    assert values == ["none", "offensive", "hate"]
    check_known(kept, "label", values, "n21", str(schema))  # every row's class is in the schema
    with pytest.raises(SchemaError, match="'none' \\(2 rows"):
        check_known(kept, "label", ["offensive", "hate"], "n21", str(schema))


@pytest.mark.parametrize("fmt", ["csv", "tsv", "nsmc", "parquet"])
def test_missing_like_cells_are_values_and_only_empty_or_null_is_missing(tmp_path, fmt):
    rows = [["1", "N/A", "none"], ["2", "null", "NA"], ["3", "-", "nan"], ["4", "", "NULL"], ["5", "좋아요", ""]]
    path = tmp_path / f"d.{fmt}"
    if fmt == "parquet":
        pq.write_table(
            pa.table(
                {
                    "id": ["1", "2", "3", "4", "5"],
                    "text": ["N/A", "null", "-", None, "좋아요"],
                    "label": ["none", "NA", "nan", "NULL", None],
                }
            ),
            path,
        )
    else:
        sep = "," if fmt == "csv" else "\t"
        head = ["id", "document" if fmt == "nsmc" else "text", "label"]
        path.write_text("\n".join(sep.join(r) for r in [head, *rows]) + "\n", encoding="utf-8")
    kept, quarantined, _ = ingest(n21(path.name, fmt) | {"path": str(path)})
    assert kept.column("text").to_pylist() == ["N/A", "null", "-"]
    assert kept.column("label").to_pylist() == ["none", "NA", "nan"]
    assert reasons(quarantined) == ["empty text", "empty label"]


def test_missing_like_values_in_json_and_the_other_readers():
    kept, quarantined, _ = ingest(n21("n21_missing_like.jsonl", "jsonl"))
    assert list(zip(kept.column("text").to_pylist(), kept.column("label").to_pylist())) == [
        ("null", "NULL"),
        ("N/A", "nan"),
        ("괜찮아요", "-"),
    ]
    assert [(q["source_row"], q["reason"]) for q in quarantined.to_pylist()] == [(4, "empty label"), (5, "empty text")]

    rows, quarantined = read_pairs(f("chatbot_missing_like.csv"), "chatbot")
    assert [(r["question"], r["answer"]) for r in rows] == [
        ("뭐라고 할까?", "none"),
        ("NA", "NULL"),
        ("대답이 대시인 줄", "-"),
    ]
    assert [q["source_row"] for q in quarantined] == [5]  # the empty answer

    records, _ = read_ner(f("ner_ids.jsonl"), "jsonl")
    assert [r["text"] for r in records][-2:] == ["null", "none"]
    sentences, quarantined = read_treebank(f("conllu_missing_like.conllu"), "conllu")
    assert sentences[0]["words"] == ["none", "NA", "-", "null"] and quarantined == []


# ---------------------------------------------------------------- files without a header line


HEADERLESS = {"id": None, "text": "1", "label": "0", "split": None}
NO_HEADER_FIX = "a tab inside a field or a missing field? fix the row"


def test_headerless_tsv_columns_by_position_and_editor_lines():
    kept, quarantined, report = ingest(n21("n21_headerless.tsv", header=False, columns=HEADERLESS))
    assert kept.column("text").to_pylist() == ["내일 비 온대", "몇 시에 만날까", "오늘은 일찍 잘게", "불 꺼 줄래"]
    assert kept.column("label").to_pylist() == ["0", "2", "1", "3"]
    assert kept.column("source_row").to_pylist() == [1, 2, 4, 6]  # no header: the first row is line 1
    assert kept.column("id").to_pylist() == ["1", "2", "4", "6"]
    assert [(q["source_row"], q["reason"]) for q in quarantined.to_pylist()] == [
        (3, f"3 fields, most rows have (no header line) 2; {NO_HEADER_FIX}")
    ]
    assert (report["rows_in"], report["rows_kept"], report["rows_quarantined"]) == (5, 4, 1)
    # the same file read with a header: its first row would be the column names
    with pytest.raises(IngestError, match=r"column\(s\) \['1'\] not found; the file has \['0', '내일 비 온대'\]"):
        ingest(n21("n21_headerless.tsv", columns=HEADERLESS))


def test_headerless_through_params_yaml_and_the_stage(tmp_path):
    from flows.stages import stages_for
    from tasks.params import load_params

    params = load_params(
        Path(__file__).resolve().parents[1] / "params.yaml",
        [
            f"n21.work_dir={tmp_path}",
            f"n21.data.path={f('n21_headerless.tsv')}",
            "n21.data.header=false",
            "n21.data.columns.id=null",
            "n21.data.columns.text=1",
            "n21.data.columns.label=0",
            "n21.data.max_quarantine_share=0.5",
        ],
    )
    ingest_stage = stages_for("n21")[0]
    assert ingest_stage.name == "ingest" and "data" in ingest_stage.params  # dvc.yaml: the stage reads n21.data
    report = ingest_stage.run(params["n21"])
    assert (report["rows_in"], report["rows_kept"], report["rows_quarantined"]) == (5, 4, 1)
    assert pq.read_table(tmp_path / "ingested.parquet").column("text").to_pylist()[0] == "내일 비 온대"


def test_header_false_is_refused_where_a_format_has_no_header_line():
    with pytest.raises(IngestError, match="data.header is false, which only the csv and tsv formats read"):
        ingest(n21("n21_mixed_labels.jsonl", "jsonl", header=False))
    with pytest.raises(ValueError, match="data.header is false, which only the csv and tsv formats read"):
        read_pairs_cfg(n2m("chatbot_labels.csv", header=False))


def test_headerless_n2m_tsv():
    kept, quarantined, report = ingest_pairs(
        n2m("n2m_headerless.tsv", "tsv", header=False, columns={"question": 0, "answer": 1, "label": None})
    )
    assert kept.column("question").to_pylist() == ["배고파", "심심해", "졸려"]
    assert kept.column("source_row").to_pylist() == [1, 2, 4]
    assert reasons(quarantined)[0].endswith(
        "line 3: 1 field, most rows have (no header line) 2; quote fields that contain a tab, or fix the row"
    )
    assert report["rows_in"] == 4
    with pytest.raises(ValueError, match=r"has no header line \(data.header: false\), so its columns are \['0', '1'\]"):
        read_pairs_cfg(n2m("n2m_headerless.tsv", "tsv", header=False))


# ---------------------------------------------------------------- an unclosed double quote


def test_unclosed_quote_is_an_error_naming_the_line_where_it_opened():
    path = f("n21_unclosed_quote.csv")
    with pytest.raises(IngestError) as err:
        ingest(n21(path.name, "csv"))
    assert str(err.value) == (
        f"{path}: line 11: the double quote that opens a field on this line is still open at "
        f"line 12, which reads as a row of its own (3 fields): {QUOTE_FIX}"
    )
    path = f("chatbot_unclosed_quote.csv")
    with pytest.raises(ValueError) as err:
        read_pairs(path, "chatbot")
    assert str(err.value) == (
        f"{path}: line 4: the double quote that opens a field on this line is still open at "
        f"line 5, which reads as a row of its own (3 fields): {QUOTE_FIX}"
    )


def test_quoted_record_over_the_line_limit_is_an_error_and_short_ones_still_read(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text('id,text,label\n1,좋아요,positive\n2,"끝나지 않는 인용\n' + "가,나,다,라\n" * 12, encoding="utf-8")
    with pytest.raises(IngestError) as err:
        ingest(n21("x", "csv") | {"path": str(path)})
    assert str(err.value) == (
        f"{path}: line 3: the double quote that opens a field on this line runs over 13 lines, "
        f"to line 15 (a quoted field may hold at most 10 lines): {QUOTE_FIX}"
    )
    # a quote opened in the last row is one row lost, and counted: rows_in is the file's data lines
    path.write_text('id,text,label\n1,좋아요,positive\n2,괜찮아요,negative\n3,"마지막 줄,positive\n', encoding="utf-8")
    _, quarantined, report = ingest(n21("x", "csv") | {"path": str(path)})
    assert (report["rows_in"], report["rows_quarantined"], quarantined.column("source_row").to_pylist()) == (3, 1, [4])
    path.write_text('id,text,label\n1,좋아요,positive\n2,"끝나지 않는\n인용\n', encoding="utf-8")
    with pytest.raises(
        IngestError,
        match="line 3: the double quote that opens a field on this line never closes: "
        "the file ends inside it \\(line 4\\)",
    ):
        ingest(n21("x", "csv") | {"path": str(path)})
    kept, _, report = ingest(n21("n21_crlf_quoted.csv", "csv"))  # a legitimate two-line field
    assert report["rows_in"] == 2 and kept.column("text").to_pylist()[0] == "좋아요, 정말\n두 줄 후기"
    # its last line holds commas but closes the quote: not a row of its own
    path.write_text('id,text,label\n1,"첫 줄\n둘째, 셋째",positive\n2,별로,negative\n', encoding="utf-8")
    kept, _, _ = ingest(n21("x", "csv") | {"path": str(path)})
    assert kept.column("text").to_pylist() == ["첫 줄\n둘째, 셋째", "별로"]


# ---------------------------------------------------------------- JSON values that are not one text


def test_n2n_jsonl_ids_that_are_numbers_or_objects():
    records, quarantined = read_ner(f("ner_ids.jsonl"), "jsonl")
    assert [r["id"] for r in records] == ["7", "ner_ids:4", "11"]
    at = f"sentence at {f('ner_ids.jsonl')} line"
    fix = "write the id as a string (or leave it out: the line number stands in)"
    assert reasons(quarantined) == [
        f"{at} 2: field 'id' is a JSON object, not a string or number; {fix}",
        f"{at} 3: field 'id' is a JSON list, not a string or number; {fix}",
    ]
    table, quarantine, report = ingest_ner(n2n("ner_ids.jsonl"))  # used to fail: "Expected bytes, got a 'int'"
    assert table.column("id").to_pylist() == ["7", "ner_ids:4", "11"] and report["rows_quarantined"] == 2


def test_n21_and_n2m_jsonl_objects_or_lists_in_used_fields_are_quarantined():
    kept, quarantined, report = ingest(n21("n21_nested.jsonl", "jsonl"))
    assert kept.column("id").to_pylist() == ["1", "5"]  # an unused key holding a list does no harm
    fix = "not one value; write it as a string or a number"
    assert [(q["source_row"], q["reason"]) for q in quarantined.to_pylist()] == [
        (2, f"text (key 'text') is a JSON object, {fix}"),
        (3, f"label (key 'label') is a JSON list, {fix}"),
        (4, f"id (key 'id') is a JSON object, {fix}"),
    ]
    assert report["rows_in"] == report["rows_kept"] + report["rows_quarantined"] == 5
    rows, quarantined = read_pairs(f("n2m_nested.jsonl"), "jsonl")
    at = f"record at {f('n2m_nested.jsonl')} line"
    assert [r["label"] for r in rows] == ["0"] and reasons(quarantined) == [
        f"{at} 2: question (column 'question') is a JSON object, not text; write it as a string",
        f"{at} 3: label (column 'label') is a JSON list, not text; write it as a string",
    ]


# ---------------------------------------------------------------- data.path that is not a regular file


def _within(seconds: float, call):
    """call() in a thread; a reader that opened a FIFO would block forever, so give up after `seconds`."""
    box: dict = {}

    def run():
        try:
            box["value"] = call()
        except Exception as err:  # the error is what the test looks at
            box["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the reader blocked: it opened the FIFO"
    return box.get("error")


NOT_REGULAR = "is not a regular file (a FIFO, socket or device)"


@pytest.mark.parametrize(
    "read",
    [
        lambda p: ingest(n21("x") | {"path": str(p)}),
        lambda p: ingest(n21("x", "parquet") | {"path": str(p)}),
        lambda p: read_pairs(p, "chatbot"),
        lambda p: read_ner(p, "kmou"),
        lambda p: read_treebank(p, "conllu"),
    ],
)
def test_a_fifo_is_refused_without_opening_it(tmp_path, read):
    fifo = tmp_path / "pipe.tsv"
    os.mkfifo(fifo)
    err = _within(5, lambda: read(fifo))
    assert isinstance(err, ValueError) and str(err).startswith(f"{fifo}: {NOT_REGULAR}")


@pytest.mark.parametrize("read", [lambda p: ingest(n21("x") | {"path": str(p)}), lambda p: read_pairs(p, "csv")])
def test_a_directory_is_named_as_a_directory(tmp_path, read):
    with pytest.raises(ValueError) as err:
        read(tmp_path)
    assert str(err.value) == (
        f"{tmp_path}: is a directory; point data.path (or --data) at a data file (this format "
        "reads one file, not a folder)"
    )


# ---------------------------------------------------------------- every row quarantined


ALL_QUARANTINED = {
    "n21": (ingest, n21("n21_all_quarantined.tsv"), 3, "empty label (2); empty text (1)"),
    "n2m": (
        ingest_pairs,
        n2m("chatbot_all_quarantined.csv"),
        2,
        "answer ('A') is empty or null (2)",
    ),
    "n2n": (
        ingest_ner,
        n2n("ner_all_quarantined.jsonl"),
        2,
        "invalid JSON (Expecting value, column 42) (1); entities[0]: span 0-40 is not inside the text (length 4) "
        "with start < end (1)",
    ),
    "n2path": (
        ingest_parse,
        n2path("conllu_all_quarantined.conllu"),
        2,
        "no word has head 0: the sentence needs exactly one root (2)",
    ),
}


@pytest.mark.parametrize("problem", list(ALL_QUARANTINED))
def test_all_rows_quarantined_says_so_with_reasons_and_the_quarantine_file(tmp_path, problem):
    spec, data, n, top = ALL_QUARANTINED[problem]
    section = {"work_dir": str(tmp_path), "data": {**data, "max_quarantine_share": 1.0}}  # the limit allows it
    with pytest.raises(QuarantineError) as err:
        ingest_runner(PATHS, spec, problem)(section)
    quarantine = tmp_path / "quarantine.parquet"
    assert str(err.value) == (
        f"{data['path']}: all {n} rows were quarantined, none is "
        f"left to train on. Top reasons: {top}. Each row, with its file, line and reason, is in {quarantine}. Fix "
        "the data (or data.format, data.columns, data.header, data.encoding)."
    )
    assert pq.read_table(quarantine).num_rows == n
    # called directly (as `hanflow evaluate` does), the ingest function says the same, without a file
    direct = {"n21": ingest, "n2m": ingest_pairs, "n2n": ingest_ner, "n2path": ingest_parse}[problem]
    with pytest.raises(QuarantineError, match=f"all {n} rows were quarantined.*Top reasons: "):
        direct(data)
