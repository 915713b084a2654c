"""Generation metrics and the baselines a model must beat (tasks/n2m/metrics.py)."""

from __future__ import annotations

import math

import pytest

from tasks.n2m.metrics import (
    constant_answer_baseline,
    distinct_n,
    generation_metrics,
    perplexity,
    retrieval_answers,
    retrieval_baseline,
)


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
