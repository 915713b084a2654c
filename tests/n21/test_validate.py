"""The N21 GX suite on tiny in-memory tables: good data passes, each planted
defect fails with exactly the expectation that should catch it."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from tasks.n21.validate import validate_n21
from tasks.validation import ValidationFailed, check, frame_for_validation

CFG = {"min_tokens": 1, "max_tokens": 6, "min_chars": 2, "max_chars": 40}
LABELS = ["negative", "positive"]
SOURCE = "data/n21/tokens.parquet"


def good_rows() -> list[dict]:
    texts = [
        ("영화가 정말 좋았다", "positive", "train"),
        ("최악의 영화였다", "negative", "train"),
        ("배우 연기가 훌륭하다", "positive", "train"),
        ("시간 낭비였다", "negative", "dev"),
        ("다시 보고 싶다", "positive", "test"),
        ("지루하고 길다", "negative", "test"),
    ]
    return [
        {"id": f"r{i}", "text": t, "label": lab, "split": sp, "tokens": t.split()}
        for i, (t, lab, sp) in enumerate(texts)
    ]


def make_table(rows: list[dict]) -> pa.Table:
    labels = {"negative": 0, "positive": 1}
    return pa.table(
        {
            "id": pa.array([r["id"] for r in rows], pa.string()),
            "text": pa.array([r["text"] for r in rows], pa.string()),
            "label": pa.array([r["label"] for r in rows], pa.string()),
            "split": pa.array([r["split"] for r in rows], pa.string()),
            "tokens": pa.array([r["tokens"] for r in rows], pa.list_(pa.string())),
            "ids": pa.array([list(range(len(r["tokens"]))) for r in rows], pa.list_(pa.int32())),
            "label_id": pa.array([labels.get(r["label"], -1) for r in rows], pa.int32()),
        }
    )


@pytest.fixture(scope="module")
def good_report() -> dict:
    return validate_n21(make_table(good_rows()), LABELS, CFG)


def failed(report: dict) -> set[tuple[str, str | None]]:
    return {(e["expectation"], e["column"]) for e in report["expectations"] if not e["success"]}


def entry(report: dict, expectation: str, column: str) -> dict:
    (found,) = [e for e in report["expectations"] if e["expectation"] == expectation and e["column"] == column]
    return found


def test_good_table_passes(good_report):
    assert good_report["success"] is True
    assert good_report["rows"] == 6
    assert failed(good_report) == set()
    kinds = {(e["expectation"], e["column"]) for e in good_report["expectations"]}
    assert ("expect_column_values_to_be_unique", "id") in kinds
    assert ("expect_column_values_to_be_between", "n_tokens") in kinds
    assert ("expect_column_value_lengths_to_be_between", "text") in kinds
    assert {("expect_column_to_exist", c) for c in ("id", "text", "label", "split")} <= kinds
    json.dumps(good_report)  # the report is written as a JSON artifact
    check(good_report, SOURCE)  # must not raise


def test_frame_keeps_list_columns_out():
    df = frame_for_validation(make_table(good_rows()))
    assert "tokens" not in df.columns and "ids" not in df.columns
    assert list(df["n_tokens"]) == [len(r["tokens"]) for r in good_rows()]


def _plant(kind: str) -> list[dict]:
    rows = good_rows()
    if kind == "unknown_label":
        rows[3]["label"] = "neutral"  # a dev row: train keeps a row of each class (min_class_rows)
    elif kind == "duplicate_id":
        rows[4]["id"] = "r2"
    elif kind == "null_text":
        rows[3]["text"] = None
    elif kind == "too_many_tokens":
        rows[0]["tokens"] = ["토큰"] * 9
    elif kind == "bad_split":
        rows[5]["split"] = "validation"
    elif kind == "text_too_long":
        rows[2]["text"] = "가" * 41
    return rows


PLANTED = [
    # kind, expectation, column, example value in the report
    ("unknown_label", "expect_column_values_to_be_in_set", "label", "neutral"),
    ("duplicate_id", "expect_column_values_to_be_unique", "id", "r2"),
    ("null_text", "expect_column_values_to_not_be_null", "text", None),
    ("too_many_tokens", "expect_column_values_to_be_between", "n_tokens", 9),
    ("bad_split", "expect_column_values_to_be_in_set", "split", "validation"),
    ("text_too_long", "expect_column_value_lengths_to_be_between", "text", "가" * 41),
]


@pytest.mark.parametrize("kind,expectation,column,example", PLANTED, ids=[p[0] for p in PLANTED])
def test_planted_defect_fails_with_named_expectation(kind, expectation, column, example):
    report = validate_n21(make_table(_plant(kind)), LABELS, CFG)

    assert report["success"] is False
    assert failed(report) == {(expectation, column)}
    bad = entry(report, expectation, column)
    assert bad["unexpected_count"] == (2 if kind == "duplicate_id" else 1)
    assert example in bad["unexpected_examples"]
    json.dumps(report)

    with pytest.raises(ValidationFailed) as exc:
        check(report, SOURCE)
    msg = str(exc.value)
    assert SOURCE in msg
    assert expectation in msg and f"'{column}'" in msg
    assert "1 of" in msg  # exactly one failed expectation is counted
    assert exc.value.report is report


def test_message_names_example_ids_and_params_key():
    report = validate_n21(make_table(_plant("too_many_tokens")), LABELS, CFG)
    bad = entry(report, "expect_column_values_to_be_between", "n_tokens")
    assert bad["example_ids"] == ["r0"]
    assert (bad["min_value"], bad["max_value"]) == (1, 6)
    assert isinstance(bad["max_value"], int)
    msg = str(pytest.raises(ValidationFailed, check, report, SOURCE).value)
    assert "n21.validate.max_tokens" in msg
    assert "r0" in msg and "9" in msg


def test_unknown_label_message_points_to_label_list():
    report = validate_n21(make_table(_plant("unknown_label")), LABELS, CFG)
    msg = str(pytest.raises(ValidationFailed, check, report, SOURCE).value)
    assert "'neutral'" in msg
    assert "n21.class_design.schema" in msg


def test_duplicate_examples_are_distinct():
    report = validate_n21(make_table(_plant("duplicate_id")), LABELS, CFG)
    assert entry(report, "expect_column_values_to_be_unique", "id")["unexpected_examples"] == ["r2"]


def test_missing_column_is_reported_not_raised():
    table = make_table(good_rows()).drop_columns(["split"])
    report = validate_n21(table, LABELS, CFG)
    assert report["success"] is False
    assert ("expect_column_to_exist", "split") in failed(report)
    msg = str(pytest.raises(ValidationFailed, check, report, SOURCE).value)
    assert "expect_column_to_exist on column 'split'" in msg


def test_missing_cfg_key_names_params_key():
    cfg = {k: v for k, v in CFG.items() if k != "max_chars"}
    with pytest.raises(KeyError, match=r"n21\.validate\.max_chars"):
        validate_n21(make_table(good_rows()), LABELS, cfg)


def test_empty_label_values_refused():
    with pytest.raises(ValueError, match=r"n21\.class_design\.schema"):
        validate_n21(make_table(good_rows()), [], CFG)
