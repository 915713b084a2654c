"""N21 in the labeling loop: a Label Studio export read back into class corrections."""

from __future__ import annotations

import json

import pytest

from tasks.n21.labeling import LABELING
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "label_studio"  # written by tests/test_label_studio_e2e.py


def _load(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _classes() -> list[dict]:
    from tasks.label_schema import load_schema

    return load_schema(ROOT / "data" / "schema" / "n21_labels.yaml", "n21")


def test_n21_export_becomes_corrections():
    from tasks.label_studio import corrections_from_export

    entries, skipped = corrections_from_export(_load("n21_export.json"), LABELING, _classes(), "export.json", "imp")
    assert skipped == {"not_annotated": 1, "not_from_hanflow": 0, "other_problem": 0}  # the skipped (cancelled) one
    review = [e for e in entries if e["kind"] == "review"]
    assert [(e["id"], e["label"], e["previous"]) for e in review] == [
        ("r0243", "negative", "positive"),
        ("r0031", "negative", "negative"),
    ]
    assert all(
        e["task"] and e["annotation"] and e["time"] and e["annotator"] == "1" and e["import"] == "imp" for e in entries
    )
    [new] = [e for e in entries if e["kind"] == "queue"]
    assert new["label"] == "negative" and new["text"]


def test_an_annotation_with_two_classes_is_refused_naming_its_task():
    from tasks.label_studio import ExportError, corrections_from_export

    [first, *_] = [t for t in _load("n21_export.json") if t.get("annotations")]
    for annotation in first["annotations"]:
        for result in annotation["result"]:
            result["value"]["choices"] = ["negative", "positive"]
    with pytest.raises(ExportError) as err:
        corrections_from_export([first], LABELING, _classes(), "export.json", "imp")
    assert str(err.value) == (
        f"export.json (Label Studio task {first['id']}): the annotation chose 2 classes, not one; "
        "annotate the task again with one class"
    )
