"""N21's label_review stage: flipped labels in the sample are found, ranked, counted per class, and never changed."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import sample_section
from tests.test_label_review import flip


@pytest.fixture(scope="module")
def section(tmp_path_factory):
    """The N21 sample ingested, tokenized and encoded once (a few seconds, no training)."""
    from flows.pipeline import run_stage

    section = sample_section(tmp_path_factory.mktemp("label_review"))
    for stage in ("ingest", "tokenize", "encode"):
        run_stage("n21", stage, section)
    return section


def test_flipped_n21_labels_rank_first(section):
    from tasks import io
    from tasks.n21.label_review import n21_review
    from tasks.label_schema import load_classes

    table = io.read_table(f"{section['work_dir']}/encoded.parquet")
    reviewable = np.flatnonzero(np.isin(table.column("split").to_numpy(zero_copy_only=False), ["train", "dev"]))
    flipped = np.random.default_rng(0).choice(reviewable, 30, replace=False)
    noisy = flip(table, "label_id", flipped, lambda v: 1 - v)
    out, summary = n21_review(noisy, load_classes(section["class_design"], "n21"), section["label_review"])
    ids = set(table.column("id").to_numpy(zero_copy_only=False)[flipped])
    top = out.column("id").to_pylist()[:30]
    assert sum(i in ids for i in top) / 30 >= 0.5  # 7% of the rows are flipped, out.slice(0, 30).to_pylist()
    assert out.column("rank").to_pylist() == list(range(1, out.num_rows + 1))
    assert set(out.column_names) >= {"id", "text", "given_label", "suggested_label", "self_confidence"}
    row = out.slice(0, 1).to_pylist()[0]
    assert row["given_label"] != row["suggested_label"] and row["self_confidence"] < 0.5
    assert sum(c["suspected"] for c in summary["per_class"]) == summary["suspected"] == out.num_rows


def test_the_stage_writes_the_review_and_changes_no_label(section):
    from flows.pipeline import run_stage
    from tasks import io

    before = io.read_table(f"{section['work_dir']}/encoded.parquet")
    report = run_stage("n21", "label_review", section)
    assert io.read_table(f"{section['work_dir']}/encoded.parquet").equals(before)
    review = io.read_table(f"{section['work_dir']}/label_review.parquet")
    assert report["suspected"] == review.num_rows and report["rows_in"] == 421
    markdown = open(f"{section['work_dir']}/label_review.md", encoding="utf-8").read()
    assert "## Suspected label errors" in markdown and "| negative |" in markdown
    assert "## Label corrections in this data version" in markdown and "No corrections applied" in markdown


def test_too_few_rows_skip_the_review(section):
    from tasks import io
    from tasks.label_review import review_section
    from tasks.n21.label_review import n21_review

    table = io.read_table(f"{section['work_dir']}/encoded.parquet")
    out, summary = n21_review(table, [], {**section["label_review"], "min_rows": 10_000})
    assert out.num_rows == 0 and summary["skipped"]
    assert "under label_review.min_rows = 10000" in review_section(summary, out, 5, [])


def test_the_flow_shows_the_review_in_the_class_review_and_the_dashboard(trained_n21):
    import asyncio
    from pathlib import Path

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    work = Path(trained_n21["work_dir"])
    review = (work / "class_design_review.md").read_text(encoding="utf-8")
    assert review.index("## Most-confused class pairs") < review.index("## Suspected label errors")
    assert "## Label corrections in this data version" in review
    assert trained_n21["reports"]["label_review"]["suspected"] >= 1

    async def artifacts() -> list:
        keys = ArtifactFilter(key=ArtifactFilterKey(any_=["n21-label-review"]))
        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=keys)

    found = asyncio.run(artifacts())
    assert found and found[-1].type == "table" and "given_label" in str(found[-1].data)
