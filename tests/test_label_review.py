"""The label_review stage: flipped labels in the sample are found, ranked, counted per class, and never changed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tests.conftest import n2n_section, sample_section


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    """Both samples ingested, tokenized and encoded once (a few seconds, no training)."""
    from flows.pipeline import run_stage

    work = tmp_path_factory.mktemp("label_review")
    out = {"n21": sample_section(work / "n21"), "n2n": n2n_section(work / "n2n")}
    for problem, section in out.items():
        for stage in ("ingest", "tokenize", "encode"):
            run_stage(problem, stage, section)
    return out


def _flip(table: pa.Table, column: str, rows: np.ndarray, values) -> pa.Table:
    data = table.column(column).to_pylist()
    for i in rows:
        data[i] = values(data[i])
    return table.set_column(
        table.schema.get_field_index(column), column, pa.array(data, table.schema.field(column).type)
    )


def test_flipped_n21_labels_rank_first(encoded):
    from tasks import io
    from tasks.label_review import n21_review
    from tasks.label_schema import load_classes

    section = encoded["n21"]
    table = io.read_table(f"{section['work_dir']}/encoded.parquet")
    reviewable = np.flatnonzero(np.isin(table.column("split").to_numpy(zero_copy_only=False), ["train", "dev"]))
    flipped = np.random.default_rng(0).choice(reviewable, 30, replace=False)
    noisy = _flip(table, "label_id", flipped, lambda v: 1 - v)
    out, summary = n21_review(noisy, load_classes(section["class_design"], "n21"), section["label_review"])
    ids = set(table.column("id").to_numpy(zero_copy_only=False)[flipped])
    top = out.column("id").to_pylist()[:30]
    assert sum(i in ids for i in top) / 30 >= 0.5  # 7% of the rows are flipped, out.slice(0, 30).to_pylist()
    assert out.column("rank").to_pylist() == list(range(1, out.num_rows + 1))
    assert set(out.column_names) >= {"id", "text", "given_label", "suggested_label", "self_confidence"}
    row = out.slice(0, 1).to_pylist()[0]
    assert row["given_label"] != row["suggested_label"] and row["self_confidence"] < 0.5
    assert sum(c["suspected"] for c in summary["per_class"]) == summary["suspected"] == out.num_rows


def test_the_stage_writes_the_review_and_changes_no_label(encoded):
    from flows.pipeline import run_stage
    from tasks import io

    section = encoded["n21"]
    before = io.read_table(f"{section['work_dir']}/encoded.parquet")
    report = run_stage("n21", "label_review", section)
    assert io.read_table(f"{section['work_dir']}/encoded.parquet").equals(before)
    review = io.read_table(f"{section['work_dir']}/label_review.parquet")
    assert report["suspected"] == review.num_rows and report["rows_in"] == 421
    markdown = open(f"{section['work_dir']}/label_review.md", encoding="utf-8").read()
    assert "## Suspected label errors" in markdown and "| negative |" in markdown
    assert "## Label corrections in this data version" in markdown and "No corrections applied" in markdown


def test_too_few_rows_skip_the_review(encoded):
    from tasks import io
    from tasks.label_review import n21_review, review_section

    section = encoded["n21"]
    table = io.read_table(f"{section['work_dir']}/encoded.parquet")
    out, summary = n21_review(table, [], {**section["label_review"], "min_rows": 10_000})
    assert out.num_rows == 0 and summary["skipped"]
    assert "under label_review.min_rows = 10000" in review_section(summary, out, "n21", 5, [])


def test_n2n_review_finds_entities_given_the_wrong_type(encoded):
    from flows.pipeline import run_stage
    from tasks import io
    from tasks.label_review import n2n_review

    section = encoded["n2n"]
    table = io.read_table(f"{section['work_dir']}/encoded.parquet")
    tags = io.read_json(f"{section['work_dir']}/vocab.json")["tags"]
    index = {t: i for i, t in enumerate(tags)}
    # Every person in the first 12 train sentences that have one becomes a place.
    rows = [
        i
        for i, (s, ts) in enumerate(zip(table.column("split").to_pylist(), table.column("tag_ids").to_pylist()))
        if s == "train" and index["B-PS"] in ts
    ][:12]
    swap = {index["B-PS"]: index["B-LC"], index["I-PS"]: index["I-LC"]}
    noisy = _flip(table, "tag_ids", np.array(rows), lambda ts: [swap.get(t, t) for t in ts])
    out, summary = n2n_review(noisy, tags, section["label_review"])
    flagged = set(out.column("id").to_pylist())
    planted = set(table.column("id").to_numpy(zero_copy_only=False)[rows])
    assert len(flagged & planted) >= 6, out.to_pylist()
    hits = [r for r in out.to_pylist() if r["id"] in planted]
    assert any("LC" in r["given_tags"] and "PS" in r["suggested_tags"] for r in hits)
    assert all(r["span"] == r["text"][r["start"] : r["end"]] and r["span"].strip() for r in out.to_pylist())
    report = run_stage("n2n", "label_review", section)
    assert report["rows_in"] == 271


def test_folds_fall_back_to_plain_k_fold_for_rare_classes():
    from tasks.label_review import folds_for

    labels = np.array([0] * 20 + [1])
    folds = folds_for(labels, 10, 0)
    assert len(folds) == 10 and sorted(np.concatenate([held for _, held in folds]).tolist()) == list(range(21))


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
