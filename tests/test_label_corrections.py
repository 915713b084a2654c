"""The corrections overlay: applied by ingest on top of the raw data, which stays as it is; refused with the
file, the line, the Label Studio task and the fix when a correction cannot apply."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.conftest import N2N_SAMPLE, SAMPLE, n2n_section, sample_section


def _write(path, entries):
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    return path


def _sample_row(row_id="r0001"):
    import csv

    with open(SAMPLE, encoding="utf-8") as f:
        return next(r for r in csv.DictReader(f, delimiter="\t") if r["id"] == row_id)


def test_ingest_applies_corrections_and_leaves_the_raw_file_alone(tmp_path):
    from flows.pipeline import run_stage
    from tasks import io

    row = _sample_row()
    new = "positive" if row["label"] == "negative" else "negative"
    other = _sample_row("r0002")
    corrections = _write(
        tmp_path / "n21.jsonl",
        [
            {"id": "r0001", "text": row["text"], "label": new, "task": 17, "import": "review-1"},
            {"id": "r0002", "text": other["text"], "label": other["label"], "task": 18, "import": "review-1"},
        ],
    )
    before = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    section = sample_section(tmp_path / "work", f"n21.data.corrections={corrections}")
    report = run_stage("n21", "ingest", section)
    assert hashlib.sha256(SAMPLE.read_bytes()).hexdigest() == before
    labels = dict(
        zip(*(io.read_table(tmp_path / "work/ingested.parquet").column(c).to_pylist() for c in ("id", "label")))
    )
    assert labels["r0001"] == new and labels["r0002"] == other["label"]
    applied = io.read_json(tmp_path / "work/corrections_applied.json")
    assert report["corrections"]["changed"] == applied["changed"] == 1 and applied["confirmed"] == 1
    assert applied["imports"]["review-1"]["changes"] == {f"{row['label']} → {new}": 1}
    assert applied["per_class"] == {row["label"]: {"out": 1, "in": 0}, new: {"out": 0, "in": 1}}


def test_the_last_correction_of_an_id_wins(tmp_path):
    from tasks.corrections import apply_corrections, read_corrections
    from tasks.n21.ingest import ingest

    section = sample_section(tmp_path)
    table = ingest(section["data"])[0]
    path = _write(
        tmp_path / "c.jsonl",
        [{"id": "r0001", "label": "positive", "import": "a"}, {"id": "r0001", "label": "negative", "import": "b"}],
    )
    out, summary = apply_corrections(table, read_corrections(path, "label"), "label", path, ["negative", "positive"])
    assert dict(zip(out.column("id").to_pylist(), out.column("label").to_pylist()))["r0001"] == "negative"
    assert summary["rows"] == 1 and list(summary["imports"]) == ["b"]


@pytest.mark.parametrize(
    "entry, words",
    [
        ({"id": "r9999", "label": "positive"}, ["id 'r9999' is not in the data", "remove the line"]),
        ({"id": "r0001", "label": "neutral"}, ["label 'neutral' is not in the label schema", "add the class"]),
        (
            {"id": "r0001", "text": "다른 문장", "label": "positive"},
            ["text of id 'r0001' changed", "annotate the row again"],
        ),
    ],
)
def test_a_refused_correction_names_the_file_line_task_and_fix(tmp_path, entry, words):
    from flows.pipeline import run_stage
    from tasks.corrections import CorrectionError

    path = _write(tmp_path / "n21.jsonl", [{"id": "r0002", "label": "positive"}, {**entry, "task": 42, "import": "x"}])
    with pytest.raises(CorrectionError) as err:
        run_stage("n21", "ingest", sample_section(tmp_path / "w", f"n21.data.corrections={path}"))
    message = str(err.value)
    assert f"{path} line 2 (Label Studio task 42, import 'x')" in message and "\n" not in message
    for word in words:
        assert word in message


def test_entity_corrections_replace_a_sentence_spans_and_are_checked(tmp_path):
    from flows.pipeline import run_stage
    from tasks import io
    from tasks.corrections import CorrectionError

    first = json.loads(N2N_SAMPLE.read_text(encoding="utf-8").splitlines()[0])
    spans = first["entities"][:-1]
    path = _write(tmp_path / "n2n.jsonl", [{"id": first["id"], "text": first["text"], "entities": spans, "task": 3}])
    section = n2n_section(tmp_path / "w", f"n2n.data.corrections={path}")
    run_stage("n2n", "ingest", section)
    rows = {r["id"]: r for r in io.read_table(tmp_path / "w/ingested.parquet").to_pylist()}
    assert [(e["start"], e["end"], e["type"]) for e in rows[first["id"]]["entities"]] == [
        (e["start"], e["end"], e["type"]) for e in spans
    ]
    summary = io.read_json(tmp_path / "w/corrections_applied.json")
    last = first["entities"][-1]["type"]
    assert summary["changed"] == 1 and summary["per_class"][last] == {"out": 1, "in": 0}
    for bad, word in (
        ({"start": 0, "end": 2, "type": "XX"}, "entity type 'XX' is not in the label schema"),
        ({"start": 0, "end": 999, "type": "PS"}, "lies outside the sentence"),
        ([{"start": 0, "end": 3, "type": "PS"}, {"start": 2, "end": 4, "type": "LC"}], "overlaps"),
    ):
        _write(path, [{"id": first["id"], "entities": bad if isinstance(bad, list) else [bad], "task": 9}])
        with pytest.raises(CorrectionError, match=word) as err:
            run_stage("n2n", "ingest", section)
        assert "Label Studio task 9" in str(err.value)


def test_appending_the_same_import_twice_adds_nothing(tmp_path):
    from tasks.corrections import append_corrections, read_corrections

    path = tmp_path / "c.jsonl"
    entries = [{"id": "r1", "label": "positive", "task": 1, "annotation": 5, "time": "t"}]
    assert append_corrections(path, entries) == 1
    assert append_corrections(path, entries) == 0
    assert append_corrections(path, [{**entries[0], "annotation": 6}]) == 1
    assert [e["line"] for e in read_corrections(path, "label")] == [1, 2]


def test_no_corrections_file_leaves_the_table_as_read(tmp_path):
    from tasks.corrections import apply_corrections, read_corrections, summary_lines
    from tasks.n21.ingest import ingest

    table = ingest(sample_section(tmp_path)["data"])[0]
    out, summary = apply_corrections(
        table, read_corrections(tmp_path / "absent.jsonl", "label"), "label", "absent.jsonl"
    )
    assert out is table and summary["changed"] == 0
    assert "No corrections applied" in summary_lines(summary)[0]
