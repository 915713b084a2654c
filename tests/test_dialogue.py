"""N2M data side: question/answer readers, word spacing through Mecab, generation metrics and baselines.

Fixtures are written here; nothing reads ../shared.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tasks.dialogue import read_pairs
from tasks.generation_metrics import (
    constant_answer_baseline,
    distinct_n,
    generation_metrics,
    perplexity,
    retrieval_answers,
    retrieval_baseline,
)
from tasks.spacing import SPACE, attach_spacing, detokenize, spaced_tokens
from tasks.tokenize import tokenize_texts

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "n2m_dialogues.tsv"
# Written for these tests: spacing, punctuation, numbers, English, jamo laughter, double spaces.
SENTENCES = [
    "오늘 날씨가 정말 좋네요!",
    "밥 먹었어?  아직 안 먹었어.",
    "저는 어제 친구랑 영화를 봤습니다",
    "내일 오후 3시에 회의가 있어요.",
    "ㅋㅋㅋ 그거 진짜 웃기다",
    "  앞뒤에 공백이 있는 문장 ",
    "HTML 공부는 재밌지만 어려워요",
    "커피 2잔, 케이크 1조각 주세요.",
]


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# ---------------------------------------------------------------- readers


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


# ---------------------------------------------------------------- spacing


def test_spacing_round_trip_with_mecab():
    morphemes, _ = tokenize_texts(SENTENCES, {"tagger": "mecab"})
    for text, morphs in zip(SENTENCES, morphemes):
        assert "".join(morphs) == "".join(text.split())  # Mecab keeps surfaces: the property applies
        tokens = attach_spacing(text, morphs)
        assert [t.removeprefix(SPACE) for t in tokens] == morphs
        assert sum(t.startswith(SPACE) for t in tokens) == len(text.split())
        assert detokenize(tokens) == " ".join(text.split())


def test_detokenize_never_splits_an_eojeol():
    (tokens,) = spaced_tokens(["저는 어제 친구랑 영화를 봤습니다"], {"tagger": "mecab"})
    out = detokenize(["<bos>", *tokens, "<eos>", "<pad>", "<pad>"])
    assert out.split() == ["저는", "어제", "친구랑", "영화를", "봤습니다"]
    # Whatever order a model emits, only "▁" makes a space.
    assert detokenize(["먹", "었", "어", "▁밥", "을"]) == "먹었어 밥을"
    assert detokenize(["▁밥", "<unk>", "▁먹", "었", "어"]) == "밥 먹었어"
    assert detokenize(["▁밥", "<unk>", "▁먹", "었", "어"], unk="?") == "밥? 먹었어"
    assert detokenize([]) == "" and detokenize(["<eos>"]) == ""


def test_spacing_fallback_for_normalized_morphemes():
    # Kkma/Okt-style analysis: 갔다 -> 가 + 았 + 다 is not a substring walk of the text.
    tokens = attach_spacing("나는 학교에 갔다", ["나", "는", "학교", "에", "가", "았", "다"])
    assert tokens == ["▁나", "는", "▁학교", "에", "▁가", "았", "다"]
    assert detokenize(tokens) == "나는 학교에 가았다"  # spacing survives, the surface is the tagger's
    assert attach_spacing("ㅋㅋㅋ 진짜 웃기다", ["ㅋㅋ", "진짜", "웃기", "다"]) == ["▁ㅋㅋ", "▁진짜", "▁웃기", "다"]
    for text, morphs in [("", ["가"]), ("가 나", []), ("가 나", ["x", "", "y z", "w"]), ("   ", ["가"])]:
        assert len(attach_spacing(text, morphs)) == len(morphs)  # never raises, keeps every morpheme


def test_attach_spacing_is_idempotent():
    tokens = attach_spacing("밥 먹었어", ["밥", "먹", "었", "어"])
    assert attach_spacing("밥 먹었어", tokens) == tokens == ["▁밥", "▁먹", "었", "어"]


def test_spaced_tokens_rejects_joined_pos():
    with pytest.raises(ValueError, match="join_pos"):
        spaced_tokens(["안녕"], {"tagger": "mecab", "join_pos": True})


# ---------------------------------------------------------------- metrics and baselines


def test_identical_text_scores_100():
    refs = ["오늘은 맑고 따뜻하대요.", "우산 꼭 챙기세요."]
    for tok in ("mecab", "char"):
        m = generation_metrics(refs, refs, bleu_tokenize=tok)
        assert m["chrf"] == pytest.approx(100.0) and m["bleu"] == pytest.approx(100.0)
    assert generation_metrics(["완전히 다른 말"], refs[:1])["chrf"] < 20


def test_distinct_and_length_are_exact():
    hyps = ["좋아 정말 좋아", "좋아 정말 최고"]
    m = generation_metrics(hyps, ["좋아", "최고"])
    assert m["distinct_1"] == pytest.approx(3 / 6) and m["distinct_2"] == pytest.approx(3 / 4)
    assert m["avg_length"] == 3.0 and m["ref_avg_length"] == 1.0
    assert distinct_n(["하나"], 2) == 0.0


def test_metric_input_errors():
    with pytest.raises(ValueError, match="one reference per"):
        generation_metrics(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="bleu_tokenize"):
        generation_metrics(["a"], ["a"], bleu_tokenize="ko")


def test_perplexity():
    assert perplexity(5 * math.log(10), 5) == pytest.approx(10.0)
    assert perplexity(1e6, 1) == math.inf
    with pytest.raises(ValueError):
        perplexity(1.0, 0)


def test_baselines():
    train_q = ["오늘 날씨 어때?", "배고파", "점심 뭐 먹지", "비 와?"]
    train_a = ["맑아요.", "밥 드세요.", "밥 드세요.", "우산 챙기세요."]
    assert constant_answer_baseline(train_a, ["밥 드세요.", "밥 드세요."])["chrf"] == pytest.approx(100.0)
    assert retrieval_answers(train_q, train_a, ["내일 날씨 어때", "지금 비 와?"]) == ["맑아요.", "우산 챙기세요."]
    refs = ["맑아요.", "우산 챙기세요."]
    assert retrieval_baseline(train_q, train_a, ["내일 날씨 어때", "지금 비 와?"], refs)["chrf"] == pytest.approx(100.0)
    assert constant_answer_baseline(train_a, refs)["chrf"] < 30
