"""Shared fixtures: one Prefect test harness and one trained sample model per session.

Stage outputs go to a temporary folder (absolute work_dir/model_dir overrides), so tests never
write into the checkout and never read ../shared.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
# Tracebacks of failing commands go to this log (flows/errors.py), not to ~/.cache of whoever runs the tests.
os.environ.setdefault("HANFLOW_ERROR_LOG", os.path.join(tempfile.gettempdir(), f"hanflow-tests-{os.getpid()}.log"))

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "n21_reviews.tsv"


def n21_defaults() -> dict:
    """params.yaml's n21 section as it is: what a test's config for one N21 function starts from, so it holds every
    key the function reads and the test sets only what it changes."""
    from tasks.params import load_params

    return load_params(ROOT / "params.yaml")["n21"]


def sample_section(work: Path, *overrides: str) -> dict:
    from tasks.params import apply_overrides, load_params

    params = load_params(ROOT / "params.yaml")
    params = apply_overrides(
        params, [f"n21.work_dir={work}", f"n21.model_dir={work / 'model'}", f"n21.data.path={SAMPLE}", *overrides]
    )
    return params["n21"]


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    # A busy 2-core machine can need more than the default 30 s to start the server.
    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def trained_n21(prefect_harness, tmp_path_factory) -> dict:
    """The whole N21 flow on the embedded sample with default params, run once."""
    from flows.pipeline import run_problem_flow

    section = sample_section(tmp_path_factory.mktemp("n21"))
    section["reports"] = run_problem_flow("n21", section)
    return section


N2N_SAMPLE = ROOT / "data" / "sample" / "n2n_entities.jsonl"
# A smaller tagger than params.yaml's keeps the suite fast; it still learns the sample.
N2N_FAST = ("n2n.train.num_layers=1", "n2n.train.hidden_dim=64", "n2n.train.epochs=15")


def n2n_section(work: Path, *overrides: str) -> dict:
    from tasks.params import apply_overrides, load_params

    params = apply_overrides(
        load_params(ROOT / "params.yaml"),
        [
            f"n2n.work_dir={work}",
            f"n2n.model_dir={work / 'model'}",
            f"n2n.data.path={N2N_SAMPLE}",
            *N2N_FAST,
            *overrides,
        ],
    )
    return params["n2n"]


@pytest.fixture(scope="session")
def trained_n2n(prefect_harness, tmp_path_factory) -> dict:
    """The whole N2N flow on the embedded NER sample, run once."""
    from flows.pipeline import run_problem_flow

    section = n2n_section(tmp_path_factory.mktemp("n2n"))
    section["reports"] = run_problem_flow("n2n", section)
    return section


N2M_SAMPLE = ROOT / "data" / "sample" / "n2m_dialogues.tsv"
# A smaller dialogue model than params.yaml's, one thread (tiny RNN steps lose time syncing threads on a
# busy 2-core box) and a short greedy-checked training: the whole flow stays well under a minute.
N2M_FAST = (
    "n2m.train.emb_dim=96",
    "n2m.train.hidden_dim=128",
    "n2m.train.epochs=20",
    "n2m.train.patience=5",
    "n2m.train.threads=1",
)


def n2m_section(work: Path, *overrides: str) -> dict:
    from tasks.params import apply_overrides, load_params

    params = apply_overrides(
        load_params(ROOT / "params.yaml"),
        [
            f"n2m.work_dir={work}",
            f"n2m.model_dir={work / 'model'}",
            f"n2m.data.path={N2M_SAMPLE}",
            *N2M_FAST,
            *overrides,
        ],
    )
    return params["n2m"]


@pytest.fixture(scope="session")
def trained_n2m(prefect_harness, tmp_path_factory) -> dict:
    """The whole N2M flow on the embedded dialogue sample, run once."""
    from flows.pipeline import run_problem_flow

    section = n2m_section(tmp_path_factory.mktemp("n2m"))
    section["reports"] = run_problem_flow("n2m", section)
    return section


N2PATH_SAMPLE = ROOT / "data" / "sample" / "n2path_treebank.conllu"
# A smaller parser than params.yaml's keeps the suite fast; it still learns the sample.
N2PATH_FAST = (
    "n2path.train.word_emb_dim=32",
    "n2path.train.morph_emb_dim=48",
    "n2path.train.tag_emb_dim=24",
    "n2path.train.char_emb_dim=24",
    "n2path.train.char_cnn_dim=32",
    "n2path.train.hidden_dim=64",
    "n2path.train.num_layers=1",
    "n2path.train.arc_mlp=64",
    "n2path.train.rel_mlp=32",
    "n2path.train.dropout=0.2",
    "n2path.train.batch_size=16",
    "n2path.train.epochs=12",
)


def n2path_section(work: Path, *overrides: str) -> dict:
    from tasks.params import apply_overrides, load_params

    params = apply_overrides(
        load_params(ROOT / "params.yaml"),
        [
            f"n2path.work_dir={work}",
            f"n2path.model_dir={work / 'model'}",
            f"n2path.data.path={N2PATH_SAMPLE}",
            *N2PATH_FAST,
            *overrides,
        ],
    )
    return params["n2path"]


@pytest.fixture(scope="session")
def trained_n2path(prefect_harness, tmp_path_factory) -> dict:
    """The whole N2Path flow on the embedded sample treebank, run once (and timed)."""
    import time

    from flows.pipeline import run_problem_flow

    section = n2path_section(tmp_path_factory.mktemp("n2path"))
    started = time.perf_counter()
    section["reports"] = run_problem_flow("n2path", section)
    section["flow_seconds"] = time.perf_counter() - started
    return section
