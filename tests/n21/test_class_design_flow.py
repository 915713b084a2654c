"""The class design review through the N21 stage runners: after the flow, on unknown labels, on drift."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tasks import io


def test_review_file_exists_after_the_flow(trained_n21):
    work = Path(trained_n21["work_dir"])
    review = (work / "class_design_review.md").read_text(encoding="utf-8")
    assert review.startswith("# Class design review — n21: sequence → one class")
    assert "schema `data/schema/n21_labels.yaml`" in review
    for part in (
        "## Classes",
        "## Distribution per split",
        "## Imbalance warnings",
        "## Label drift against the previous data version",
        "No previous version",
        "## Most-confused class pairs (evaluation on split `test`)",
    ):
        assert part in review, part
    # The class_design stage's part is the review before evaluation.
    before = (work / "class_design.md").read_text(encoding="utf-8")
    assert review.startswith(before.rstrip()) and "Most-confused" not in before
    schema = json.loads((work / "label_schema.json").read_text(encoding="utf-8"))
    assert schema["review"]["data_version"] == schema["review"]["drift"]["current_version"]
    assert [c["examples"] != [] for c in schema["labels"]] == [True, True]


def test_review_is_a_prefect_artifact(trained_n21):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def by_run() -> dict:
        keys = ArtifactFilter(key=ArtifactFilterKey(any_=["n21-class-design", "n21-class-design-review"]))
        async with get_client() as client:
            found: dict = {}
            for a in await client.read_artifacts(artifact_filter=keys):
                found.setdefault(a.flow_run_id, {}).setdefault(a.key, []).append(a)
            return found

    runs = asyncio.run(by_run())
    # The class_design stage publishes the review before evaluation, the evaluate stage the final one with
    # the confused pairs: each once per flow run, under its own key.
    complete = [keys for keys in runs.values() if len(keys) == 2]
    assert complete, runs
    for keys in runs.values():
        assert all(len(versions) == 1 for versions in keys.values()), keys
    for keys in complete:
        assert "Most-confused" not in keys["n21-class-design"][0].data
        assert "Most-confused class pairs" in keys["n21-class-design-review"][0].data


def _copy(trained: dict, tmp_path: Path, *names: str) -> dict:
    section = {**trained, "work_dir": str(tmp_path), "model_dir": str(tmp_path / "model")}
    for name in names:
        shutil.copy2(Path(trained["work_dir"]) / name, tmp_path / name)
    return section


def test_encode_refuses_labels_the_schema_does_not_know(trained_n21, tmp_path):
    from flows import n21
    from tasks.label_schema import SchemaError

    section = _copy(trained_n21, tmp_path)
    tokens = io.read_table(Path(trained_n21["work_dir"]) / "tokens.parquet")
    labels = tokens.column("label").to_pylist()
    labels[3] = labels[7] = "neutral"
    io.write_table(
        tokens.set_column(tokens.schema.get_field_index("label"), "label", pa.array(labels)),
        tmp_path / "tokens.parquet",
    )
    with pytest.raises(SchemaError) as err:
        n21.encode(section)
    ids = tokens.column("id").to_pylist()
    message = str(err.value)
    assert message.startswith(
        "n21: 1 label value is not in the label schema data/schema/n21_labels.yaml: "
        f"'neutral' (2 rows; e.g. id {ids[3]}, line {tokens.column('source_row')[3].as_py()} of "
    )
    assert not (tmp_path / "encoded.parquet").exists()


def test_class_design_reports_drift_against_the_previous_data_version(trained_n21, tmp_path):
    from flows import n21

    section = _copy(trained_n21, tmp_path, "encoded.parquet")
    first = n21.class_design(section)
    assert first["drift_warnings"] == []
    encoded = io.read_table(tmp_path / "encoded.parquet")
    # A new data version: the positive train rows are gone.
    positive_train = pc.and_(pc.equal(encoded.column("label"), "positive"), pc.equal(encoded.column("split"), "train"))
    io.write_table(encoded.filter(pc.invert(positive_train)), tmp_path / "encoded.parquet")
    second = n21.class_design(section)
    assert len(second["drift_warnings"]) == 2 and "'negative' moved from" in second["drift_warnings"][0]
    markdown = (tmp_path / "class_design.md").read_text(encoding="utf-8")
    assert "Previous version `" in markdown and "past the drift_warn threshold of 5.0 points" in markdown
    assert len(io.read_json(tmp_path / "class_history.json")["versions"]) == 2
