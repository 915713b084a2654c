"""The N2M reranker: sacrebleu's chrF, folds that hold out a question's group, a measurable gain over the
nearest question's answer, and a model-directory round trip that loads no untrusted type."""

from __future__ import annotations

import random

import pytest

from tasks.n2m import rerank
from tasks.n2m.rerank import AnswerReranker, CharStats
from tasks.n2m.retrieval import AnswerMemory

TOPICS = {  # label -> (keyword in the question, its usual answer, rarer ones)
    "weather": (
        "날씨",
        "날씨가 맑아서 좋아요",
        ["우산 챙기세요", "흐린 날도 괜찮아요", "바람이 많이 부네요", "눈 오면 조심해요"],
    ),
    "food": (
        "저녁",
        "저녁은 따뜻한 국밥 어때요",
        ["김치찌개 추천해요", "샐러드도 좋아요", "배달 시켜 드세요", "라면은 그만"],
    ),
    "sleep": (
        "잠",
        "잠이 안 오면 따뜻한 우유 드세요",
        ["휴대폰은 멀리 두세요", "일찍 누우세요", "낮잠은 짧게", "음악을 들어 봐요"],
    ),
    "work": (
        "회사",
        "회사 일은 내일 생각해요",
        ["힘든 하루였군요", "동료와 이야기해 보세요", "휴가를 내 봐요", "퇴근이 최고"],
    ),
}
# Each topic has one usual answer (70%) and rare ones: the nearest question's answer is often a rare one,
# while how often an answer recurs among the candidates (and in train) tells the reranker which to prefer.
FILLERS = ["요즘 궁금한데 {}", "솔직히 {} 이야기", "친구가 묻는 {} 고민", "오늘 생각나는 {} 걱정"]


def dialogues(n: int, seed: int) -> tuple[list[str], list[str], list[str]]:
    rng = random.Random(seed)
    questions, answers, labels = [], [], []
    for i in range(n):
        label = list(TOPICS)[i % len(TOPICS)]
        keyword, usual, rare = TOPICS[label]
        questions.append(rng.choice(FILLERS).format(keyword) + f" {rng.randint(1, 99)}")
        answers.append(usual if rng.random() < 0.7 else rng.choice(rare))
        labels.append(label)
    return questions, answers, labels


def corpus_chrf(hyps: list[str], refs: list[str]) -> float:
    from sacrebleu.metrics import CHRF

    return CHRF().corpus_score(hyps, [refs]).score


@pytest.fixture(scope="module")
def trained() -> tuple[AnswerReranker, dict]:
    questions, answers, labels = dialogues(240, seed=1)
    memory = AnswerMemory(questions, [a.split() for a in answers])
    reranker = AnswerReranker(memory, answers, labels, candidates=10)
    report = reranker.fit([f"block {i // 8}" for i in range(len(questions))], folds=5)
    return reranker, report


def test_char_stats_is_sacrebleus_sentence_chrf():
    from sacrebleu import sentence_chrf

    stats = CharStats()
    for hyp, ref in [
        ("날씨가 맑아요", "오늘 날씨가 맑네요"),
        ("밥 먹자", "잠이 안 와요"),
        ("", "좋아요"),
        ("좋아요", "좋아요"),
    ]:
        assert stats.chrf(hyp, ref) == pytest.approx(sentence_chrf(hyp, [ref]).score, abs=1e-9)


def test_the_reranker_beats_the_nearest_answer_on_new_questions(trained):
    reranker, report = trained
    questions, answers, _ = dialogues(80, seed=2)  # unseen questions
    nearest = [reranker.answers[rows[0]] for rows in reranker.memory.top(questions, 1)]
    chosen = [reranker.answers[rows[0]] for rows in reranker.ranked(questions)]
    assert corpus_chrf(chosen, answers) > corpus_chrf(nearest, answers) + 5
    # the report says what training saw: the nearest answer, the reranker's pick and the best candidate
    assert (
        report["train_top1_sentence_chrf"]
        < report["train_reranked_sentence_chrf"]
        <= report["train_best_candidate_sentence_chrf"]
    )


def test_ranked_gives_k_distinct_candidates_best_first(trained):
    reranker, _ = trained
    questions, _, _ = dialogues(5, seed=3)
    ranked = reranker.ranked(questions, k=3)
    candidates = [set(rows) for rows in reranker.memory.top(questions, 10)]
    assert all(len(set(rows)) == 3 and set(rows) <= cands for rows, cands in zip(ranked, candidates))
    assert [rows[0] for rows in ranked] == [rows[0] for rows in reranker.ranked(questions, k=1)]


def test_training_rows_retrieve_only_from_other_folds():
    questions, answers, _ = dialogues(40, seed=4)
    memory = AnswerMemory(questions, [a.split() for a in answers])
    fold = [i % 4 for i in range(40)]
    import numpy as np

    rows, _ = memory.scored_top(questions, 5, True, np.array(fold), np.array(fold))
    assert all(fold[j] != fold[i] for i, found in enumerate(rows) for j in found)


def test_round_trip_through_model_dir_files(trained, tmp_path):
    from tasks import io

    reranker, _ = trained
    rerank.save(reranker, tmp_path)
    again = rerank.load(
        reranker.memory, io.read_json(tmp_path / "reranker.json"), (tmp_path / "reranker.skops").read_bytes()
    )
    questions, _, _ = dialogues(20, seed=5)
    assert again.ranked(questions, 2) == reranker.ranked(questions, 2)
    rerank.save(None, tmp_path)  # off: a reranker.json that says so, and no trees
    assert rerank.load(reranker.memory, io.read_json(tmp_path / "reranker.json"), None) is None
    assert not (tmp_path / "reranker.skops").exists()


def test_a_file_with_other_types_is_refused(trained):
    import skops.io
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    reranker, _ = trained
    data, _ = reranker.to_files()
    foreign = skops.io.dumps(make_pipeline(FunctionTransformer(print)))
    with pytest.raises(ValueError, match="types a reranker never has"):
        rerank.load(reranker.memory, {"enabled": True, **data}, foreign)


def test_too_little_data_says_which_key_to_turn_off():
    questions, answers, labels = dialogues(20, seed=6)
    reranker = AnswerReranker(AnswerMemory(questions, [a.split() for a in answers]), answers, labels)
    with pytest.raises(ValueError, match="n2m.encode.rerank: false"):
        reranker.fit(["one group"] * 20)
