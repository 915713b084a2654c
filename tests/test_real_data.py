"""Real-data benchmark entries (slow: `make test-all` runs them, CI skips them). The smallest entry, one seed."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

DATASETS = ROOT.parent / "shared" / "datasets"
pytestmark = pytest.mark.slow


@pytest.mark.skipif(not (DATASETS / "korean_hate_speech").exists(), reason="../shared/datasets not present")
def test_hate_speech_entry_end_to_end(prefect_harness, tmp_path, monkeypatch):
    from bench import quality

    monkeypatch.setattr(quality, "WORK_ROOT", tmp_path / "work")
    results = quality.run_bench(["n21_hate"], [13], DATASETS, ROOT / "params.yaml", tmp_path)
    entry = results["entries"]["n21_hate"]
    assert entry["complete"] and results["this_run"]["n21_hate"] in ("met", "not met")
    run = entry["runs"]["13"]
    assert run["recomputed"]["macro_f1"] == pytest.approx(run["metrics"]["macro_f1"])
    assert 0.3 < run["baseline"]["macro_f1"] < 0.9 and run["gain"]["low"] <= run["gain"]["gain"] <= run["gain"]["high"]
    assert entry["time_to_first_prediction"]["seconds"] > 0
    assert "| n21_hate |" in (tmp_path / "bench.md").read_text(encoding="utf-8")


@pytest.mark.skipif(not (DATASETS / "nsmc").exists(), reason="../shared/datasets/nsmc not present")
def test_nsmc_accuracy_target(prefect_harness, tmp_path, monkeypatch):
    from bench import quality

    monkeypatch.setattr(quality, "WORK_ROOT", tmp_path / "work")
    entry = quality.run_bench(["n21_nsmc"], [13], DATASETS, ROOT / "params.yaml", tmp_path)["entries"]["n21_nsmc"]
    run = entry["runs"]["13"]
    assert run["metrics"]["accuracy"] >= 0.85, run
    assert run["metrics"]["accuracy"] > run["baseline"]["accuracy"], run
