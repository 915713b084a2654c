"""N2M's `hanflow predict`: a training question gets its training answer; an overlong question is read up to a
bounded head."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from flows.cli import app
from tasks.n2m.predict import N2MPredictor
from tests.conftest import N2M_SAMPLE

runner = CliRunner()


def _sample_pairs() -> dict[str, str]:
    lines = N2M_SAMPLE.read_text(encoding="utf-8").splitlines()[1:]
    return {" ".join(q.split()): " ".join(a.split()) for q, a in (line.split("\t") for line in lines)}


def test_n2m_training_questions_answer_with_their_training_answer(trained_n2m):
    predictor = N2MPredictor(trained_n2m["model_dir"])
    memory, reranker = predictor.retrieval
    answers = _sample_pairs()
    train = memory.questions
    assert "하이" in train and len(train) > 200
    asked = [
        (variant, answers[q])
        for q in train
        for variant in (q, q.replace(" ", ""), f" {q}?! ", " ".join(q.replace(" ", "")) + ".")
    ]
    rows = predictor.predict([question for question, _ in asked])
    wrong = [
        (question, expected, row["answer"])
        for (question, expected), row in zip(asked, rows)
        if not row["exact_match"] or " ".join(row["answer"].split()) != expected
    ]
    assert wrong == []
    # The candidate handed to the model is the training question's own answer, too.
    assert [memory.questions[row[0]] for row in reranker.ranked(["하이!", "처음뵙겠습니다"], 1)] == [
        "하이",
        "처음 뵙겠습니다",
    ]
    result = runner.invoke(app, ["predict", "--model", trained_n2m["model_dir"], "하이"])
    assert json.loads(result.stdout) == {"question": "하이", "answer": answers["하이"], "exact_match": True}


def test_n2m_reads_a_bounded_head_of_an_overlong_question(trained_n2m, monkeypatch):
    import tasks.n2m.encode

    predictor = N2MPredictor(trained_n2m["model_dir"])
    seen = []
    original = tasks.n2m.encode.tokens_and_ids
    monkeypatch.setattr(
        tasks.n2m.encode, "tokens_and_ids", lambda questions, *a: (seen.extend(questions), original(questions, *a))[1]
    )
    question = "오늘 날씨가 정말 좋아서 공원에 갔어요. " * 4000  # 92,000 characters
    row = predictor.predict([question])[0]
    assert row["answer"] and row["question"] == question and not row["exact_match"]
    assert len(seen) == 1 and len(seen[0]) == predictor.question_chars < 2_000
