"""N2M stage functions on tiny in-memory data: ingest, tokenize, encode, validate, class design, train, decode.

Everything is written here; nothing reads ../shared.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import torch

from tasks.n2m.class_design import class_design
from tasks.n2m.encode import BOS, EOS, PAD, UNK, build_vocabs, encode_pairs
from tasks.n2m.ingest import column_mapping, ingest_pairs
from tasks.n2m.tokenize import tokenize_pairs
from tasks.n2m.spacing import SPACE
from tasks.params import load_params
from tests.conftest import ROOT

N2M = load_params(ROOT / "params.yaml")["n2m"]  # params.yaml's defaults, under what each test sets

MECAB = {"tagger": "mecab", "join_pos": False}
VALIDATE = {
    "min_tokens": 1,
    "max_src_tokens": 50,
    "max_tgt_tokens": 50,
    "min_length_ratio": 0.1,
    "max_length_ratio": 8.0,
}
# Question, answer, label: a few answer "intents", each asked several ways (written for these tests).
PAIRS = [
    ("밥 먹었어?", "네, 맛있게 먹었어요.", "0"),
    ("점심 먹었니", "네, 맛있게 먹었어요.", "0"),
    ("식사는 했어?", "네, 맛있게 먹었어요.", "0"),
    ("밥은 먹고 다니니", "네, 맛있게 먹었어요.", "0"),
    ("너무 슬퍼", "많이 힘들었겠어요.", "1"),
    ("헤어졌어", "많이 힘들었겠어요.", "1"),
    ("이별했어", "많이 힘들었겠어요.", "1"),
    ("마음이 아파", "많이 힘들었겠어요.", "1"),
    ("좋아하는 사람이 생겼어", "설레는 마음이 느껴져요.", "2"),
    ("짝사랑 중이야", "설레는 마음이 느껴져요.", "2"),
    ("그 사람이 좋아", "설레는 마음이 느껴져요.", "2"),
    ("고백하고 싶어", "설레는 마음이 느껴져요.", "2"),
]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def chatbot_file(tmp_path: Path, pairs=PAIRS, extra: str = "") -> Path:
    lines = ["Q,A,label"] + [f'"{q}","{a}",{lab}' for q, a, lab in pairs]
    path = tmp_path / "chat.csv"
    path.write_text("\r\n".join(lines) + "\r\n" + extra, encoding="utf-8")
    return path


def data_cfg(path: Path, fmt: str = "chatbot", **split) -> dict:
    return {
        **N2M["data"],
        "path": str(path),
        "format": fmt,
        "split": {**N2M["data"]["split"], "dev": 0.2, "test": 0.2, "seed": 13, **split},
    }


def in_memory(pairs, splits) -> pa.Table:
    n = len(pairs)
    return pa.table(
        {
            "id": [f"r{i}" for i in range(n)],
            "question": [p[0] for p in pairs],
            "answer": [p[1] for p in pairs],
            "label": [p[2] for p in pairs],
            "split": splits,
            "source_file": ["mem"] * n,
            "source_row": list(range(2, n + 2)),
        }
    )


# ---------------------------------------------------------------- ingest


def test_ingest_quarantines_and_counts_add_up(tmp_path):
    extra = (
        '"답이 없는 질문",,0\r\n'  # empty answer
        '"밥 먹었어?","네, 맛있게 먹었어요.",0\r\n'  # an exact duplicate pair
        '"밥 먹었어?","아직이요. 같이 먹을래요?",0\r\n'  # same question, another answer: kept
        '"이상한 라벨","대답",9\r\n'
    )  # unknown Chatbot label
    table, quarantine, report = ingest_pairs(data_cfg(chatbot_file(tmp_path, extra=extra)))
    assert report["rows_in"] == report["rows_kept"] + report["rows_quarantined"] == len(PAIRS) + 4
    assert report["rows_quarantined"] == quarantine.num_rows == 3
    assert sum(report["splits"].values()) == table.num_rows == len(PAIRS) + 1
    reasons = quarantine.column("reason").to_pylist()
    assert any("duplicate pair" in r and "line 2" in r for r in reasons)
    assert any("answer" in r and "empty" in r for r in reasons) and any("label '9'" in r for r in reasons)
    assert sorted(quarantine.column("source_row").to_pylist()) == [14, 15, 17]
    assert set(table.column("label").to_pylist()) == {"0", "1", "2"}


def test_copies_of_a_question_share_a_split(tmp_path):
    pairs = [(f"질문 {i % 7}", f"대답 {i}", "0") for i in range(60)]
    table, _, _ = ingest_pairs(data_cfg(chatbot_file(tmp_path, pairs), dev=0.3, test=0.3))
    seen: dict[str, set] = {}
    for q, s in zip(table.column("question").to_pylist(), table.column("split").to_pylist()):
        seen.setdefault(q, set()).add(s)
    assert all(len(s) == 1 for s in seen.values())
    assert table.num_rows == 60


def test_block_splits_keep_a_recurring_question_in_its_most_training_side_split():
    from tasks.n2m.ingest import one_split_per_question

    questions = ["배고파", "잘 자", "배고파 ", "안녕", "잘  자"]
    splits = ["test", "dev", "train", "test", "test"]
    assert one_split_per_question(questions, splits) == ["train", "dev", "train", "test", "dev"]


def test_generic_tsv_with_mapped_columns(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("질문\t답변\n안녕\t안녕하세요\n뭐해\t쉬고 있어요\n", encoding="utf-8")
    cfg = data_cfg(path, "tsv", dev=0.0, test=0.0)
    cfg["columns"] = {"question": "질문", "answer": "답변", "label": None}
    table, quarantine, report = ingest_pairs(cfg)
    assert table.column("answer").to_pylist() == ["안녕하세요", "쉬고 있어요"]
    assert table.column("label").to_pylist() == [None, None] and quarantine.num_rows == 0
    assert column_mapping({"question": None, "answer": None}) is None


def test_no_training_rows_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no training pairs"):
        ingest_pairs(data_cfg(chatbot_file(tmp_path, PAIRS[:1]), dev=0.0, test=0.999))


# ---------------------------------------------------------------- tokenize and encode


def tokenized(splits=None) -> pa.Table:
    splits = splits or ["train"] * (len(PAIRS) - 2) + ["test", "test"]
    out, report = tokenize_pairs(in_memory(PAIRS, splits), MECAB)
    assert report["rows_without_tokens"] == 0 and report["rows_in"] == len(PAIRS)
    return out


def test_tokens_keep_spacing_marks():
    out = tokenized()
    first = out.column("src_tokens").to_pylist()[0]
    assert first[0] == SPACE + "밥" and sum(t.startswith(SPACE) for t in first) == 2  # 밥 / 먹었어?
    from tasks.n2m.spacing import detokenize

    assert [detokenize(t) for t in out.column("tgt_tokens").to_pylist()] == [p[1] for p in PAIRS]


def test_vocabulary_comes_from_train_only_and_ids_are_int32():
    pairs = PAIRS + [("우주선 발사", "로켓 과학은 어려워요.", "0")]
    table, _ = tokenize_pairs(in_memory(pairs, ["train"] * len(PAIRS) + ["test"]), MECAB)
    for shared in (True, False):
        vocabs = build_vocabs(table, {"shared_vocab": shared, "min_freq": 1, "max_size": 1000})
        assert vocabs["shared"] is shared
        assert vocabs["tgt"]["itos"][:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
        assert (PAD, UNK, BOS, EOS) == (0, 1, 2, 3)
        for side in ("src", "tgt"):
            assert not {SPACE + "우주선", SPACE + "로켓", "과학"} & set(vocabs[side]["itos"])
        if not shared:
            assert SPACE + "헤어졌" not in vocabs["tgt"]["itos"]  # a question-only morpheme
        encoded, report = encode_pairs(table, vocabs)
        assert str(encoded.schema.field("src_ids").type.value_type) == "int32"
        parts, parts_report = encode_pairs(table, vocabs, {"workers": 2, "chunk_size": 2, "runner": {"kind": "thread"}})
        assert parts.equals(encoded) and parts_report == {**report, "partitions": parts_report["partitions"]}
        assert parts_report["partitions"] > 1
        tgt = encoded.column("tgt_ids").to_pylist()
        assert all(row[0] == BOS and row[-1] == EOS for row in tgt)
        assert UNK in tgt[-1] and UNK not in [i for row in tgt[:-1] for i in row]
        assert report["tgt_unk_share"] > 0


# ---------------------------------------------------------------- validate


def encoded_table() -> pa.Table:
    table = tokenized()
    out, _ = encode_pairs(table, build_vocabs(table, {"shared_vocab": True, "min_freq": 1, "max_size": 1000}))
    return out


def test_validation_passes_clean_pairs():
    from tasks.n2m.validate import validate_n2m

    report = validate_n2m(encoded_table(), VALIDATE)
    assert report["success"] and report["rows"] == len(PAIRS)


def test_validation_names_a_planted_empty_answer_and_extreme_ratio():
    from tasks.validation import ValidationFailed
    from tasks.n2m.validate import check, validate_n2m

    table = encoded_table()
    tgt = table.column("tgt_ids").to_pylist()
    tgt[3] = [BOS, EOS]  # r3: an empty answer
    tgt[5] = [BOS, *([7] * 40), EOS]  # r5: 40 tokens answering a 2-token question
    splits = table.column("split").to_pylist()
    splits[7] = "validation"  # r7: not a split we know
    table = table.set_column(table.schema.get_field_index("tgt_ids"), "tgt_ids", pa.array(tgt, pa.list_(pa.int32())))
    table = table.set_column(table.schema.get_field_index("split"), "split", pa.array(splits))
    report = validate_n2m(table, VALIDATE)
    assert not report["success"]
    failed = {(e["column"], e["expectation"]): e for e in report["expectations"] if not e["success"]}
    assert failed[("n_tgt", "expect_column_values_to_be_between")]["example_ids"] == ["r3"]
    ratio = failed[("length_ratio", "expect_column_values_to_be_between")]
    assert set(ratio["example_ids"]) == {"r3", "r5"}  # too short and too long
    assert failed[("split", "expect_column_values_to_be_in_set")]["example_ids"] == ["r7"]
    with pytest.raises(ValidationFailed) as err:
        check(report, "mem.csv")
    message = str(err.value)
    assert "mem.csv" in message and "r5" in message and "n2m.validate.max_length_ratio" in message


def test_validation_settings_are_required():
    from tasks.n2m.validate import validate_n2m

    with pytest.raises(KeyError, match="n2m.validate.max_tgt_tokens"):
        validate_n2m(encoded_table(), {**VALIDATE, "max_tgt_tokens": None})


# ---------------------------------------------------------------- class design


def test_class_design_counts_labels_per_split_and_answer_diversity():
    splits = ["train"] * 8 + ["dev", "dev", "test", "test"]
    cfg = {
        "labels": [
            {"value": "0", "name": "everyday"},
            {"value": "1", "name": "breakup"},
            {"value": "2", "name": "love"},
        ],
        "imbalance_ratio": 0.1,
        "top_answers": 2,
    }
    design = class_design(in_memory(PAIRS, splits), cfg)
    by_value = {d["value"]: d for d in design["labels"]}
    assert by_value["0"]["train"] == 4 and by_value["1"]["train"] == 4 and by_value["2"]["train"] == 0
    assert by_value["2"]["dev"] == 2 and by_value["2"]["name"] == "love"
    assert design["totals"] == {"train": 8, "dev": 2, "test": 2}
    assert any("love" in w for w in design["imbalance_warnings"])  # no train pairs at all
    train = design["answer_diversity"]["train"]
    assert train["unique_answers"] == 2 and train["top_answer_share"] == 0.5
    assert design["top_train_answers"][0]["count"] == 4
    assert design["test_answers_unseen_in_train"] == 1.0
    from tasks.class_review import review_markdown
    from tasks.n2m.class_design import n2m_review

    markdown = review_markdown(n2m_review(design, cfg, "v1"))
    assert "| love (`2`) | 0 | 2 | 2 | 0.0% | 100.0% | 100.0% |" in markdown and "## Answer diversity" in markdown


# ---------------------------------------------------------------- train and decode


def test_training_learns_the_intents_and_answers_read_as_korean():
    from tasks.n2m.train import GREEDY, answers_for, model_config, train_seq2seq

    splits = ["train" if i % 4 else "dev" for i in range(len(PAIRS))]
    table, _ = tokenize_pairs(in_memory(PAIRS, splits), MECAB)
    vocabs = build_vocabs(table, {"shared_vocab": True, "min_freq": 1, "max_size": 1000})
    encoded, _ = encode_pairs(table, vocabs)
    cfg = {
        **N2M["train"],
        "emb_dim": 32,
        "hidden_dim": 48,
        "num_layers": 1,
        "dropout": 0.0,
        "attention": "luong",
        "rnn": "gru",
        "encoder": "bilstm",
        "tie_embeddings": True,
        "label_smoothing": 0.0,
        "batch_size": 4,
        "epochs": 25,
        "lr": 0.01,
        "patience": 0,
        "monitor": "perplexity",
        "seed": 1,
        "device": "cpu",
        "threads": 1,
        "grad_clip": 5.0,
        "src_token_dropout": 0.0,
        "tgt_token_dropout": 0.0,
    }
    model, history = train_seq2seq(encoded, model_config(vocabs, cfg), cfg, vocabs["tgt"]["itos"], log=lambda _: None)
    assert len(history["epochs"]) == 25 and history["epochs"][-1]["train_loss"] < history["epochs"][0]["train_loss"] / 3
    train_rows = encoded.filter(pc.equal(encoded.column("split"), "train"))
    beam = {**GREEDY, "method": "beam", "beam_width": 3, "length_penalty": 0.6}
    for decode in ({**GREEDY, "max_len": 20}, {**beam, "max_len": 20}):
        answers = answers_for(model, train_rows, vocabs["tgt"]["itos"], decode, device="cpu")
        gold = train_rows.column("answer").to_pylist()
        assert sum(a == g for a, g in zip(answers, gold)) >= len(gold) - 1, answers
        for answer in answers:
            # Spaces only between eojeol: never "맛있 게 먹 었 어요"-style morpheme soup.
            assert SPACE not in answer and "<" not in answer
            assert all(len(word) > 1 or word in ".?!," for word in answer.split()), answer


def test_decode_method_is_checked():
    from tasks.n2m.train import check_decode

    with pytest.raises(ValueError, match="greedy"):
        check_decode({"method": "sample"})


def test_word_dropout_hides_only_real_tokens():
    from tasks.n2m.train import drop_tokens

    ids = torch.tensor([[BOS, 5, 6, 7, 8, EOS, PAD, PAD]])
    torch.manual_seed(0)
    dropped = drop_tokens(ids, 1.0)
    assert dropped.tolist() == [[BOS, UNK, UNK, UNK, UNK, EOS, PAD, PAD]]
    assert torch.equal(drop_tokens(ids, 0.0), ids)
