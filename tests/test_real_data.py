"""Real-data quality targets (slow: `make test-all` or `make bench` run them, CI skips them)."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

DATASETS = ROOT.parent / "shared" / "datasets"
pytestmark = pytest.mark.slow


@pytest.mark.skipif(not (DATASETS / "nsmc").exists(), reason="../shared/datasets/nsmc not present")
def test_nsmc_accuracy_target(prefect_harness, tmp_path):
    from flows.bench import run_bench

    results = run_bench(["n21"], DATASETS, ROOT / "params.yaml", tmp_path)
    entry = results["problems"]["n21"]
    assert entry["metrics"]["accuracy"] >= 0.85, entry
    assert entry["metrics"]["accuracy"] > entry["baseline"]["accuracy"], entry
