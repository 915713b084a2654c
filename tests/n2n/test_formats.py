"""NER readers: handwritten fixtures per format (own sentences, never corpus text) + one real-corpus run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.n2n import formats as nf
from tasks.n2n.formats import FORMATS, map_types, read_ner

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "kmou_ner"

KMOU_OK = """## 1
## 김민수는 2023년 3월 부산에서 한빛전자에 입사했다.
## <김민수:PER>는 <2023년 3월:DAT> <부산:LOC>에서 <한빛전자:ORG>에 입사했다.
김민수\t김민수\tNNP\tB-PER
는\t는\tJX\tO
_\t_\t_\tO
2023\t2023\tSN\tB-DAT
년\t년\tNNB\tI-DAT
_\t_\t_\tI-DAT
3\t3\tSN\tI-DAT
월\t월\tNNB\tI-DAT
_\t_\t_\tO
부산\t부산\tNNP\tB-LOC
에서\t에서\tJKB\tO
_\t_\t_\tO
한빛전자\t한빛전자\tNNP\tB-ORG
에\t에\tJKB\tO
_\t_\t_\tO
입사\t입사\tNNG\tO
하\t하\tXSV\tO
였\t었\tEP\tO
다\t다\tEF\tO
.\t.\tSF\tO

"""


def kmou_block(n: int, raw: str, marked: str) -> str:
    """A block whose morpheme lines are one per word (enough for the reader's checks)."""
    words = raw.split()
    body = "\n_\t_\t_\tO\n".join(f"{w}\t{w}\tNNG\tO" for w in words)
    return f"## {n}\n## {raw}\n## {marked}\n{body}\n\n"


def spans(rec: dict) -> list[tuple[str, str]]:
    return [(rec["text"][e["start"] : e["end"]], e["type"]) for e in rec["entities"]]


def write(path: Path, text: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def test_kmou_offsets_types_and_ids(tmp_path):
    f = write(
        tmp_path / "00001_NER.txt",
        KMOU_OK + kmou_block(2, "<서울 일기> 작가 이수진이 썼다.", "<<서울 일기:POH>> 작가 <이수진:PER>이 썼다."),
    )
    recs, quar = read_ner(f, "kmou")
    assert quar == []
    r = recs[0]
    assert r["text"] == "김민수는 2023년 3월 부산에서 한빛전자에 입사했다."
    assert r["entities"] == [
        {"start": 0, "end": 3, "type": "PER"},
        {"start": 5, "end": 13, "type": "DAT"},
        {"start": 14, "end": 16, "type": "LOC"},
        {"start": 19, "end": 23, "type": "ORG"},
    ]
    assert (r["id"], r["source_file"], r["source_row"]) == ("00001_NER:1", str(f), 1)
    assert spans(recs[1]) == [("서울 일기", "POH"), ("이수진", "PER")]
    assert recs[1]["entities"][0]["start"] == 1 and recs[1]["source_row"] == 25


def test_kmou_recovers_angle_brackets_and_spacing(tmp_path):
    f = write(
        tmp_path / "a.txt",
        kmou_block(1, "<2> 목표를 세우다", "<<2>:NOH> 목표를 세우다")
        + kmou_block(2, "박지영  교수는 대구에 산다.", "<박지영:PER> 교수는 <대구 :LOC>에 산다.")
        + kmou_block(3, "그는 대구 시민이다.", "그는 <대구 :LOC>시민이다."),
    )
    recs, quar = read_ner(f, "kmou")
    assert quar == []
    assert spans(recs[0]) == [("<2>", "NOH")]
    assert spans(recs[1]) == [("박지영", "PER"), ("대구", "LOC")]
    assert recs[1]["text"] == "박지영  교수는 대구에 산다."  # the raw sentence wins
    assert spans(recs[2]) == [("대구", "LOC")] and recs[2]["entities"][0]["end"] == 5
    assert nf.last_read_notes["marks_realigned"] == 2 and nf.last_read_notes["entity_whitespace_trimmed"] == 1


def test_kmou_malformed_marks_and_missing_header_are_quarantined(tmp_path):
    bad = kmou_block(1, "이영호는 광주에 갔다.", "<이영호:PER는 <광주:LOC>에 갔다.")
    nested = kmou_block(2, "서울시청 앞", "<<서울:LOC>시청:ORG> 앞")
    nohdr = "## 3\n## 정민은 웃었다.\n정민\t정민\tNNP\tB-PER\n\n"
    f = write(tmp_path / "b.txt", bad + nested + nohdr + KMOU_OK)
    recs, quar = read_ner(f, "kmou")
    assert [r["text"][:3] for r in recs] == ["김민수"]
    assert [q["source_row"] for q in quar] == [1, 10, 17]
    assert "differs from the raw sentence" in quar[0]["reason"] and str(f) in quar[0]["reason"]
    assert "nested" in quar[1]["reason"]
    assert "2 '##' header lines" in quar[2]["reason"] and quar[2]["raw"].startswith("## 3")


def test_kmou_file_cut_off_mid_sentence(tmp_path):
    cut = (
        "## 2\n## 한지우는 어제 목포에서 배를 탔다.\n## <한지우:PER>는 <어제:DAT> <목포:LOC>에서 배를 탔다.\n"
        "한지우\t한지우\tNNP\tB-PER\n는\t는\tJX\tO\n_\t_\t_\tO\n어제\t어제\tNNG\tB-DAT\n"
    )
    f = write(tmp_path / "c.txt", KMOU_OK + cut)
    recs, quar = read_ner(f, "kmou")
    assert len(recs) == 1 and len(quar) == 1
    q = quar[0]
    assert q["source_file"] == str(f) and q["source_row"] == 25
    assert f"at {f} line 25" in q["reason"] and "cut off" in q["reason"] and "truncated file" in q["reason"]
    f2 = write(tmp_path / "d.txt", KMOU_OK + "## 2\n## 한지우는 웃었다.\n## <한지우:PER>는 웃")
    assert "no token lines" in read_ner(f2, "kmou")[1][0]["reason"]


def test_kmou_directory_reads_txt_sorted_skips_hidden(tmp_path):
    write(tmp_path / "b.txt", kmou_block(1, "둘째 문장이다.", "둘째 문장이다."))
    write(tmp_path / "a.txt", kmou_block(1, "첫째 문장이다.", "첫째 문장이다."))
    write(tmp_path / ".hidden.txt", kmou_block(1, "숨은 문장", "숨은 문장"))
    write(tmp_path / "notes.md", "not a corpus file")
    recs, _ = read_ner(tmp_path, "kmou")
    assert [r["id"] for r in recs] == ["a:1", "b:1"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no input files"):
        read_ner(tmp_path / "empty", "kmou")


KLP = """; 이서연은 7일 오후 3시 대전시청을 방문했다.
$<이서연:PS>은 <7일:DT> <오후 3시:TI> <대전시청:OG>을 방문했다.
1\t이서연\tNNP\tB_PS
1\t은\tJX\tO
2\t7\tSN\tB_DT
2\t일\tNNB\tI
3\t오후\tNNG\tB_TI
4\t3\tSN\tI
4\t시\tNNB\tI
5\t대전시청\tNNP\tB_OG
5\t을\tJKO\tO
6\t방문\tNNG\tO
6\t하\tXSV\tO
6\t였\tEP\tO
6\t다\tEF\tO
6\t.\tSF\tO

; 오늘은 비가 많이 온다.
$<오늘:DT>은 비가 많이 온다.
1\t오늘\tNNG\tB_DT
1\t은\tJX\tO
2\t비\tNNG\tO
"""


def test_klp_crlf_bom_offsets_and_cut_off(tmp_path):
    f = write(tmp_path / "ner.train", KLP, encoding="utf-8-sig", newline="\r\n")
    recs, quar = read_ner(f, "klp")
    assert len(recs) == 1
    r = recs[0]
    assert r["text"] == "이서연은 7일 오후 3시 대전시청을 방문했다."  # no BOM, no CR
    assert r["entities"] == [
        {"start": 0, "end": 3, "type": "PS"},
        {"start": 5, "end": 7, "type": "DT"},
        {"start": 8, "end": 13, "type": "TI"},
        {"start": 14, "end": 18, "type": "OG"},
    ]
    assert (r["id"], r["source_row"]) == ("ner.train:1", 1)
    assert len(quar) == 1 and quar[0]["source_row"] == 18
    assert f"at {f} line 18" in quar[0]["reason"] and "word 2 of 4" in quar[0]["reason"]


def test_klp_missing_marked_line(tmp_path):
    f = write(tmp_path / "ner.dev", "; 강민호는 뛰었다.\n1\t강민호\tNNP\tB_PS\n\n")
    recs, quar = read_ner(f, "klp")
    assert recs == [] and "'$<marked sentence>'" in quar[0]["reason"]


KLUE = (
    "## 주석 행 예시 1\n## 주석 행 예시 2\n## t_001\t<최유진:PS>은 <인천:LC>에 산다.\n"
    + "".join(f"{c}\t{t}\n" for c, t in zip("최유진은 인천에 산다.", "B-PS I-PS I-PS O O B-LC I-LC O O O O O".split()))
    + "\t\n## t_002\t<서울:LC> 간다\n서\tI-LC\n울\tI-LC\n \tO\n간\tO\n다\tO\n\n"
    "## t_003\t<강:LC> 이\n강\tB-LC\n \tO\n이\tX-LC\n\n## t_004\t<한강:LC>에 갔다\n한\tB-LC\n강\tI-LC\n"
)


def test_klue_chars_tags_orphan_i_and_cut_off(tmp_path):
    f = write(tmp_path / "klue-ner_train.tsv", KLUE)
    recs, quar = read_ner(f, "klue")
    assert [r["id"] for r in recs] == ["t_001", "t_002"]
    assert recs[0]["text"] == "최유진은 인천에 산다." and recs[0]["source_row"] == 3
    assert recs[0]["entities"] == [{"start": 0, "end": 3, "type": "PS"}, {"start": 5, "end": 7, "type": "LC"}]
    assert recs[1]["text"] == "서울 간다" and spans(recs[1]) == [("서울", "LC")]
    assert nf.last_read_notes["klue_orphan_i_started_entity"] == 1
    assert [q["source_row"] for q in quar] == [24, 29]
    assert "X-LC" in quar[0]["reason"] and "line 27" in quar[0]["reason"]
    assert "cut off" in quar[1]["reason"] and f"at {f} line 29" in quar[1]["reason"]


def test_jsonl_validation(tmp_path):
    text = "정하늘은 서울에 산다."
    lines = [
        {
            "id": "s1",
            "split": "train",
            "text": text,
            "entities": [{"start": 5, "end": 7, "type": "LOC"}, {"start": 0, "end": 3, "type": "PER"}],
        },
        {"text": text, "entities": []},
        {"text": text, "entities": [{"start": 5, "end": 99, "type": "LOC"}]},
        {"text": text, "entities": [{"start": 3, "end": 3, "type": "LOC"}]},
        {"text": text, "entities": [{"start": 0.0, "end": 3, "type": "PER"}]},
        {"text": text, "entities": [{"start": True, "end": 3, "type": "PER"}]},
        {"text": text, "entities": [{"start": 0, "end": 3, "type": "PER"}, {"start": 2, "end": 4, "type": "X"}]},
        {"text": text},
        {"text": text, "entities": [{"start": 0, "end": 3}]},
    ]
    body = (
        "\n".join(json.dumps(x, ensure_ascii=False) for x in lines[:2])
        + "\n\n"
        + "\n".join(json.dumps(x, ensure_ascii=False) for x in lines[2:])
        + "\n{not json\n[1, 2]\n"
    )
    f = write(tmp_path / "ner.jsonl", body)
    recs, quar = read_ner(f, "jsonl")
    assert recs[0] == {
        "id": "s1",
        "split": "train",
        "text": text,
        "source_file": str(f),
        "source_row": 1,
        "entities": [{"start": 0, "end": 3, "type": "PER"}, {"start": 5, "end": 7, "type": "LOC"}],
    }
    assert recs[1]["id"] == "ner:2" and "split" not in recs[1]
    assert [q["source_row"] for q in quar] == list(range(4, 13))  # the empty line 3 is skipped
    reasons = [q["reason"] for q in quar]
    assert "not inside the text" in reasons[0] and "not inside the text" in reasons[1]
    assert "integers" in reasons[2] and "integers" in reasons[3]
    assert "overlap" in reasons[4] and "'entities'" in reasons[5] and "'type'" in reasons[6]
    assert "invalid JSON" in reasons[7] and "JSON object" in reasons[8]


@pytest.mark.parametrize("fmt", FORMATS)
def test_non_utf8_raises_with_file_and_encoding(tmp_path, fmt):
    f = tmp_path / "bad.txt"
    f.write_bytes("## 1\n## 김민수는 웃었다.\n".encode("cp949"))
    with pytest.raises(ValueError, match=r"bad\.txt.*byte offset 8 \(line 2\).*utf-8"):
        read_ner(f, fmt)


def test_other_encoding_when_asked(tmp_path):
    f = write(tmp_path / "x.txt", KMOU_OK, encoding="cp949")
    recs, quar = read_ner(f, "kmou", encoding="cp949")
    assert quar == [] and recs[0]["entities"][3] == {"start": 19, "end": 23, "type": "ORG"}


def test_unknown_format_and_missing_path(tmp_path):
    with pytest.raises(ValueError, match="kmou, klp, klue, jsonl"):
        read_ner(tmp_path, "conll")
    with pytest.raises(FileNotFoundError, match="nope"):
        read_ner(tmp_path / "nope", "kmou")


def test_map_types_drop_and_keep(tmp_path):
    recs, _ = read_ner(write(tmp_path / "x.txt", KMOU_OK), "kmou")
    mapping = {"PER": "PS", "ORG": "OG", "DAT": None}
    out, report = map_types(recs, mapping)
    assert [e["type"] for e in out[0]["entities"]] == ["PS", "OG"]
    assert report == {"entities_in": 4, "entities_kept": 2, "dropped_by_type": {"DAT": 1, "LOC": 1}}
    out, report = map_types(recs, mapping, keep_unmapped=True)
    assert [e["type"] for e in out[0]["entities"]] == ["PS", "LOC", "OG"]
    assert report["dropped_by_type"] == {"DAT": 1}
    assert [e["type"] for e in recs[0]["entities"]] == ["PER", "DAT", "LOC", "ORG"]  # input untouched


@pytest.mark.slow
@pytest.mark.skipif(not REAL.exists(), reason="../shared/datasets/kmou_ner not present")
def test_real_corpora_quarantine_below_2_percent():
    for path, fmt in [
        (REAL / "corpus", "kmou"),
        (REAL / "2016klp" / "ner.train", "klp"),
        (REAL / "2016klp" / "ner.dev", "klp"),
    ]:
        recs, quar = read_ner(path, fmt)
        assert len(recs) > 300, path
        assert len(quar) / (len(recs) + len(quar)) < 0.02, (path, [q["reason"] for q in quar[:5]])
        for r in recs:
            for e in r["entities"]:
                span = r["text"][e["start"] : e["end"]]
                assert span and span == span.strip(), (r["id"], e)
