"""N2N's label_review stage: entities given the wrong type in the sample are found as spans and ranked."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import n2n_section
from tests.test_label_review import flip


@pytest.fixture(scope="module")
def section(tmp_path_factory):
    """The N2N sample ingested, tokenized and encoded once (a few seconds, no training)."""
    from flows.pipeline import run_stage

    section = n2n_section(tmp_path_factory.mktemp("label_review"))
    for stage in ("ingest", "tokenize", "encode"):
        run_stage("n2n", stage, section)
    return section


def test_n2n_review_finds_entities_given_the_wrong_type(section):
    from flows.pipeline import run_stage
    from tasks import io
    from tasks.n2n.label_review import n2n_review

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
    noisy = flip(table, "tag_ids", np.array(rows), lambda ts: [swap.get(t, t) for t in ts])
    out, summary = n2n_review(noisy, tags, section["label_review"])
    flagged = set(out.column("id").to_pylist())
    planted = set(table.column("id").to_numpy(zero_copy_only=False)[rows])
    assert len(flagged & planted) >= 6, out.to_pylist()
    hits = [r for r in out.to_pylist() if r["id"] in planted]
    assert any("LC" in r["given_tags"] and "PS" in r["suggested_tags"] for r in hits)
    assert all(r["span"] == r["text"][r["start"] : r["end"]] and r["span"].strip() for r in out.to_pylist())
    report = run_stage("n2n", "label_review", section)
    assert report["rows_in"] == 271
