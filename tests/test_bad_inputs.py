"""The bad-input corpus (tests/bad_inputs/, written by make_corpus.py): every case, every reader.

Each case either fails with an exact message naming the file, the line and the fix, or sends the
row to quarantine (file, row, raw content, reason) and the test counts it. Nothing is dropped
silently: every ingest report satisfies rows_in = rows_kept + rows_quarantined, and the flow fails
when the quarantined share passes `<problem>.data.max_quarantine_share`.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from flows.stages import ingest_runner
from tasks.n2m.formats import read_pairs
from tasks.n21.ingest import ingest
from tasks.n2m.ingest import ingest_pairs
from tasks.n2n.ingest import ingest_ner
from tasks.n2path.ingest import ingest_parse
from tasks.splits import IngestError, QuarantineError
from tasks.n2n.formats import read_ner
from tasks.params import ParamsError, load_params, load_schema
from tasks.textfile import input_notes
from tasks.n2path.formats import read_conllu, read_klue_dp
from tests.conftest import n21_defaults

BAD = Path(__file__).resolve().parent / "bad_inputs"
ALL_TRAIN = {"dev": 0.0, "test": 0.0, "seed": 1}
N21_COLUMNS = {"id": "id", "text": "text", "label": "label", "split": None}
CP949_FIX = (
    "convert the file to UTF-8, or set data.encoding to the file's encoding "
    "(e.g. cp949 for files saved by Korean Windows tools)"
)


def f(name: str) -> Path:
    return BAD / name


def n21(name: str, fmt: str = "tsv", **extra) -> dict:
    return {
        **n21_defaults()["data"],
        "path": str(f(name)),
        "format": fmt,
        "encoding": "utf-8",
        "columns": dict(N21_COLUMNS),
        "split": dict(ALL_TRAIN),
        **extra,
    }


def reasons(quarantined: list[dict] | pa.Table) -> list[str]:
    rows = quarantined.to_pylist() if isinstance(quarantined, pa.Table) else quarantined
    return [q["reason"] for q in rows]


def long_line_file(tmp_path: Path, name: str, head: str, line: str, tail: str) -> Path:
    """A file whose line 2 (after `head`) is a 1 MB `line`: generated, not committed."""
    path = tmp_path / name
    path.write_text(head + line + tail, encoding="utf-8")
    return path


MB = "가나다라마" * 70_000  # 350,000 characters: 1,050,000 bytes of UTF-8
LONG_REASON = (
    "line {row} is {n:,} characters long, over the 100,000-character limit for one line: "
    "a missing line break or a pasted document? split or remove it"
)


# ---------------------------------------------------------------- non-UTF-8 bytes


@pytest.mark.parametrize(
    "name, read, offset",
    [
        ("n21_cp949.tsv", lambda p: ingest(n21(p.name)), 16),
        ("chatbot_cp949.csv", lambda p: read_pairs(p, "chatbot"), 10),
        ("kmou_cp949.txt", lambda p: read_ner(p, "kmou"), 8),
        ("conllu_cp949.conllu", lambda p: read_conllu(p), 28),
    ],
)
def test_non_utf8_names_file_line_offset_and_encoding_tried(name, read, offset):
    with pytest.raises(ValueError) as err:
        read(f(name))
    assert str(err.value) == (
        f"{f(name)}: byte offset {offset} (line 2) is not valid utf-8 (invalid start byte); {CP949_FIX}"
    )


def test_non_utf8_reads_with_the_encoding_the_message_suggests():
    kept, _, _ = ingest(n21("n21_cp949.tsv", encoding="cp949"))
    assert kept.column("text").to_pylist() == ["배송이 빨라서 좋아요", "포장이 엉망이었어요"]
    assert len(read_conllu(f("conllu_cp949.conllu"), encoding="cp949")[0]) == 1


# ---------------------------------------------------------------- UTF-8 BOM and CRLF: read, and reported


def test_bom_and_crlf_are_read_cleanly_and_noted():
    kept, quarantined, _ = ingest(n21("n21_bom_crlf.tsv"))
    assert quarantined.num_rows == 0
    assert kept.column("id").to_pylist() == ["1", "2", "3"]  # not '\ufeffid' as a column name
    assert kept.column("label").to_pylist() == ["positive", "negative", "positive"]  # no '\r'
    kept, _, _ = ingest(n21("n21_crlf_quoted.csv", "csv"))
    assert kept.column("text").to_pylist() == ["좋아요, 정말\n두 줄 후기", "별로예요"]
    assert kept.column("source_row").to_pylist() == [2, 4]  # the quoted record spans lines 2-3
    rows, quarantined = read_pairs(f("chatbot_bom_crlf.csv"), "chatbot")
    assert quarantined == [] and [r["label"] for r in rows] == ["0", "2"] and rows[0]["question"] == "오늘 뭐 먹지?"
    records, quarantined = read_ner(f("klp_bom_crlf.txt"), "klp")
    assert quarantined == [] and records[0]["text"] == "하늘이는 월요일에 광주로 떠났다."
    # the ingest stage's report says what was normalised
    assert input_notes([f("n21_bom_crlf.tsv"), f("chatbot_bom_crlf.csv"), f("n21_crlf_quoted.csv")]) == {
        "utf8_bom_stripped": 2,
        "crlf_line_ends": 3,
    }


# ---------------------------------------------------------------- empty files


@pytest.mark.parametrize(
    "name, read",
    [
        ("n21_empty.tsv", lambda p: ingest(n21(p.name))),
        ("chatbot_empty.csv", lambda p: read_pairs(p, "chatbot")),
        ("kmou_empty.txt", lambda p: read_ner(p, "kmou")),
        ("conllu_empty.conllu", lambda p: read_conllu(p)),
    ],
)
def test_empty_file(name, read):
    with pytest.raises(ValueError) as err:
        read(f(name))
    assert str(err.value) == f"{f(name)}: the file is empty; point data.path at the file with the data"


def test_header_without_rows():
    with pytest.raises(IngestError) as err:
        ingest(n21("n21_header_only.tsv"))
    assert str(err.value) == f"{f('n21_header_only.tsv')}: the file has a header line but no data rows"


# ---------------------------------------------------------------- missing or extra columns


def test_missing_column():
    with pytest.raises(IngestError) as err:
        ingest(n21("n21_missing_column.tsv"))
    assert str(err.value) == (
        f"{f('n21_missing_column.tsv')}: column(s) ['label'] not found; the file has ['id', "
        "'text']. Map them with params key data.columns (e.g. --set n21.data.columns.text=document)."
    )
    with pytest.raises(ValueError) as err:
        read_pairs(f("chatbot_missing_column.csv"), "chatbot")
    assert str(err.value) == (
        f"{f('chatbot_missing_column.csv')}: header ['Q', 'label'] lacks the column for "
        "answer='A'; pass columns={'question': ..., 'answer': ..., 'label': ...} naming the "
        "header's columns"
    )


def test_rows_with_extra_or_missing_fields_are_quarantined():
    kept, quarantined, report = ingest(n21("n21_field_count.tsv"))
    fix = "a tab inside a field or a missing field? fix the row"
    assert [(q["source_row"], q["reason"]) for q in quarantined.to_pylist()] == [
        (4, f"4 fields, the header has 3; {fix}"),
        (5, f"2 fields, the header has 3; {fix}"),
    ]
    assert quarantined.column("raw").to_pylist()[1] == "4\t라벨이 없는 줄"
    assert (report["rows_in"], report["rows_kept"], report["rows_quarantined"]) == (5, 3, 2)
    _, quarantined, _ = ingest(n21("n21_field_count.csv", "csv"))
    assert reasons(quarantined) == ["4 fields, the header has 3; quote fields that contain a comma, or fix the row"]
    rows, quarantined = read_pairs(f("chatbot_field_count.csv"), "chatbot")
    path = f("chatbot_field_count.csv")
    assert len(rows) == 2 and reasons(quarantined) == [
        f"record at {path} line 4: 4 fields, the header has 3; quote fields that contain a comma, or fix the row",
        f"record at {path} line 5: 1 field, the header has 3; quote fields that contain a comma, or fix the row",
    ]


# ---------------------------------------------------------------- empty text (only an empty cell is missing)


def test_empty_text_is_quarantined_and_nan_or_null_text_is_kept():
    kept, quarantined, report = ingest(n21("n21_empty_text.tsv"))
    assert [(q["source_row"], q["reason"]) for q in quarantined.to_pylist()] == [
        (4, "empty text"),
        (5, "empty text"),
        (8, "empty label"),
    ]
    assert kept.column("id").to_pylist() == ["1", "2", "5", "6", "8"]
    assert kept.column("text").to_pylist()[2:4] == ["NaN", "null"]  # what the person wrote
    assert report["quarantine_reasons"] == {"empty text": 2, "empty label": 1}
    rows, quarantined = read_pairs(f("chatbot_empty_text.csv"), "chatbot")
    path = f("chatbot_empty_text.csv")
    assert [r["answer"] for r in rows][-1] == "NaN" and reasons(quarantined) == [
        f"record at {path} line 4: question ('Q') is empty or null; fill it in or delete the row"
    ]


# ---------------------------------------------------------------- a 1 MB line


def test_one_megabyte_line_is_quarantined_by_every_reader(tmp_path):
    line = f"1\t{MB}\tpositive"
    path = long_line_file(tmp_path, "long.tsv", "id\ttext\tlabel\n", line + "\n", "2\t좋아요\tpositive\n")
    kept, quarantined, report = ingest({**n21("x"), "path": str(path)})
    assert reasons(quarantined) == [LONG_REASON.format(row=2, n=len(line))]
    assert len(quarantined.column("raw")[0].as_py()) == 2000  # the raw content, cut to a readable size
    assert (report["rows_in"], report["rows_kept"]) == (2, 1)

    line = f"{MB},답,0"
    path = long_line_file(tmp_path, "long.csv", "Q,A,label\n", line + "\n", "안녕,반가워,0\n")
    rows, quarantined = read_pairs(path, "chatbot")
    assert len(rows) == 1 and reasons(quarantined) == [
        f"record at {path} line 2: " + LONG_REASON.format(row=2, n=len(line))
    ]

    kmou = f("kmou_cut.txt").read_text(encoding="utf-8").split("\n\n")[0] + "\n\n"
    line = f"## {MB}"
    path = long_line_file(tmp_path, "long.txt", kmou, f"## 2\n{line}\n{line}\n{MB}\t{MB}\tNNG\tO\n", "\n")
    records, quarantined = read_ner(path, "kmou")
    assert len(records) == 1 and reasons(quarantined) == [
        f"sentence at {path} line 13: " + LONG_REASON.format(row=14, n=len(line))
    ]

    line = f"1\t{MB}\t_\t_\t_\t_\t0\troot\t_\t_"
    path = long_line_file(tmp_path, "long.conllu", "# sent_id = l1\n", line + "\n", "\n")
    sentences, quarantined = read_conllu(path)
    assert sentences == [] and reasons(quarantined) == [
        f"sentence at {path} line 1: " + LONG_REASON.format(row=2, n=len(line))
    ]


# ---------------------------------------------------------------- unknown labels


def test_unknown_chatbot_label_is_quarantined():
    rows, quarantined = read_pairs(f("chatbot_labels.csv"), "chatbot")
    assert reasons(quarantined) == [
        f"record at {f('chatbot_labels.csv')} line 6: label '3' is not one of 0, 1, 2 (0 everyday, 1 break-up, "
        "2 love); fix the label or read the file with fmt='csv'"
    ]


def test_unknown_n21_label_stops_the_encode_stage_naming_it():
    from tasks.label_schema import SchemaError, check_known

    kept, _, report = ingest(n21("n21_unknown_label.tsv"))
    assert report["rows_kept"] == 3  # a well-formed row: the label schema, not ingest, decides
    with pytest.raises(SchemaError) as err:  # what flows/n21.py encode runs first
        check_known(kept, "label", ["negative", "positive"], "n21", "data/schema/n21_labels.yaml")
    msg = str(err.value)  # the message itself is tasks/label_schema.py's (tests/test_class_design*.py)
    assert "'neutral' (1 row; e.g. id 3, line 4 of " + str(f("n21_unknown_label.tsv")) + ")" in msg
    assert "data/schema/n21_labels.yaml" in msg


# ---------------------------------------------------------------- mixed label spellings


def test_mixed_label_spellings_are_one_label_and_reported():
    kept, _, report = ingest(n21("n21_mixed_labels.jsonl", "jsonl"))
    assert kept.column("label").to_pylist() == ["2", "2", "2", "2", "1"]  # '2', '2   ', 2, 2.0: one class
    assert report["label_spellings_normalized"] == {"2": {"'2'": 2, "'2   '": 1, "'2.0'": 1}}
    assert report["json_numbers_read_as_text"] == {"id": 5, "label": 2}
    from tasks.n2m import formats

    rows, _ = read_pairs(f("chatbot_labels.csv"), "chatbot")
    assert [r["label"] for r in rows] == ["0", "2", "2", "2"]  # '2', '2   ', '2.0'
    assert formats.last_read_notes == {"label_spellings_normalized": 1}  # '2.0' ('2   ' only had spaces cut)


def test_entity_type_spellings_are_one_type(tmp_path):
    from tasks.n2n import formats

    path = tmp_path / "types.jsonl"
    path.write_text(
        '{"text": "지수 민호", "entities": [{"start": 0, "end": 2, "type": "PS"}, '
        '{"start": 3, "end": 5, "type": "PS  "}]}\n',
        encoding="utf-8",
    )
    records, _ = read_ner(path, "jsonl")
    assert [e["type"] for e in records[0]["entities"]] == ["PS", "PS"]
    assert formats.last_read_notes == {"entity_type_spaces_trimmed": 1}  # ingest_ner reports it as repairs


# ---------------------------------------------------------------- invalid JSON lines


def test_invalid_json_lines_are_quarantined():
    _, quarantined, _ = ingest(n21("n21_bad_json.jsonl", "jsonl"))
    assert [(q["source_row"], q["reason"]) for q in quarantined.to_pylist()] == [
        (2, "invalid JSON (Unterminated string starting at, column 19); fix or remove the line"),
        (3, "expected a JSON object, got list; write one object per line"),
    ]
    records, quarantined = read_ner(f("ner_bad.jsonl"), "jsonl")
    path = f("ner_bad.jsonl")
    assert [r["id"] for r in records] == ["j1", "j4"]  # j4's empty text is quarantined by ingest_ner
    assert reasons(quarantined) == [
        f"sentence at {path} line 2: invalid JSON (Expecting value, column 43); fix or remove the line",
        f"sentence at {path} line 3: entities[0]: span 4-40 is not inside the text (length 11) with start < end; "
        "fix the offsets (end is exclusive)",
    ]


# ---------------------------------------------------------------- KMOU / KLP blocks cut off mid-sentence


def test_kmou_and_klp_blocks_cut_off_are_quarantined():
    truncated = " (it is the last block and the file does not end with a blank line: truncated file?)"
    records, quarantined = read_ner(f("kmou_cut.txt"), "kmou")
    assert [r["id"] for r in records] == ["kmou_cut:1"]
    assert [(q["source_row"], q["reason"]) for q in quarantined] == [
        (
            13,
            (
                f"sentence at {f('kmou_cut.txt')} line 13: the morpheme lines cover 2 of 5 words: the sentence is cut off"
                + truncated
            ),
        )
    ]
    assert quarantined[0]["raw"].startswith("## 2\n## 민호는 어제 부산에서 친구를 만났다.")
    _, quarantined = read_ner(f("kmou_missing_header.txt"), "kmou")
    assert reasons(quarantined) == [
        f"sentence at {f('kmou_missing_header.txt')} line 13: 2 '##' header lines, expected 3 (## <n>, ## <raw "
        "sentence>, ## <marked sentence>); restore the missing line, or add the blank line missing between two sentences"
    ]
    records, quarantined = read_ner(f("klp_cut.txt"), "klp")
    assert len(records) == 1 and reasons(quarantined) == [
        f"sentence at {f('klp_cut.txt')} line 12: the morpheme lines stop at word 2 of 5: the sentence is cut off"
        + truncated
    ]


# ---------------------------------------------------------------- malformed CoNLL-U and KLUE-DP


def test_malformed_conllu_sentences_are_quarantined_with_line_and_reason():
    sentences, quarantined = read_conllu(f("conllu_malformed.conllu"))
    at = f"sentence at {f('conllu_malformed.conllu')} line"
    assert [s["id"] for s in sentences] == ["good-1"]
    assert [(q["source_row"], q["reason"]) for q in quarantined] == [
        (
            7,
            f"{at} 7: line 10: 9 tab-separated fields, expected 10 (ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS "
            "MISC); the line is damaged or the sentence is cut off",
        ),
        (12, f"{at} 12: line 14: HEAD '둘' is not an integer; fix the line"),
        (
            17,
            f"{at} 17: no word has head 0: the sentence needs exactly one root; words 2 -> 3 -> 2 form a cycle "
            "(word 2 (line 20) never reaches the root); fix the HEAD column",
        ),
        (
            23,
            f"{at} 23: 2 words have head 0 (word 2 (line 26), word 4 (line 28)): keep one root and attach the "
            "others to a word; fix the HEAD column",
        ),
        (
            30,
            f"{at} 30: line 33: word ID 3 where 2 was expected; IDs must run 1, 2, 3, ... (renumber the words and "
            "their HEADs, or add the blank line missing between sentences)",
        ),
        (
            35,
            f"{at} 35: word 1 (line 37) has head 2, outside 0..1 (the sentence has 1 words); no word has head 0: the "
            "sentence needs exactly one root; fix the HEAD column (it is the last block and the file does not end "
            "with a blank line: truncated file?)",
        ),
    ]


def test_malformed_klue_dp_sentences_are_quarantined():
    sentences, quarantined = read_klue_dp(f("klue_dp_malformed.tsv"))
    at = f"sentence at {f('klue_dp_malformed.tsv')} line"
    assert [s["id"] for s in sentences] == ["dp-1"]
    assert reasons(quarantined) == [
        f"{at} 7: line 8: 5 tab-separated fields, expected 6 (INDEX WORD_FORM LEMMA POS HEAD DEPREL); the line is "
        "damaged or the sentence is cut off",
        f"{at} 11: the '## <id>' header has no word lines after it: the sentence is cut off (it is the last block "
        "and the file does not end with a blank line: truncated file?)",
    ]


# ---------------------------------------------------------------- params.yaml


def test_params_unknown_key_names_file_key_and_known_keys():
    known = sorted(k.rsplit(".", 1)[1] for k in load_schema() if k.startswith("n21.train.") and k.count(".") == 2)
    with pytest.raises(ParamsError) as err:
        load_params(f("params_unknown_key.yaml"))
    assert str(err.value) == (
        f"{f('params_unknown_key.yaml')}: unknown key 'n21.train.epoch' (did you mean 'n21.train.epochs'?); known "
        f"keys in n21.train: {', '.join(known)}. A key new in the code? Run `python -m tasks.params --write-schema` "
        "after adding it to the project's params.yaml"
    )


def test_params_wrong_types_are_all_named():
    with pytest.raises(ParamsError) as err:
        load_params(f("params_wrong_type.yaml"))
    assert str(err.value) == (
        f"{f('params_wrong_type.yaml')}: 2 problems:\n"
        "  - n21.train.lr: expected a number, got str 'fast'\n"
        "  - n21.tokenize.join_pos: expected true or false, got str 'yes'"
    )


# ---------------------------------------------------------------- the quarantine threshold, per problem

N2M_DATA = load_params(Path(__file__).resolve().parents[1] / "params.yaml")["n2m"]["data"]  # under each test's keys
PATHS = {"ingested": "${work_dir}/ingested.parquet", "quarantine": "${work_dir}/quarantine.parquet"}
THRESHOLD_CASES = {
    "n21": (ingest, n21("n21_empty_text.tsv"), (3, 8), "empty text (2); empty label (1)"),
    "n2m": (
        ingest_pairs,
        {
            **N2M_DATA,
            "path": str(f("chatbot_empty_text.csv")),
            "format": "chatbot",
            "split": {**N2M_DATA["split"], **ALL_TRAIN},
        },
        (1, 4),
        "question ('Q') is empty or null (1)",
    ),
    "n2n": (
        ingest_ner,
        {
            "path": str(f("kmou_cut.txt")),
            "format": "kmou",
            "encoding": "utf-8",
            "split_as": None,
            "extra_sources": [],
            "type_map": {},
            "keep_unmapped_types": True,
            "split": dict(ALL_TRAIN),
        },
        (1, 2),
        "the morpheme lines cover 2 of 5 words: the sentence is cut off (it is the last block and the "
        "file does not end with a blank line: truncated file?) (1)",
    ),
    "n2path": (
        ingest_parse,
        {
            "path": str(f("conllu_malformed.conllu")),
            "format": "conllu",
            "encoding": "utf-8",
            "split_as": None,
            "extra_sources": [],
            "split": dict(ALL_TRAIN),
        },
        (6, 7),
        "9 tab-separated fields, expected 10 (ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC) "
        "(1); HEAD '둘' is not an integer (1); no word has head 0: the sentence needs exactly one "
        "root (1)",
    ),
}


@pytest.mark.parametrize("problem", list(THRESHOLD_CASES))
def test_flow_fails_when_the_quarantined_share_passes_the_threshold(tmp_path, problem):
    spec, data, (bad, total), top = THRESHOLD_CASES[problem]
    section = {"work_dir": str(tmp_path), "data": {**data, "max_quarantine_share": 0.1}}
    with pytest.raises(QuarantineError) as err:
        ingest_runner(PATHS, spec, problem)(section)
    quarantine = tmp_path / "quarantine.parquet"
    key = f"{problem}.data.max_quarantine_share"
    assert str(err.value) == (
        f"{data['path']}: {bad} of {total} rows ({bad / total:.1%}) were quarantined, over {key} = 0.1. "
        f"Top reasons: {top}. Each row, with its file, line and reason, is in {quarantine}. Fix the data (or "
        f"data.format, data.columns, data.encoding), or raise {key}."
    )
    # the quarantine file is there to read, with the same columns for every problem type
    table = pq.read_table(quarantine)
    assert table.num_rows == bad
    assert table.column_names == ["source_file", "source_row", "raw", "reason"]

    report = ingest_runner(PATHS, spec, problem)({**section, "data": {**data, "max_quarantine_share": 0.9}})
    assert report["rows_in"] == report["rows_kept"] + report["rows_quarantined"] == total
    assert report["quarantine_share"] == round(bad / total, 4)


def test_project_params_set_a_threshold_for_every_problem():
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text(encoding="utf-8"))
    assert {p: params[p]["data"]["max_quarantine_share"] for p in THRESHOLD_CASES} == dict.fromkeys(
        THRESHOLD_CASES, 0.1
    )
