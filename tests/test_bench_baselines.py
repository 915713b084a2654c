"""bench/baselines.py on the sample flows' outputs: the per-unit statistics the bootstrap resamples reproduce
the product's own metrics.json, and each baseline is built on the run's own train split."""

from __future__ import annotations

import pytest

from bench import stats
from bench.baselines import paired, tfidf_logreg
from tasks import io


def _metrics(section: dict) -> dict:
    from pathlib import Path

    return io.read_json(Path(section["work_dir"]) / "eval" / "metrics.json")


def test_tfidf_baseline_learns_characters():
    train = ["정말 재미있다", "재미있는 영화", "너무 지루하다", "지루한 영화"] * 5
    labels = [1, 1, 0, 0] * 5
    assert list(tfidf_logreg(train, labels, ["재미있어요", "지루해요"])) == [1, 0]


def test_n21_rows(trained_n21):
    pair = paired("n21", trained_n21)
    metrics = _metrics(trained_n21)
    assert pair.rows == len(pair.units) == metrics["rows"]
    assert pair.scores["model"]["accuracy"] == pytest.approx(metrics["accuracy"])
    assert pair.scores["model"]["macro_f1"] == pytest.approx(metrics["macro_f1"])
    assert 0.4 < pair.scores["baseline"]["accuracy"] <= 1


def test_n2n_sentences(trained_n2n):
    pair = paired("n2n", trained_n2n)
    metrics = _metrics(trained_n2n)
    assert len(pair.units) == metrics["rows"]
    assert pair.scores["model"]["f1"] == pytest.approx(metrics["f1"])
    assert pair.scores["baseline"]["f1"] == pytest.approx(metrics["gazetteer_baseline"]["f1"])


def test_n2m_blocks(trained_n2m):
    pair = paired("n2m", trained_n2m)
    metrics = _metrics(trained_n2m)
    assert pair.rows == metrics["rows"] and len(pair.units) <= pair.rows  # units: normalized questions here
    assert pair.scores["model"]["chrf"] == pytest.approx(metrics["chrf"])
    assert pair.scores["baseline"]["chrf"] == pytest.approx(metrics["retrieval_baseline"]["chrf"])


def test_n2m_units_are_the_split_blocks(trained_n2m, tmp_path):
    import shutil

    section = {
        **trained_n2m,
        "work_dir": str(tmp_path),
        "data": {**trained_n2m["data"], "split": {**trained_n2m["data"]["split"], "block_rows": 5}},
    }
    shutil.copytree(trained_n2m["work_dir"], tmp_path, dirs_exist_ok=True)
    pair = paired("n2m", section)
    assert all(str(u).startswith("block ") for u in pair.units) and len(pair.units) < pair.rows
    assert stats.score(pair.model, "chrf") == pytest.approx(_metrics(trained_n2m)["chrf"])


def test_n2path_sentences(trained_n2path):
    pair = paired("n2path", trained_n2path)
    metrics = _metrics(trained_n2path)
    assert len(pair.units) == metrics["rows"]
    assert pair.scores["model"]["uas"] == pytest.approx(metrics["uas"])
    assert pair.scores["model"]["las"] == pytest.approx(metrics["las"])
    assert pair.scores["baseline"]["uas"] == pytest.approx(metrics["right_neighbour_baseline"]["uas"])
