"""N2M readers (tasks/n2m/formats.py): Chatbot data, CSV, TSV and JSONL question/answer files, and quarantine.

Fixtures are written here; nothing reads ../shared.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.n2m.formats import read_pairs

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "n2m_dialogues.tsv"


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_chatbot_crlf_quotes_label_spaces_and_empty_answer(tmp_path):
    path = write(
        tmp_path,
        "chat.csv",
        "Q,A,label\r\n"
        "점심 뭐 먹지?,김밥 어때요.,0\r\n"
        '"헤어졌어, 너무 슬퍼","시간이 약이에요.",1\r\n'
        "설레는 하루,좋은 일 있나 봐요.,2   \r\n"
        "답이 없는 질문,,0\r\n"
        "   ,답만 있음,0\r\n",
    )
    rows, quarantined = read_pairs(path, "chatbot")
    assert [r["question"] for r in rows] == ["점심 뭐 먹지?", "헤어졌어, 너무 슬퍼", "설레는 하루"]
    assert [r["label"] for r in rows] == ["0", "1", "2"]
    assert rows[1] == {
        "id": "chat:3",
        "question": "헤어졌어, 너무 슬퍼",
        "answer": "시간이 약이에요.",
        "label": "1",
        "source_file": str(path),
        "source_row": 3,
    }
    assert [q["source_row"] for q in quarantined] == [5, 6]
    reason = quarantined[0]["reason"]
    assert str(path) in reason and "line 5" in reason and "answer" in reason and "fill it in" in reason
    assert "question" in quarantined[1]["reason"]


def test_chatbot_unknown_label_is_quarantined(tmp_path):
    path = write(tmp_path, "chat.csv", "Q,A,label\n질문,대답,7\n")
    rows, quarantined = read_pairs(path, "chatbot")
    assert rows == [] and "label '7'" in quarantined[0]["reason"]


def test_bom_is_stripped(tmp_path):
    path = write(tmp_path, "bom.csv", "\ufeffquestion,answer\n안녕?,안녕하세요.\n")
    rows, quarantined = read_pairs(path, "csv")
    assert rows[0]["question"] == "안녕?" and rows[0]["label"] is None and not quarantined


def test_csv_empty_cell_and_field_count(tmp_path):
    path = write(
        tmp_path, "p.csv", "question,answer,label\n배고파,,a\n배고파,밥 먹어요,a\n너무,많은,필드,여기\n뭐라고,NaN,a\n"
    )
    rows, quarantined = read_pairs(path, "csv")
    assert [r["answer"] for r in rows] == ["밥 먹어요", "NaN"] and rows[0]["label"] == "a"  # "NaN" is text
    assert "answer ('answer') is empty or null" in quarantined[0]["reason"]
    assert "4 fields, the header has 3" in quarantined[1]["reason"] and "line 4" in quarantined[1]["reason"]


def test_missing_column_names_header_and_fix(tmp_path):
    path = write(tmp_path, "p.csv", "질문,답변\n안녕,안녕하세요\n")
    with pytest.raises(ValueError, match="lacks the column") as err:
        read_pairs(path, "csv")
    assert str(path) in str(err.value) and "columns=" in str(err.value)
    rows, _ = read_pairs(path, "csv", columns={"question": "질문", "answer": "답변"})
    assert rows[0]["answer"] == "안녕하세요"


def test_jsonl_mapping_and_quarantine(tmp_path):
    lines = [
        json.dumps({"q": "주말에 뭐 해?", "a": "영화 봐요.", "intent": 3}, ensure_ascii=False),
        json.dumps({"q": "심심해", "a": None}, ensure_ascii=False),
        "{not json",
        "",
        json.dumps(["list"]),
    ]
    path = write(tmp_path, "d.jsonl", "\n".join(lines) + "\n")
    rows, quarantined = read_pairs(path, "jsonl", columns={"question": "q", "answer": "a", "label": "intent"})
    assert rows == [
        {
            "id": "d:1",
            "question": "주말에 뭐 해?",
            "answer": "영화 봐요.",
            "label": "3",
            "source_file": str(path),
            "source_row": 1,
        }
    ]
    assert [q["source_row"] for q in quarantined] == [2, 3, 5]
    assert "invalid JSON" in quarantined[1]["reason"] and "JSON object" in quarantined[2]["reason"]


def test_bad_bytes_name_file_and_encoding(tmp_path):
    path = write(tmp_path, "cp.csv", "question,answer\n안녕,반가워\n", encoding="cp949")
    with pytest.raises(ValueError, match="not valid utf-8") as err:
        read_pairs(path, "csv")
    assert str(path) in str(err.value) and "cp949" in str(err.value)
    rows, _ = read_pairs(path, "csv", encoding="cp949")
    assert rows[0]["answer"] == "반가워"


def test_unknown_format_and_columns():
    with pytest.raises(ValueError, match="unknown dialogue format"):
        read_pairs(SAMPLE, "xlsx")
    with pytest.raises(ValueError, match="unknown keys"):
        read_pairs(SAMPLE, "tsv", columns={"questoin": "question"})


def test_sample_file():
    rows, quarantined = read_pairs(SAMPLE, "tsv")
    assert len(rows) >= 380 and not quarantined
    answers = {r["answer"] for r in rows}
    assert 60 <= len(answers) <= 100
