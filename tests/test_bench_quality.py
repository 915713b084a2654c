"""`hanflow bench` without training: the runner's seeds, summaries and merging (run_seed faked), the
markdown table, and the command line (help, entry/seed selection, outside a checkout)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from bench import quality, stats
from bench.baselines import Paired
from bench.report import markdown
from flows.cli import app
from tests.conftest import ROOT

runner = CliRunner()


def _fake_seed(gains: dict[int, float], fail_on: int | None = None):
    """A run_seed whose model is right on a share of 1,000 rows set by the seed, the baseline on 60%."""

    def run_seed(overlay, seed, datasets, params_file, say):
        if seed == fail_on:
            raise RuntimeError("validation failed")
        n, rng = 1000, np.random.default_rng(seed)
        gold = rng.integers(0, 2, n)
        model = np.where(rng.random(n) < 0.6 + gains[seed], gold, 1 - gold)
        base = np.where(rng.random(n) < 0.6, gold, 1 - gold)
        pair = Paired(
            [str(i) for i in range(n)],
            stats.classification_stats(gold, model, 2),
            stats.classification_stats(gold, base, 2),
            ("accuracy", "macro_f1"),
            ("accuracy", "macro_f1"),
            0.5,
            n,
        )
        run = {
            "seed": seed,
            "overrides": [f"n21.train.seed={seed}"],
            "rows": {"train": 8000, "dev": 1000, "test": n},
            "test_rows": n,
            "test_units": n,
            "metrics": pair.scores["model"],
            "recomputed": pair.scores["model"],
            "baseline": {**pair.scores["baseline"], "seconds": 0.5},
            "gain": stats.paired_bootstrap(pair.model, pair.baseline, "macro_f1"),
            "seconds": 120.0,
            "stage_seconds": {"train": 100.0},
        }
        return run, pair, {"model_dir": f"data/bench/x/seed-{seed}/model"}

    return run_seed


@pytest.fixture
def fake(monkeypatch, tmp_path):
    datasets = tmp_path / "datasets"
    for name in ("korean_hate_speech/train.tsv", "3i4k/fci_train_val.txt"):
        (datasets / name).parent.mkdir(parents=True, exist_ok=True)
        (datasets / name).write_text("", encoding="utf-8")
    monkeypatch.setattr(quality, "time_to_first_prediction", lambda problem, model_dir, text: {"seconds": 1.52})
    return datasets, tmp_path / "reports"


def test_an_entry_over_seeds_and_a_later_entry_keeps_it(monkeypatch, fake):
    datasets, out = fake
    monkeypatch.setattr(quality, "run_seed", _fake_seed({13: 0.2, 1: 0.25, 2: 0.22}))
    quality.run_bench(["n21_hate"], [13, 1, 2], datasets, ROOT / "params.yaml", out, say=lambda _: None)
    monkeypatch.setattr(quality, "run_seed", _fake_seed({13: 0.0}))
    results = quality.run_bench(["n21_3i4k"], [13], datasets, ROOT / "params.yaml", out, say=lambda _: None)
    saved = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert set(saved["entries"]) == {"n21_hate", "n21_3i4k"}  # the second run did not erase the first
    hate = saved["entries"]["n21_hate"]
    assert hate["complete"] and list(hate["runs"]) == ["13", "1", "2"]
    summary = hate["summary"]
    assert summary["model"]["macro_f1"]["sd"] > 0 and summary["gain"]["seeds"] == 3
    assert 0.15 < summary["gain"]["low"] < summary["gain"]["gain"] < summary["gain"]["high"]
    assert summary["floor"] == pytest.approx(summary["baseline"]["macro_f1"]["mean"] + 0.01) and summary["met"]
    assert summary["minutes_per_seed"] == 2.0 and hate["time_to_first_prediction"]["seconds"] == 1.52
    assert results["this_run"] == {"n21_3i4k": "not met"}  # no gain: below baseline + 0.01


def test_a_failed_seed_keeps_the_seeds_before_it(monkeypatch, fake):
    datasets, out = fake
    monkeypatch.setattr(quality, "run_seed", _fake_seed({13: 0.1, 1: 0.1}, fail_on=1))
    results = quality.run_bench(["n21_hate"], [13, 1], datasets, ROOT / "params.yaml", out, say=lambda _: None)
    entry = json.loads((out / "bench.json").read_text(encoding="utf-8"))["entries"]["n21_hate"]
    assert results["this_run"] == {"n21_hate": "failed"}
    assert list(entry["runs"]) == ["13"] and not entry["complete"] and "validation failed" in entry["error"]


def test_a_missing_dataset_is_skipped_without_hiding_earlier_results(monkeypatch, fake):
    datasets, out = fake
    monkeypatch.setattr(quality, "run_seed", _fake_seed({13: 0.1}))
    quality.run_bench(["n21_hate"], [13], datasets, ROOT / "params.yaml", out, say=lambda _: None)
    results = quality.run_bench(
        ["n21_hate", "n21_nsmc"], [13], datasets / "gone", ROOT / "params.yaml", out, say=lambda _: None
    )
    assert results["this_run"] == {"n21_hate": "skipped", "n21_nsmc": "skipped"}
    assert results["entries"]["n21_hate"]["complete"] and "skipped" in results["entries"]["n21_nsmc"]


def test_markdown_headline_table(monkeypatch, fake):
    datasets, out = fake
    monkeypatch.setattr(quality, "run_seed", _fake_seed({13: 0.2, 1: 0.25}))
    results = quality.run_bench(["n21_hate"], [13, 1], datasets, ROOT / "params.yaml", out, say=lambda _: None)
    results["entries"]["n2path_gsd"] = {
        "problem": "n2path",
        "dataset": "ud_korean_gsd/ko_gsd-ud-dev.conllu",
        "stands_in_for": "GSD test",
        "metric": "las",
        "compare_on": "uas",
        "floor_target": 0.83,
        "goal_target": 0.85,
        "baseline": "right neighbour",
        "complete": True,
        "runs": {
            "13": {
                "test_rows": 950,
                "test_units": 950,
                "metrics": {"las": 0.8},
                "baseline": {"uas": 0.28},
                "gain": {"gain": 0.55, "low": 0.54, "high": 0.56},
                "seconds": 60.0,
            }
        },
        "summary": {
            "model": {"las": {"mean": 0.8, "sd": None}},
            "baseline": {"uas": {"mean": 0.28, "sd": None}},
            "gain": {"gain": 0.55, "low": 0.54, "high": 0.56},
            "floor": 0.83,
            "goal": 0.85,
            "met": False,
            "goal_met": False,
            "minutes_per_seed": 1.0,
        },
        "time_to_first_prediction": {"error": "boom"},
    }
    md = markdown(results)
    hate = next(line for line in md.splitlines() if line.startswith("| n21_hate |"))
    cells = [c.strip() for c in hate.split("|")[1:-1]]
    assert cells[2] == "macro_f1" and "±" in cells[3] and "±" in cells[4] and "TF-IDF" in cells[4]
    assert cells[5].startswith("+0.") and "[" in cells[5]
    assert cells[6].startswith("≥ baseline + 0.01 (0.") and cells[7].startswith("yes")
    assert cells[8:] == ["2", "2.0", "1.5 s"]
    gsd = next(line for line in md.splitlines() if line.startswith("| n2path_gsd |"))
    cells = [c.strip() for c in gsd.split("|")[1:-1]]
    assert cells[3] == "**0.8000**" and cells[4].startswith("UAS 0.2800") and cells[5].startswith("UAS +0.5500")
    assert cells[6] == "≥ 0.83 / 0.85" and cells[7] == "NO" and cells[10] == "failed"
    assert "| n21_hate | 13 |" in md and "| n21_hate | 1 |" in md  # the per-seed table


def test_selecting_entries_and_seeds():
    assert quality.select_entries(None, "n21") == ["n21_3i4k", "n21_hate", "n21_nsmc"]
    assert quality.select_entries(["n2m_chatbot"], "all") == ["n2m_chatbot"]
    assert len(quality.select_entries(None, None)) == 6
    assert quality.parse_seeds("13, 1,2") == [13, 1, 2]
    for bad in ("", "1,1", "a", "-1"):
        with pytest.raises(ValueError, match="--seeds"):
            quality.parse_seeds(bad)


def test_bench_help_and_usage_errors():
    result = runner.invoke(app, ["bench", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--entry" in result.output and "--seeds" in result.output
    result = runner.invoke(app, ["bench", "--entry", "nope"])
    assert result.exit_code == 2 and "no such benchmark entry; entries: n21_3i4k" in result.output
    result = runner.invoke(app, ["bench", "--seeds", "x"])
    assert result.exit_code == 2 and "--seeds 'x'" in result.output


def test_bench_outside_a_checkout_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["bench", "--entry", "n21_hate"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: run hanflow bench from the project checkout")
    assert not (tmp_path / "reports").exists()


def test_python_dash_m_bench_is_the_same_command():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "bench", "--entry", "nope"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "no such benchmark entry" in done.stderr


def test_the_benchmark_is_not_in_the_wheel():
    import tomllib

    include = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"][
        "find"
    ]["include"]
    assert not any(pattern.startswith("bench") for pattern in include)
    assert not (ROOT / "flows" / "bench.py").exists() and not (ROOT / "flows" / "perf.py").exists()


def test_the_benchmark_uses_public_product_functions_only():
    import ast

    for path in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("tasks", "flows", "models"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"
