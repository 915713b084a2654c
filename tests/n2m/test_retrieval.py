"""Retrieve and refine: the answer memory, the augmented source and the copying decoder."""

from __future__ import annotations

import pyarrow as pa
import pytest
import torch

from models.n2m import Seq2Seq
from tasks.n2m.retrieval import SEP, AnswerMemory, copy_map, memory_from, with_retrieved


def _pairs() -> pa.Table:
    rows = [
        ("train", "오늘 날씨 어때", "▁맑 아요"),
        ("train", "오늘 날씨 어때", "▁비 와요"),  # a second answer to the same question
        ("train", "내일 날씨 어때", "▁흐려 요"),
        ("train", "배고파", "▁밥 ▁먹 어요"),
        ("test", "오늘 날씨 좋아", ""),
    ]
    return pa.table(
        {
            "id": [str(i) for i in range(len(rows))],
            "question": [q for _, q, _ in rows],
            "answer": [a.replace("▁", " ").replace(" ", "") for _, _, a in rows],
            "split": [s for s, _, _ in rows],
            "src_tokens": [q.split() for _, q, _ in rows],
            "tgt_tokens": [a.split() for _, _, a in rows],
        }
    )


def test_a_train_row_never_retrieves_its_own_question():
    memory = memory_from(_pairs())
    assert memory.nearest(["오늘 날씨 어때"]) in ([0], [1])
    # Both copies of the question are excluded: the nearest other question is "내일 날씨 어때".
    assert memory.nearest(["오늘 날씨 어때"], exclude_same_question=True) == [2]


def test_the_source_becomes_question_sep_retrieved_answer():
    table = _pairs()
    out, report = with_retrieved(table, memory_from(table))
    src = out.column("src_tokens").to_pylist()
    assert src[0] == ["오늘", "날씨", "어때", SEP, "▁흐려", "요"]  # train: another question's answer
    assert src[4][:4] == ["오늘", "날씨", "좋아", SEP]  # test: may retrieve the same-looking train question
    assert src[4][4:] in (["▁맑", "아요"], ["▁비", "와요"])
    assert out.column("retrieved_answer").to_pylist()[3] in ("맑아요", "비와요", "흐려요")
    assert report["memory_rows"] == 4


def test_memory_round_trips_through_json():
    memory = memory_from(_pairs())
    again = AnswerMemory.from_json(memory.to_json())
    assert again.nearest(["배고파요"]) == memory.nearest(["배고파요"]) == [3]


def test_memory_needs_train_rows():
    with pytest.raises(ValueError, match="no train rows"):
        memory_from(_pairs().slice(4))


def test_copy_map_sends_source_tokens_to_answer_ids_or_unk():
    vocabs = {
        "src": {"itos": ["<pad>", "<unk>", "<bos>", "<eos>", "날씨", "▁맑"]},
        "tgt": {"itos": ["<pad>", "<unk>", "<bos>", "<eos>", "▁맑"]},
    }
    assert copy_map(vocabs) == [0, 1, 2, 3, 1, 4]


def test_copying_decoder_is_a_distribution_and_reproduces_source_tokens():
    torch.manual_seed(0)
    model = Seq2Seq(
        {
            "src_vocab_size": 12,
            "tgt_vocab_size": 9,
            "pad_id": 0,
            "bos_id": 2,
            "eos_id": 3,
            "unk_id": 1,
            "emb_dim": 16,
            "hidden_dim": 16,
            "attention": "luong",
            "copy": True,
            "copy_map": [0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 1],
        }
    )
    src, lengths = torch.tensor([[4, 5, 6, 9], [7, 8, 0, 0]]), torch.tensor([4, 2])
    tgt_in, tgt_out = torch.tensor([[2, 4, 5], [2, 7, 0]]), torch.tensor([[4, 5, 3], [7, 3, 0]])
    assert torch.allclose(model(src, lengths, tgt_in).exp().sum(-1), torch.ones(2, 3), atol=1e-4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss = model.loss(model(src, lengths, tgt_in), tgt_out)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert model.greedy(src, lengths) == [[4, 5], [7]]
    assert model.beam_search(src, lengths, beam_width=3) == [[4, 5], [7]]


def test_copy_with_separate_vocabularies_needs_a_map():
    with pytest.raises(ValueError, match="needs copy_map"):
        Seq2Seq(
            {
                "src_vocab_size": 12,
                "tgt_vocab_size": 9,
                "pad_id": 0,
                "bos_id": 2,
                "eos_id": 3,
                "attention": "luong",
                "copy": True,
            }
        )


def test_k_candidates_and_gold_blending():
    table = _pairs()
    memory = memory_from(table)
    assert memory.top(["오늘 날씨 어때"], 2, exclude_same_question=True)[0][0] == 2
    out, report = with_retrieved(table, memory, gold_share=1.0, k=2)
    src = out.column("src_tokens").to_pylist()
    assert src[4].count(SEP) == 2  # test rows: two retrieved answers, never their own
    # Every train row carries its own answer among its two candidates.
    for row, answer in zip(src[:4], table.column("tgt_tokens").to_pylist()[:4]):
        assert row.count(SEP) == 2
        candidates = " ".join(row).split(SEP)[1:]
        assert " ".join(answer) in [c.strip() for c in candidates]
    assert report["train_rows_given_their_own_answer"] == 4
