"""Validation inside the Prefect flow: the samples pass the suites, the Data Docs and JSON result are
linked as artifacts, and a failed validation fails the flow with a readable message after linking them.

The passing checks reuse the session fixtures of the flow tests (tests/conftest.py), so in a full
test run they cost nothing extra.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.conftest import sample_section


def _link_artifacts(key: str) -> list[str]:
    from prefect.client.orchestration import get_client

    async def read() -> list[str]:
        async with get_client() as client:
            return [str(a.data) for a in await client.read_artifacts() if a.key == key]

    return asyncio.run(read())


def _assert_validated(section: dict, problem: str) -> None:
    work = Path(section["work_dir"])
    report = json.loads((work / "validation.json").read_text(encoding="utf-8"))
    assert report["success"], [e for e in report["expectations"] if not e["success"]]
    assert report["suite"] == f"tasks/{problem}/suite.yaml"
    columns = {e["column"] for e in report["expectations"]}
    assert {"hangul_share", "bad_chars", "n_splits_for_text"} & columns or problem == "n2m"
    index = work / "validation_docs" / "index.html"
    assert index.is_file() and "passed" in index.read_text(encoding="utf-8")
    assert any(index.resolve().as_uri() in link for link in _link_artifacts(f"{problem}-validation-docs"))
    assert any(
        (work / "validation.json").resolve().as_uri() in link for link in _link_artifacts(f"{problem}-validation-json")
    )


def test_n21_sample_passes_and_links_docs(trained_n21):
    _assert_validated(trained_n21, "n21")


def test_n2n_sample_passes_and_links_docs(trained_n2n):
    _assert_validated(trained_n2n, "n2n")


def test_n2m_sample_passes_and_links_docs(trained_n2m):
    _assert_validated(trained_n2m, "n2m")


def test_n2path_sample_passes_and_links_docs(trained_n2path):
    _assert_validated(trained_n2path, "n2path")


def test_failed_validation_fails_the_flow_and_still_links_docs(prefect_harness, tmp_path):
    from flows.pipeline import run_problem_flow
    from tasks.validation import ValidationFailed

    # The sample has ~180 training rows per class: asking for 1000 fails the classes table.
    section = sample_section(tmp_path, "n21.validate.min_class_rows=1000")
    with pytest.raises(ValidationFailed) as err:
        run_problem_flow("n21", section)
    message = str(err.value)
    assert "n21_reviews.tsv" in message and "train_rows" in message and "n21.validate.min_class_rows" in message
    assert "negative" in message and "positive" in message
    assert not (tmp_path / "model" / "weights.pt").exists()  # the flow stopped before training
    index = tmp_path / "validation_docs" / "index.html"
    assert "FAILED" in index.read_text(encoding="utf-8")
    assert any(index.resolve().as_uri() in link for link in _link_artifacts("n21-validation-docs"))
