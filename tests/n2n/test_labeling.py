"""N2N in the labeling loop: a Label Studio export read back into span corrections."""

from __future__ import annotations

import json

import pytest

from tasks.n2n.labeling import LABELING
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "label_studio"  # written by tests/test_label_studio_e2e.py


def _load(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _classes() -> list[dict]:
    from tasks.label_schema import load_schema

    return load_schema(ROOT / "data" / "schema" / "n2n_types.yaml", "n2n")


def test_n2n_export_becomes_span_corrections_with_schema_types():
    from tasks.label_studio import corrections_from_export

    entries, _ = corrections_from_export(_load("n2n_export.json"), LABELING, _classes(), "export.json", "imp")
    by_id = {e["id"]: e["entities"] for e in entries}
    assert by_id["s0016"] == [{"start": 0, "end": 3, "type": "PS"}]
    assert [e["type"] for e in by_id["s0162"]] == ["DT", "TI", "PS"]


def test_offsets_counted_in_utf16_are_mapped_to_characters():
    from tasks.label_studio import corrections_from_export

    text = "😀 김민준이 왔다"
    task = {
        "id": 5,
        "data": {"text": text, "hanflow_id": "x", "hanflow_problem": "n2n"},
        "annotations": [
            {
                "id": 1,
                "result": [
                    {
                        "from_name": "label",
                        "type": "labels",
                        "value": {"start": 3, "end": 6, "text": "김민준", "labels": ["person"]},
                    }
                ],
            }
        ],
    }
    [entry], _ = corrections_from_export([task], LABELING, _classes(), "e.json", "i")
    assert entry["entities"] == [{"start": 2, "end": 5, "type": "PS"}] and text[2:5] == "김민준"


def test_a_region_with_two_types_is_refused_naming_its_task():
    from tasks.label_studio import ExportError, corrections_from_export

    task = {
        "id": 7,
        "data": {"text": "김민준이 왔다", "hanflow_id": "x", "hanflow_problem": "n2n"},
        "annotations": [
            {"id": 1, "result": [{"from_name": "label", "value": {"start": 0, "end": 3, "labels": ["PS", "OG"]}}]}
        ],
    }
    with pytest.raises(ExportError) as err:
        corrections_from_export([task], LABELING, _classes(), "e.json", "i")
    assert str(err.value) == (
        "e.json (Label Studio task 7): a region has 2 labels or no character offsets; give each span exactly one type"
    )
