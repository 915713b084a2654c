"""Shared fixtures: one Prefect test harness and one trained sample model per session.

Stage outputs go to a temporary folder (absolute work_dir/model_dir overrides), so tests never
write into the checkout and never read ../shared.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "n21_reviews.tsv"


def sample_section(work: Path, *overrides: str) -> dict:
    from tasks.params import apply_overrides, load_params

    params = load_params(ROOT / "params.yaml")
    params = apply_overrides(params, [f"n21.work_dir={work}", f"n21.model_dir={work / 'model'}",
                                      f"n21.data.path={SAMPLE}", *overrides])
    return params["n21"]


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


@pytest.fixture(scope="session")
def trained_n21(prefect_harness, tmp_path_factory) -> dict:
    """The whole N21 flow on the embedded sample with default params, run once."""
    from flows.pipeline import run_problem_flow

    section = sample_section(tmp_path_factory.mktemp("n21"))
    section["reports"] = run_problem_flow("n21", section)
    return section
