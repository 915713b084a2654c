"""Word spacing through Mecab (tasks/n2m/spacing.py): word-start marks in, spaced Korean text out."""

from __future__ import annotations

import pytest

from tasks.n2m.spacing import SPACE, attach_spacing, detokenize, spaced_tokens
from tasks.params import load_params
from tasks.tokenize import tokenize_texts
from tests.conftest import ROOT

TOKENIZE = load_params(ROOT / "params.yaml")["n2m"]["tokenize"]  # Mecab morphemes, join_pos false

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


def test_spacing_round_trip_with_mecab():
    morphemes, _ = tokenize_texts(SENTENCES, {"tagger": "mecab"})
    for text, morphs in zip(SENTENCES, morphemes):
        assert "".join(morphs) == "".join(text.split())  # Mecab keeps surfaces: the property applies
        tokens = attach_spacing(text, morphs)
        assert [t.removeprefix(SPACE) for t in tokens] == morphs
        assert sum(t.startswith(SPACE) for t in tokens) == len(text.split())
        assert detokenize(tokens) == " ".join(text.split())


def test_detokenize_never_splits_an_eojeol():
    (tokens,) = spaced_tokens(["저는 어제 친구랑 영화를 봤습니다"], TOKENIZE)
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
        spaced_tokens(["안녕"], {**TOKENIZE, "join_pos": True})
