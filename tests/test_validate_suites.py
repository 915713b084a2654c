"""Suites declared in tasks/*/suite.yaml: they load, their parameters match params.yaml, and each
Korean-text / structure expectation fails on a planted bad row and passes on clean data."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from tasks.n21.validate import validate_n21
from tasks.validation import ValidationFailed, check
from tasks.validate_suite import SUITES_DIR, expectations, load_suite, resolve_parameters
from tasks.validate_text import bad_chars, class_counts, hangul_share, splits_per_text
from tests.n21.test_validate import CFG, LABELS, good_rows, make_table

PROBLEMS = ("n21", "n2n", "n2m", "n2path")
ROOT = Path(__file__).resolve().parents[1]


def failed(report: dict) -> dict[str, dict]:
    return {e["column"]: e for e in report["expectations"] if not e["success"]}


# ---------------------------------------------------------------- the suite files


@pytest.mark.parametrize("problem", PROBLEMS)
def test_suite_file_loads_and_builds_gx_expectations(problem):
    suite = load_suite(problem)
    assert Path(suite["path"]) == SUITES_DIR / problem / "suite.yaml"
    built = [exp for table in suite["tables"] for exp in expectations(suite, table)]
    assert len(built) >= 8
    # The Korean-text expectations are in every suite.
    columns = {exp.column for exp in built if hasattr(exp, "column")}
    prefix = "question_" if problem == "n2m" else ""
    assert {f"{prefix}hangul_share", f"{prefix}bad_chars", f"{prefix}n_splits_for_text"} <= columns


@pytest.mark.parametrize("problem", PROBLEMS)
def test_suite_parameters_are_params_yaml_keys(problem):
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))[problem]
    for name, spec in load_suite(problem)["parameters"].items():
        section, *keys = spec["params"].split(".")[1:]
        node = params[section]
        for key in keys:
            assert key in node, f"{spec['params']} (suite parameter {name}) is not in params.yaml"
            node = node[key]
    # params.yaml's own values pass the suite's checks (shares in 0..1, min <= max).
    resolve_parameters(load_suite(problem), params["validate"])


def test_suite_parameter_errors_name_the_params_key():
    suite = load_suite("n21")
    with pytest.raises(ValueError, match=r"n21\.validate\.min_hangul_share \(1\.5\) must be between 0 and 1"):
        resolve_parameters(suite, {**CFG, "min_hangul_share": 1.5})
    with pytest.raises(ValueError, match=r"n21\.validate\.min_tokens \(9\) is greater than n21\.validate\.max_tokens"):
        resolve_parameters(suite, {**CFG, "min_tokens": 9})
    with pytest.raises(ValueError, match=r"n21\.validate\.leakage_mostly must be a number"):
        resolve_parameters(suite, {**CFG, "leakage_mostly": "all"})
    defaults = resolve_parameters(suite, CFG, {"labels": LABELS})
    assert defaults["min_hangul_share"] == 0.5 and defaults["labels"] == LABELS


def test_undeclared_suite_parameter_is_refused(tmp_path, monkeypatch):
    import tasks.validate_suite as vs

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "suite.yaml").write_text(
        "parameters: {}\ntables:\n  rows:\n    expectations:\n"
        "      - {type: expect_column_values_to_be_between, kwargs: {column: x, min_value: {$PARAMETER: lo}}}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(vs, "SUITES_DIR", tmp_path)
    with pytest.raises(ValueError, match="suite parameter 'lo'"):
        vs.load_suite("bad")


# ---------------------------------------------------------------- helper columns


def test_text_helpers():
    assert hangul_share("영화가 정말 좋았다") == 1.0
    assert hangul_share("This movie was great") == 0.0
    assert hangul_share("10점 만점에 10점!!") == 1.0  # digits and punctuation are not letters
    assert hangul_share("ㅋㅋㅋ good") == 0.4286 and hangul_share("") is None
    assert hangul_share("^^ 10/10") == hangul_share("😀😀") == 0.0  # no letter: no Korean text
    assert bad_chars("정상적인 문장\t탭") == "" and bad_chars("벨\x07소리\ufffd") == "U+0007 U+FFFD"
    assert bad_chars("ì\x95\x88ë\x85\x95") == "U+0095 U+0088 U+0085"  # UTF-8 read as Latin-1
    assert splits_per_text(["좋아요", " 좋아요 ", "싫어요", None], ["train", "test", "train", "dev"]) == [2, 2, 1, None]
    counts = class_counts(["a", "a", "b", "zz"], ["train", "dev", "test", "train"], ["a", "b", "c"])
    assert counts.to_dict("records") == [
        {"label": "a", "train_rows": 1, "dev_rows": 1, "test_rows": 0},
        {"label": "b", "train_rows": 0, "dev_rows": 0, "test_rows": 1},
        {"label": "c", "train_rows": 0, "dev_rows": 0, "test_rows": 0},
    ]


# ---------------------------------------------------------------- N21


def planted_n21() -> list[dict]:
    rows = good_rows()
    rows[0]["text"] = "This movie was great"  # Latin only
    rows[2]["text"] = "배우 연기가\x07 훌륭하다"  # a control character
    rows[5]["text"] = rows[1]["text"]  # a train text again in test: leakage
    return rows


def test_n21_korean_expectations_fail_on_planted_rows():
    report = validate_n21(make_table(planted_n21()), LABELS, {**CFG, "min_class_rows": 2})
    bad = failed(report)
    assert set(bad) == {"hangul_share", "bad_chars", "n_splits_for_text", "train_rows"}
    assert bad["hangul_share"]["example_ids"] == ["r0"] and bad["hangul_share"]["mostly"] == 0.95
    assert bad["bad_chars"]["example_ids"] == ["r2"] and bad["bad_chars"]["unexpected_examples"] == ["U+0007"]
    assert set(bad["n_splits_for_text"]["example_ids"]) == {"r1", "r5"}
    # negative has one train row (r1) under min_class_rows=2; the classes table names it by label.
    assert bad["train_rows"]["table"] == "classes" and bad["train_rows"]["example_ids"] == ["negative"]
    json.dumps(report)

    msg = str(pytest.raises(ValidationFailed, check, report, "data/reviews.tsv").value)
    assert "data/reviews.tsv" in msg and "4 of" in msg
    for text in (
        "hangul_share",
        "n21.validate.min_hangul_share",
        "r0",
        "'U+0007'",
        "r2",
        "n21.data.encoding",
        "n_splits_for_text",
        "r5",
        "n21.validate.leakage_mostly",
        "of table 'classes'",
        "label values: negative",
        "n21.validate.min_class_rows",
        "tasks/n21/suite.yaml",
    ):
        assert text in msg, text


def test_n21_mostly_and_thresholds_come_from_params():
    rows = planted_n21()[:2] + good_rows()[2:]  # only the Latin row is left
    loose = validate_n21(make_table(rows), LABELS, {**CFG, "hangul_mostly": 0.8})
    assert loose["success"], failed(loose)  # 5 of 6 rows are Korean: 83% >= 80%
    assert loose["parameters"]["hangul_mostly"] == 0.8 and loose["suite"] == "tasks/n21/suite.yaml"
    strict = validate_n21(make_table(good_rows()), LABELS, {**CFG, "min_class_rows": 3})
    assert set(failed(strict)) == {"train_rows"}


def test_replacement_character_fails():
    rows = good_rows()
    rows[3]["text"] = "시간 낭\ufffd였다"
    report = validate_n21(make_table(rows), LABELS, CFG)
    assert failed(report)["bad_chars"]["unexpected_examples"] == ["U+FFFD"]


# ---------------------------------------------------------------- N2N


def n2n_table(rows: list[tuple]) -> pa.Table:
    from tasks.n2n.ingest import ENTITY

    def tags_for(text, ents):
        tags = ["O"] * len(text)
        for e in ents:
            for i in range(e["start"], min(e["end"], len(text))):
                tags[i] = ("B-" if i == e["start"] else "I-") + e["type"]
        return tags

    return pa.table(
        {
            "id": [r[0] for r in rows],
            "text": [r[1] for r in rows],
            "entities": pa.array([r[2] for r in rows], pa.list_(ENTITY)),
            "tags": [r[4] if len(r) > 4 else tags_for(r[1], r[2]) for r in rows],
            "split": [r[3] for r in rows],
        }
    )


N2N_CLEAN = [
    (
        "s1",
        "김민준은 서울에 갔다",
        [{"start": 0, "end": 3, "type": "PS"}, {"start": 5, "end": 7, "type": "LC"}],
        "train",
    ),
    ("s2", "이서연이 부산에서 왔다", [{"start": 0, "end": 3, "type": "PS"}], "train"),
    ("s3", "내일 회의가 있다", [], "dev"),
    ("s4", "한빛전자는 대전에 있다", [{"start": 6, "end": 8, "type": "LC"}], "test"),
]


def test_n2n_suite_passes_clean_and_names_each_planted_row():
    from tasks.n2n.validate import validate_n2n

    cfg = {"min_chars": 1, "max_chars": 100}
    assert validate_n2n(n2n_table(N2N_CLEAN), ["PS", "LC"], cfg)["success"]
    rows = [
        *N2N_CLEAN,
        ("x1", "박지훈이 왔다", [], "train", ["O", "I-PS", "I-PS", "O", "O", "O", "O"]),  # I- without B-
        ("x2", "광주에 갔다", [{"start": 0, "end": 9, "type": "LC"}], "train"),  # span past the text
        ("x3", "국회가 열렸다", [{"start": 0, "end": 2, "type": "OG"}], "train"),  # type not in schema
        ("x4", "Samsung opened a store", [], "train"),  # Latin only
        ("x5", "제어\x1b문자가 있다", [], "train"),  # control character
        ("x6", "내일 회의가 있다", [], "test"),
    ]  # s3's text in another split
    report = validate_n2n(n2n_table(rows), ["PS", "LC"], cfg)
    bad = failed(report)
    assert set(bad) == {
        "bio_valid",
        "spans_inside_text",
        "types_in_schema",
        "hangul_share",
        "bad_chars",
        "n_splits_for_text",
    }
    assert bad["bio_valid"]["example_ids"] == ["x1"] and bad["spans_inside_text"]["example_ids"] == ["x2"]
    assert bad["types_in_schema"]["example_ids"] == ["x3"] and bad["hangul_share"]["example_ids"] == ["x4"]
    assert bad["bad_chars"]["example_ids"] == ["x5"] and set(bad["n_splits_for_text"]["example_ids"]) == {"s3", "x6"}
    msg = str(pytest.raises(ValidationFailed, check, report, "ner.jsonl").value)
    assert "n2n.class_design.schema" in msg and "n2n.validate.leakage_mostly" in msg


# ---------------------------------------------------------------- N2M


def n2m_table(rows: list[tuple]) -> pa.Table:
    """(id, question, answer, label, split); token ids are one per space-separated word."""
    return pa.table(
        {
            "id": [r[0] for r in rows],
            "question": [r[1] for r in rows],
            "answer": [r[2] for r in rows],
            "label": pa.array([r[3] for r in rows], pa.string()),
            "split": [r[4] for r in rows],
            "src_ids": pa.array([[5] * len(r[1].split()) for r in rows], pa.list_(pa.int32())),
            "tgt_ids": pa.array([[1, *([6] * len(r[2].split())), 2] for r in rows], pa.list_(pa.int32())),
        }
    )


N2M_CLEAN = [
    ("q1", "밥 먹었어?", "네 맛있게 먹었어요.", "0", "train"),
    ("q2", "점심 먹었니", "네 먹었어요.", "0", "train"),
    ("q3", "너무 슬퍼", "많이 힘들었겠어요.", "1", "train"),
    ("q4", "헤어졌어", "힘내세요.", "1", "train"),
    ("q5", "좋아하는 사람이 생겼어", "설레는 마음이 느껴져요.", "2", "train"),
    ("q6", "짝사랑 중이야", "응원할게요.", "2", "dev"),
    ("q7", "고백하고 싶어", "용기를 내 보세요.", "2", "test"),
]
N2M_CFG = {
    "min_tokens": 1,
    "max_src_tokens": 20,
    "max_tgt_tokens": 20,
    "min_length_ratio": 0.1,
    "max_length_ratio": 8.0,
}


def test_n2m_suite_checks_both_sides_labels_and_leakage():
    from tasks.n2m.validate import check as check_n2m
    from tasks.n2m.validate import validate_n2m

    labels = [{"value": "0"}, {"value": "1"}, {"value": "2"}]
    assert validate_n2m(n2m_table(N2M_CLEAN), N2M_CFG, labels)["success"]
    rows = [
        *N2M_CLEAN,
        ("x1", "뭐 해?", "", "0", "train"),  # empty answer: n_tgt 0 and length ratio 0
        ("x2", "How are you?", "I am fine thanks.", "0", "train"),  # Latin on both sides
        ("x3", "안녕\x00하세요", "반가워요.", "1", "train"),  # NUL in the question
        ("x4", "너무 슬퍼", "괜찮아질 거예요.", "1", "test"),  # q3's question in test
        ("x5", "날씨 어때", "맑아요.", "9", "train"),
    ]  # a label outside the schema
    report = validate_n2m(n2m_table(rows), {**N2M_CFG, "min_class_rows": 3}, labels)
    bad = failed(report)
    assert set(bad) == {
        "n_tgt",
        "length_ratio",
        "question_hangul_share",
        "answer_hangul_share",
        "question_bad_chars",
        "question_n_splits_for_text",
        "label",
        "train_rows",
    }
    assert bad["n_tgt"]["example_ids"] == ["x1"] and bad["question_bad_chars"]["example_ids"] == ["x3"]
    assert bad["question_hangul_share"]["example_ids"] == bad["answer_hangul_share"]["example_ids"] == ["x2"]
    assert set(bad["question_n_splits_for_text"]["example_ids"]) == {"q3", "x4"}
    assert bad["label"]["unexpected_examples"] == ["9"]
    assert bad["train_rows"]["example_ids"] == ["2"]  # only q5 is a train pair of label 2
    msg = str(pytest.raises(ValidationFailed, check_n2m, report, "chat.csv").value)
    assert "(12 pairs)" in msg and "n2m.validate.min_class_rows" in msg and "x2" in msg


def test_n2m_without_labels_skips_label_checks():
    from tasks.n2m.validate import validate_n2m

    report = validate_n2m(n2m_table([(*r[:3], None, r[4]) for r in N2M_CLEAN]), N2M_CFG, [])
    assert report["success"] and report["skipped_tables"] == ["classes"]


# ---------------------------------------------------------------- N2Path


def n2path_table(rows: list[dict]) -> pa.Table:
    return pa.table(
        {
            "id": [r["id"] for r in rows],
            "text": [r.get("text") for r in rows],
            "words": [r["words"] for r in rows],
            "heads": pa.array([r["heads"] for r in rows], pa.list_(pa.int32())),
            "deprels": [r["deprels"] for r in rows],
            "split": [r["split"] for r in rows],
        }
    )


def test_n2path_suite_names_two_roots_latin_and_leakage():
    from tasks.n2path.validate import check_n2path, validate_n2path

    base = {"words": ["그녀는", "책을", "읽었다"], "heads": [3, 3, 0], "deprels": ["nsubj", "obj", "root"]}
    clean = [
        {**base, "id": "a", "split": "train"},
        {
            "id": "b",
            "words": ["동생이", "학교에", "갔다"],
            "heads": [3, 3, 0],
            "deprels": ["nsubj", "obj", "root"],
            "split": "dev",
        },
    ]
    cfg = {"min_words": 1, "max_words": 50}
    relations = ["nsubj", "obj", "root"]
    assert validate_n2path(n2path_table(clean), relations, cfg)["success"]
    rows = [
        *clean,
        {
            "id": "two-roots",
            "words": ["형이", "밥을", "먹었다"],
            "heads": [0, 3, 0],
            "deprels": ["nsubj", "obj", "root"],
            "split": "train",
        },
        {
            "id": "latin",
            "words": ["I", "read", "books"],
            "heads": [2, 0, 2],
            "deprels": ["nsubj", "root", "obj"],
            "split": "train",
        },
        {**base, "id": "leak", "split": "test"},
    ]
    report = validate_n2path(n2path_table(rows), relations, cfg)
    bad = failed(report)
    assert set(bad) == {"one_root", "hangul_share", "n_splits_for_text"}
    assert bad["one_root"]["example_ids"] == ["two-roots"] and bad["hangul_share"]["example_ids"] == ["latin"]
    assert set(bad["n_splits_for_text"]["example_ids"]) == {"a", "leak"}
    msg = str(pytest.raises(ValidationFailed, check_n2path, report, "tb.conllu").value)
    assert "tb.conllu" in msg and "two-roots" in msg and "n2path.validate.leakage_mostly" in msg


# ---------------------------------------------------------------- rows without letters, control characters in words

BAD = ROOT / "tests" / "bad_inputs"


def test_emoji_only_pairs_fail_the_hangul_expectation_on_both_sides():
    from tasks.n2m.formats import read_pairs
    from tasks.n2m.validate import validate_n2m

    pairs, _ = read_pairs(BAD / "chatbot_emoji.csv", "chatbot")
    emoji = [(f"e{i}", p["question"], p["answer"], None, "train") for i, p in enumerate(pairs)]
    report = validate_n2m(n2m_table([(*r[:3], None, r[4]) for r in N2M_CLEAN] + emoji), N2M_CFG, [])
    bad = failed(report)
    assert set(bad) == {"question_hangul_share", "answer_hangul_share"}
    assert bad["question_hangul_share"]["unexpected_count"] == len(pairs) == 6
    assert bad["answer_hangul_share"]["unexpected_examples"] == [0.0]


def test_n21_and_n2n_rows_without_letters_count_against_the_hangul_share():
    from tasks.n2n.validate import validate_n2n

    rows = good_rows()
    rows[4]["text"] = "👍👍👍"
    report = validate_n21(make_table(rows), LABELS, {**CFG, "min_chars": 1})
    assert failed(report)["hangul_share"]["example_ids"] == ["r4"]
    report = validate_n2n(
        n2n_table([*N2N_CLEAN, ("x1", "2024. 01. 01.", [], "train")]), ["PS", "LC"], {"min_chars": 1, "max_chars": 100}
    )
    assert set(failed(report)) == {"hangul_share"} and failed(report)["hangul_share"]["example_ids"] == ["x1"]


def test_n2path_control_character_inside_a_word_fails_though_text_is_clean():
    from tasks.n2path.formats import read_conllu
    from tasks.n2path.ingest import sentences_table
    from tasks.n2path.validate import check_n2path, validate_n2path

    sentences, _ = read_conllu(BAD / "conllu_nul_word.conllu")
    clean = {
        "id": "c1",
        "text": "동생이 학교에 갔다",
        "words": ["동생이", "학교에", "갔다"],
        "heads": [3, 3, 0],
        "deprels": ["nsubj", "obj", "root"],
    }
    table = sentences_table([{**s, "split": "train"} for s in [*sentences, clean]])
    assert table.column("text")[0].as_py() == "아이가 공을 찼다."  # `# text` holds no NUL
    report = validate_n2path(table, ["nsubj", "obj", "root"], {"min_words": 1, "max_words": 50})
    bad = failed(report)
    assert set(bad) == {"words_bad_chars"}
    assert bad["words_bad_chars"]["example_ids"] == ["nul-1"] and bad["words_bad_chars"]["unexpected_examples"] == [
        "U+0000"
    ]
    msg = str(pytest.raises(ValidationFailed, check_n2path, report, "tb.conllu").value)
    assert "words_bad_chars" in msg and "nul-1" in msg and "n2path.data.encoding" in msg
