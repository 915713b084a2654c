"""Label schema for N21: ids, per-split counts, imbalance (schema files, unknown labels, drift and the
review: tests/test_class_design_review.py)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from tasks.n21.class_design import build_label_schema


def make_table(pairs: list[tuple[str | None, str]]) -> pa.Table:
    """(label, split) pairs -> a table shaped like the tokens table."""
    n = len(pairs)
    return pa.table(
        {
            "id": pa.array([f"r{i}" for i in range(n)], pa.string()),
            "text": pa.array(["문장"] * n, pa.string()),
            "label": pa.array([lab for lab, _ in pairs], pa.string()),
            "split": pa.array([sp for _, sp in pairs], pa.string()),
            "tokens": pa.array([["문장"]] * n, pa.list_(pa.string())),
        }
    )


# train: pos 3, neg 2; dev: pos 1, neg 1; test: pos 1, neg 3
PAIRS = (
    [("positive", "train")] * 3
    + [("negative", "train")] * 2
    + [("positive", "dev"), ("negative", "dev")]
    + [("positive", "test")]
    + [("negative", "test")] * 3
)

CFG = [
    {"value": "positive", "name": "긍정", "description": "positive review"},
    {"value": "negative", "name": "부정", "description": "negative | review"},
]


def by_value(schema: dict) -> dict:
    return {lab["value"]: lab for lab in schema["labels"]}


def test_derived_labels_sorted_with_counts():
    schema = build_label_schema(make_table(PAIRS), [])
    assert schema["problem"] == "n21"
    assert [(lab["id"], lab["value"], lab["name"]) for lab in schema["labels"]] == [
        (0, "negative", "negative"),
        (1, "positive", "positive"),
    ]
    assert by_value(schema)["negative"]["counts"] == {"train": 2, "dev": 1, "test": 3}
    assert by_value(schema)["positive"]["counts"] == {"train": 3, "dev": 1, "test": 1}
    assert all(lab["description"] == "" for lab in schema["labels"])
    assert schema["totals"] == {"train": 5, "dev": 2, "test": 4}
    assert schema["majority_class"] == "positive"  # majority of train, not test
    assert schema["majority_share_test"] == pytest.approx(0.25)
    assert schema["imbalance_warnings"] == []
    json.dumps(schema)


def test_cfg_order_sets_ids_and_names():
    schema = build_label_schema(make_table(PAIRS), CFG)
    assert [(lab["id"], lab["value"], lab["name"]) for lab in schema["labels"]] == [
        (0, "positive", "긍정"),
        (1, "negative", "부정"),
    ]
    assert schema["labels"][0]["description"] == "positive review"
    assert schema["majority_class"] == "긍정"


def test_integer_like_labels_sort_numerically_and_match_int_cfg():
    pairs = [("2", "train"), ("10", "train"), ("1", "train"), ("10", "test")]
    schema = build_label_schema(make_table(pairs), [])
    assert [lab["value"] for lab in schema["labels"]] == ["1", "2", "10"]
    # YAML `value: 0` arrives as an int; it must still match the string "0".
    schema = build_label_schema(make_table([("0", "train"), ("1", "train")]), [{"value": 1}, {"value": 0}])
    assert [(lab["id"], lab["value"], lab["name"]) for lab in schema["labels"]] == [(0, "1", "1"), (1, "0", "0")]


def test_labels_outside_the_schema_are_not_counted():
    # The encode stage refuses them before class_design runs (tasks/label_schema.check_known).
    schema = build_label_schema(make_table(PAIRS + [("neutral", "train")]), CFG)
    assert schema["totals"]["train"] == 5 and "neutral" not in by_value(schema)


def test_schema_file_examples_are_kept():
    cfg = [{**CFG[0], "id": 0, "examples": ["좋아요"]}, {**CFG[1], "id": 1, "examples": []}]
    schema = build_label_schema(make_table(PAIRS), cfg)
    assert [lab["examples"] for lab in schema["labels"]] == [["좋아요"], []]


def test_duplicate_cfg_value_raises():
    with pytest.raises(ValueError, match="twice"):
        build_label_schema(make_table(PAIRS), CFG + [{"value": "positive", "name": "again"}])


def test_cfg_label_absent_from_data_gets_zero_counts_and_warning():
    cfg = CFG + [{"value": "neutral", "name": "중립", "description": ""}]
    schema = build_label_schema(make_table(PAIRS), cfg)
    assert by_value(schema)["neutral"] == {
        "id": 2,
        "value": "neutral",
        "name": "중립",
        "description": "",
        "examples": [],
        "counts": {"train": 0, "dev": 0, "test": 0},
    }
    assert any("'중립'" in w and "0 train rows" in w for w in schema["imbalance_warnings"])


def test_imbalance_threshold_relative_to_uniform_share():
    # 2 classes: uniform 50%, threshold 25% at ratio 0.5. Minority here is 20%.
    pairs = [("a", "train")] * 8 + [("b", "train")] * 2 + [("a", "dev"), ("b", "dev"), ("a", "test"), ("b", "test")]
    schema = build_label_schema(make_table(pairs), [])
    assert len(schema["imbalance_warnings"]) == 1
    assert "'b'" in schema["imbalance_warnings"][0] and "20.0%" in schema["imbalance_warnings"][0]
    # A laxer ratio (threshold 15%) accepts the same data.
    assert build_label_schema(make_table(pairs), [], imbalance_ratio=0.3)["imbalance_warnings"] == []


def test_null_labels_are_not_counted():
    schema = build_label_schema(make_table(PAIRS + [(None, "train")]), [])
    assert schema["totals"]["train"] == 5
