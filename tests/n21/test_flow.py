"""The N21 flow end to end on the embedded sample, through Prefect's test harness."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pyarrow.parquet as pq

from flows.stages import stages_for


def test_every_stage_ran_and_reported(trained_n21):
    work = Path(trained_n21["work_dir"])
    for stage in stages_for("n21"):
        report = json.loads((work / "reports" / f"{stage.name}.json").read_text())
        assert report["seconds"] >= 0, stage.name
    ingest = trained_n21["reports"]["ingest"]
    assert ingest["rows_in"] == ingest["rows_kept"] + ingest["rows_quarantined"] == 480
    assert sum(ingest["splits"].values()) == 480


def test_ids_are_int32_lists_in_parquet(trained_n21):
    schema = pq.read_schema(Path(trained_n21["work_dir"]) / "encoded.parquet")
    assert str(schema.field("ids").type) == "list<element: int32>" or str(schema.field("ids").type).startswith("list<")
    assert schema.field("ids").type.value_type.bit_width == 32
    assert str(schema.field("tokens").type.value_type) == "string"


def test_sample_model_beats_majority_baseline_on_test_split(trained_n21):
    metrics = json.loads((Path(trained_n21["work_dir"]) / "eval" / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["rows"] > 40
    baseline = metrics["majority_baseline"]["accuracy"]
    assert metrics["accuracy"] >= baseline + 0.2, (metrics["accuracy"], baseline)
    assert metrics["accuracy"] >= 0.7
    assert set(metrics["per_class"]) == {"negative", "positive"}
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["rows"]


def test_model_directory_is_self_contained(trained_n21):
    model_dir = Path(trained_n21["model_dir"])
    for name in (
        "weights.pt",
        "model_config.json",
        "vocab.json",
        "label_schema.json",
        "tokenizer.json",
        "params.json",
        "train_metrics.json",
    ):
        assert (model_dir / name).is_file(), name
    assert json.loads((model_dir / "tokenizer.json").read_text())["tagger"] == trained_n21["tokenize"]["tagger"]


def test_dashboard_artifacts_exist(trained_n21):
    from prefect.client.orchestration import get_client

    async def keys() -> set[str]:
        async with get_client() as client:
            return {a.key for a in await client.read_artifacts() if a.key}

    found = asyncio.run(keys())
    for key in ("n21-metrics", "n21-per-class", "n21-class-design-review", "n21-validation", "n21-ingest-report"):
        assert key in found, (key, found)
