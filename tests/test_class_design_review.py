"""Label schema files, unknown labels, label drift, most-confused pairs and the class design review."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from tasks.class_review import (
    data_version,
    design_review,
    label_drift,
    pairs_table,
    record_version,
    review_markdown,
    top_pairs,
    version_entry,
)
from tasks.label_schema import SchemaError, check_known, load_schema, unknown_values
from tests.conftest import ROOT

SCHEMAS = {
    "n21_labels.yaml": ("n21", 2),
    "n2n_types.yaml": ("n2n", 5),
    "n2m_labels.yaml": ("n2m", 3),
    "n2path_relations.yaml": ("n2path", 18),
    "bench/nsmc_labels.yaml": ("n21", 2),
    "bench/gsd_relations.yaml": ("n2path", 29),
}


# ---------------------------------------------------------------- schema files


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_files_load(name):
    problem, k = SCHEMAS[name]
    classes = load_schema(ROOT / "data" / "schema" / name, problem)
    assert [c["id"] for c in classes] == list(range(k))
    for c in classes:
        assert c["value"] and c["name"] and c["description"], c
        assert 1 <= len(c["examples"]) <= 3, c


def test_params_point_at_the_schema_files():
    from tasks.params import load_params

    params = load_params(ROOT / "params.yaml")
    for problem, name in (
        ("n21", "n21_labels"),
        ("n2n", "n2n_types"),
        ("n2m", "n2m_labels"),
        ("n2path", "n2path_relations"),
    ):
        assert params[problem]["class_design"]["schema"] == f"data/schema/{name}.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labels.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_schema_values_are_strings_and_ids_follow_the_order(tmp_path):
    path = _write(
        tmp_path,
        "problem: n21\nclasses:\n  - {id: 0, value: 0, name: bad, examples: 별로}\n  - {value: 1, name: good}\n",
    )
    assert load_schema(path, "n21") == [
        {"id": 0, "value": "0", "name": "bad", "description": "", "examples": ["별로"]},
        {"id": 1, "value": "1", "name": "good", "description": "", "examples": []},
    ]
    renumbered = _write(tmp_path, "classes:\n  - {id: 1, value: a}\n  - {id: 0, value: b}\n")
    with pytest.raises(SchemaError, match=r"class 'a' has id 1 but is number 0 in the list"):
        load_schema(renumbered)


@pytest.mark.parametrize(
    "text, message",
    [
        ("classes:\n  - {value: a}\n  - {value: a}\n", "lists value 'a' twice"),
        ("classes:\n  - {value: a, name: x}\n  - {value: b, name: x}\n", "uses name 'x' for two classes"),
        ("classes: []\n", "non-empty `classes:` list"),
        ("classes:\n  - {name: a}\n", "class 0 needs a `value`"),
        ("problem: n2n\nclasses:\n  - {value: a}\n", "is for problem 'n2n', not 'n21'"),
    ],
)
def test_bad_schema_files_are_refused(tmp_path, text, message):
    with pytest.raises(SchemaError, match=message):
        load_schema(_write(tmp_path, text), "n21")


def test_missing_schema_file_names_the_params_key(tmp_path):
    with pytest.raises(SchemaError, match=r"not found \(params key n2n\.class_design\.schema\)"):
        load_schema(tmp_path / "nope.yaml", "n2n")


# ---------------------------------------------------------------- unknown labels

ROWS = pa.table(
    {
        "id": ["r0", "r1", "r2", "r3", "r4", "r5"],
        "label": ["positive", "negative", "neutral", "neutral", "mixed", None],
        "source_file": ["reviews.tsv"] * 6,
        "source_row": [2, 3, 4, 5, 6, 7],
    }
)


def test_unknown_label_rejected_with_the_exact_message():
    with pytest.raises(SchemaError) as err:
        check_known(ROWS, "label", ["negative", "positive"], "n21", "data/schema/n21_labels.yaml")
    assert str(err.value) == (
        "n21: 2 label values are not in the label schema data/schema/n21_labels.yaml: "
        "'neutral' (2 rows; e.g. id r2, line 4 of reviews.tsv), 'mixed' (1 row; e.g. id r4, line 6 of reviews.tsv). "
        "Add each real class to data/schema/n21_labels.yaml (value, name, description, examples; new classes at "
        "the end), or fix or remove those rows in the data."
    )
    check_known(ROWS, "label", ["negative", "positive", "neutral", "mixed"], "n21", "x.yaml")  # nulls are fine


def test_derived_classes_message_says_how_to_fix():
    with pytest.raises(
        SchemaError,
        match=r"n21: 1 label value is not in the train split, from which the classes "
        r"are derived \(n21\.class_design\.schema is null\): 'mixed'",
    ):
        check_known(ROWS, "label", ["negative", "positive", "neutral"], "n21", None)


def test_unknown_entity_types_and_relations_in_list_columns():
    entity = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("type", pa.string())])
    ner = pa.table(
        {
            "id": ["a", "b"],
            "entities": pa.array(
                [
                    [{"start": 0, "end": 2, "type": "PS"}],
                    [{"start": 0, "end": 1, "type": "MISC"}, {"start": 2, "end": 3, "type": "MISC"}],
                ],
                pa.list_(entity),
            ),
        }
    )
    assert unknown_values(ner, "entities", ["PS"], field="type") == [
        {"value": "MISC", "count": 2, "id": "b", "source_file": None, "source_row": None}
    ]
    with pytest.raises(SchemaError, match=r"n2n: 1 entity type value is not in .*'MISC' \(2 entities; e\.g\. id b\)"):
        check_known(ner, "entities", ["PS"], "n2n", "types.yaml", field="type", kind="entity type", unit="entities")
    trees = pa.table(
        {
            "id": ["s1", "s2"],
            "deprels": [["nsubj", "root"], ["objj", "root"]],
            "source_file": ["t.conllu"] * 2,
            "source_row": [1, 9],
        }
    )
    with pytest.raises(SchemaError, match=r"'objj' \(1 arc; e\.g\. id s2, line 9 of t\.conllu\)"):
        check_known(trees, "deprels", ["nsubj", "root"], "n2path", "rels.yaml", kind="relation", unit="arcs")


# ---------------------------------------------------------------- drift


def _review(counts: dict[str, int], version: str, schema: str | None = "s.yaml") -> dict:
    classes = [{"id": i, "value": v, "name": v, "counts": {"train": n}} for i, (v, n) in enumerate(counts.items())]
    return design_review(
        "n21", "sequence → one class", "rows", classes, [], {"schema": schema, "drift_warn": 0.05}, version
    )


def test_drift_between_two_versions():
    before = version_entry(_review({"negative": 50, "positive": 50}, "v1"))
    after = version_entry(_review({"negative": 30, "positive": 66, "neutral": 4}, "v2"))
    drift = label_drift(before, after, threshold=0.05)
    assert (drift["previous_version"], drift["current_version"]) == ("v1", "v2")
    rows = {r["value"]: r for r in drift["classes"]}
    assert rows["negative"]["change"] == pytest.approx(-0.2) and rows["positive"]["change"] == pytest.approx(0.16)
    assert rows["neutral"]["previous"] == 0 and rows["neutral"]["current_share"] == pytest.approx(0.04)
    assert len(drift["warnings"]) == 2  # neutral moved 4 points: under the threshold
    assert drift["warnings"][0] == (
        "class 'negative' moved from 50.0% to 30.0% of the data (-20.0 points), "
        "past the drift_warn threshold of 5.0 points"
    )
    assert label_drift(None, after, 0.05)["previous_version"] is None


def test_history_compares_with_the_previous_other_version(tmp_path):
    history = tmp_path / "class_history.json"
    first = record_version(_review({"a": 5, "b": 5}, "v1"), history)
    assert first["drift"]["previous_version"] is None
    assert "No previous version" in review_markdown(first)
    second = record_version(_review({"a": 9, "b": 1}, "v2"), history)
    assert second["drift"]["previous_version"] == "v1" and len(second["drift"]["warnings"]) == 2
    # The same data again (a params change): still compared with v1, not with itself.
    again = record_version(_review({"a": 9, "b": 1}, "v2"), history)
    assert again["drift"]["previous_version"] == "v1"


def test_data_version_follows_content_not_location():
    table = pa.table({"id": ["1", "2"], "label": ["a", "b"], "source_file": ["x.tsv", "x.tsv"]})
    moved = table.set_column(2, "source_file", pa.array(["/elsewhere/x.tsv"] * 2))
    assert data_version(table) == data_version(moved) and len(data_version(table)) == 12
    assert data_version(table) != data_version(table.set_column(1, "label", pa.array(["a", "a"])))


# ---------------------------------------------------------------- confused pairs


def test_top_pairs_on_a_tiny_confusion():
    # actual -> predicted: neg->pos 3, pos->neg 1, neu->pos 2; neg has 10 rows, neu 4.
    items = [("neg", "pos", "a"), ("neg", "pos", "b"), ("neg", "pos", "b"), ("pos", "neg", "c")] + [
        ("neu", "pos", f"n{i}") for i in range(2)
    ]
    pairs = top_pairs(items, top_k=2, max_examples=3, support={"neg": 10, "neu": 4, "pos": 8})
    assert pairs == [
        {"gold": "neg", "predicted": "pos", "count": 3, "share_of_gold": 0.3, "examples": ["a", "b"]},
        {"gold": "neu", "predicted": "pos", "count": 2, "share_of_gold": 0.5, "examples": ["n0", "n1"]},
    ]
    table = pairs_table("Top 2", pairs, "rows", gold="actual")
    assert table["columns"] == ["actual", "predicted", "rows", "share of actual", "examples"]
    assert table["rows"][0] == ["neg", "pos", 3, "30.0%", "a ‖ b"]
    assert pairs_table("none", [], "rows")["note"] == "No errors of this kind."


def test_n21_confused_pairs_from_predictions():
    from tasks.n21.evaluate import confused_pairs

    predictions = pa.table(
        {
            "id": ["1", "2", "3", "4"],
            "text": ["별로", "좋아요", "최악", "그냥"],
            "label": ["negative", "positive", "negative", "negative"],
            "predicted": ["positive", "positive", "positive", "negative"],
            "confidence": pa.array([0.6, 0.9, 0.95, 0.7], pa.float32()),
        }
    )
    table = confused_pairs(predictions, "test", top_k=3)["tables"][0]
    assert table["rows"] == [["negative", "positive", 2, "66.7%", "3: 최악 (0.95) ‖ 1: 별로 (0.60)"]]


def test_n2n_type_confusions_missed_and_spurious():
    from tasks.n2n.evaluate import type_confusions

    texts = ["김철수가 서울에 갔다", "한빛전자 본사"]
    gold = [[(0, 3, "PS"), (5, 7, "LC")], [(0, 4, "OG")]]
    pred = [[(0, 3, "PS"), (5, 7, "OG")], [(5, 7, "LC")]]
    result = type_confusions(["s1", "s2"], texts, gold, pred, "test")
    confused, other = result["tables"]
    assert confused["rows"] == [["LC", "OG", 1, "100.0%", "s1: 김철수가 [서울]에 갔다"]]
    assert [r[:3] for r in other["rows"]] == [["(spurious)", "LC", 1], ["OG", "(missed)", 1]]


def test_n2path_relation_confusions_count_only_right_heads():
    from tasks.n2path.evaluate import relation_confusions

    rows = pa.table(
        {
            "id": ["t1"],
            "words": [["동생이", "과자를", "먹었다", "."]],
            "heads": [[3, 3, 0, 3]],
            "deprels": [["nsubj", "obj", "root", "punct"]],
        }
    )
    # parsed_sentences' trees: punct has the wrong head too
    parsed = [
        {
            "id": "t1",
            "words": ["동생이", "과자를", "먹었다", "."],
            "heads": [3, 3, 0, 2],
            "deprels": ["obj", "obj", "root", "nsubj"],
        }
    ]
    table = relation_confusions(rows, parsed, "test")["tables"][0]
    assert table["rows"] == [["nsubj", "obj", 1, "100.0%", "t1: [동생이] 과자를 {먹었다} ."]]


def test_n2m_label_breakdown_with_and_without_labels():
    from tasks.n2m.evaluate import label_breakdown

    classes = [{"value": "0", "name": "everyday"}, {"value": "1", "name": "breakup"}]
    unlabelled = label_breakdown(
        [{"id": "1", "question": "안녕", "reference": "안녕하세요", "generated": "안녕하세요", "label": None}],
        classes,
        "test",
    )
    assert unlabelled["tables"] == [] and "no label" in unlabelled["notes"][0]
    samples = [
        {"id": str(i), "question": "q", "reference": "오늘 날씨 좋네요", "generated": g, "label": lab}
        for i, (g, lab) in enumerate([("오늘 날씨 좋네요", "0"), ("글쎄요", "0"), ("힘내요", "1")])
    ]
    rows = label_breakdown(samples, classes, "test")["tables"][0]["rows"]
    assert [r[:2] for r in rows] == [["everyday", 2], ["breakup", 1]]
    assert rows[0][3].startswith("1: q → 오늘 날씨 좋네요 / 글쎄요")  # the lowest-scoring pair first


# ---------------------------------------------------------------- the review


def test_review_markdown_has_every_part():
    classes = [
        {
            "id": 0,
            "value": "negative",
            "name": "부정",
            "description": "dissatisfied | angry",
            "examples": ["별로예요"],
            "counts": {"train": 8, "dev": 1, "test": 1},
        },
        {
            "id": 1,
            "value": "positive",
            "name": "긍정",
            "description": "",
            "examples": [],
            "counts": {"train": 2, "dev": 1, "test": 0},
        },
    ]
    review = design_review(
        "n21",
        "sequence → one class",
        "rows",
        classes,
        ["class '긍정' is rare"],
        {"schema": "data/schema/n21_labels.yaml"},
        "abc123",
        notes=["A note."],
        sections=[{"title": "Extra", "markdown": "extra body"}],
    )
    review["drift"] = label_drift(version_entry({**review, "data_version": "old"}), version_entry(review), 0.05)
    evaluation = {
        "title": "Most-confused class pairs",
        "split": "test",
        "notes": ["1 of 2 wrong."],
        "tables": [pairs_table("Top 5 confusions", top_pairs([("부정", "긍정", "1: 별로")]), "rows")],
    }
    md = review_markdown(review, evaluation)
    assert md.startswith("# Class design review — n21: sequence → one class\n")
    assert "Data version `abc123` · schema `data/schema/n21_labels.yaml` · 2 classes" in md
    assert "| 0 | `negative` | 부정 | dissatisfied \\| angry | 별로예요 |" in md
    assert "| 부정 (`negative`) | 8 | 1 | 1 | 80.0% | 50.0% | 100.0% |" in md
    assert "| **total** | 10 | 2 | 1 | 100.0% | 100.0% | 100.0% |" in md
    assert "## Imbalance warnings\n\n- class '긍정' is rare" in md
    assert "Previous version `old`" in md and "No class moved by more than 5.0 points" in md
    assert "## Extra\n\nextra body" in md
    assert "## Most-confused class pairs (evaluation on split `test`)" in md
    assert "| 부정 | 긍정 | 1 | 1: 별로 |" in md
    assert "Most-confused" not in review_markdown(review)
