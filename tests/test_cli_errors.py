"""What a user sees when a command fails: one `error:` line, no traceback (that goes to the error log, or to
the terminal with `hanflow --debug`); and help that shows flags as flags and lists the problem types."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import ROOT, SAMPLE

runner = CliRunner()
WIDE = {"TERMINAL_WIDTH": "200", "COLUMNS": "200"}  # help text on one line per option


@pytest.fixture(autouse=True)
def _error_log(tmp_path, monkeypatch):
    monkeypatch.setenv("HANFLOW_ERROR_LOG", str(tmp_path / "error.log"))


def _one_error_line(output: str) -> str:
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    return lines[0]


def _hanflow(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """The installed command in a fresh process, talking to the session's Prefect test server."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "HANFLOW_ERROR_LOG": str(tmp_path / "error.log")}
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )


def _run_args(tmp_path: Path, *sets: str) -> list[str]:
    work = tmp_path / "work"
    return [
        "run",
        "--problem",
        "n21",
        "--set",
        f"n21.work_dir={work}",
        "--set",
        f"n21.model_dir={work / 'model'}",
        *[item for s in sets for item in ("--set", s)],
    ]


def test_a_failed_run_prints_one_line_and_logs_the_traceback(prefect_harness, tmp_path):
    data = tmp_path / "all_bad.tsv"
    data.write_text("id\ttext\tlabel\n1\t\tpositive\n2\t\tnegative\n", encoding="utf-8")
    done = _hanflow(_run_args(tmp_path, f"n21.data.path={data}"), tmp_path)
    assert done.returncode == 1
    line = _one_error_line(done.stderr)
    assert "all_bad.tsv" in line and "quarantined" in line and str(tmp_path / "error.log") in line
    log = (tmp_path / "error.log").read_text(encoding="utf-8")
    assert "Traceback" in log and "QuarantineError" in log
    # The dashboard still gets Prefect's failure logs, traceback included.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterLevel
    from prefect.client.schemas.sorting import LogSort

    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(level=LogFilterLevel(ge_=40)), sort=LogSort.TIMESTAMP_DESC, limit=50
        )
    messages = [entry.message for entry in logs]
    assert any("Traceback" in m and "QuarantineError" in m for m in messages)


def test_a_bad_tagger_name_is_one_line(prefect_harness, tmp_path):
    done = _hanflow(_run_args(tmp_path, f"n21.data.path={SAMPLE}", "n21.tokenize.tagger=mecabb"), tmp_path)
    assert done.returncode != 0
    assert "mecabb" in _one_error_line(done.stderr)


def test_params_or_out_that_is_a_folder(trained_n21, tmp_path):
    result = runner.invoke(app, ["run", "--params", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in _one_error_line(result.output)
    data = tmp_path / "r.csv"
    data.write_text("review,sentiment\n정말 재밌어요,positive\n", encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            trained_n21["model_dir"],
            "--data",
            str(data),
            "--column",
            "text=review",
            "--column",
            "label=sentiment",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2 and "--out" in _one_error_line(result.output)


class Payload:
    """A model file holding an object is a pickle the loader would import and build: weights_only refuses it."""


def _broken_model(trained: dict, tmp_path: Path, name: str) -> Path:
    model = tmp_path / name
    shutil.copytree(trained["model_dir"], model)
    return model


def _evaluate(model: Path, tmp_path: Path, *first: str):
    data = tmp_path / "r.csv"
    data.write_text("review,sentiment\n정말 재밌어요,positive\n", encoding="utf-8")
    return runner.invoke(
        app,
        [
            *first,
            "evaluate",
            "--model",
            str(model),
            "--data",
            str(data),
            "--column",
            "text=review",
            "--column",
            "label=sentiment",
        ],
    )


def test_a_corrupted_or_symlinked_weights_file_is_one_line(trained_n21, tmp_path):
    corrupted = _broken_model(trained_n21, tmp_path, "corrupted")
    import torch

    weights = corrupted / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:1000])
    result = _evaluate(corrupted, tmp_path)
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.exception
    _one_error_line(result.output)
    assert "Traceback" in (tmp_path / "error.log").read_text(encoding="utf-8")
    # --debug shows the traceback on the terminal instead
    result = _evaluate(corrupted, tmp_path, "--debug")
    assert result.exit_code != 0 and "Traceback" in result.output

    pickled = _broken_model(trained_n21, tmp_path, "pickled")  # weights_only=True refuses the object
    torch.save({"weights": Payload()}, pickled / "weights.pt")
    result = _evaluate(pickled, tmp_path)
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.exception
    _one_error_line(result.output)

    linked = _broken_model(trained_n21, tmp_path, "linked")
    (linked / "weights.pt").unlink()
    (linked / "weights.pt").symlink_to(Path(trained_n21["model_dir"]) / "weights.pt")
    result = _evaluate(linked, tmp_path)
    assert isinstance(result.exception, SystemExit) or result.exception is None, result.exception
    if result.exit_code != 0:
        _one_error_line(result.output)


def test_a_huge_vocab_size_is_one_line(trained_n21, tmp_path):
    model = _broken_model(trained_n21, tmp_path, "huge")
    config = json.loads((model / "model_config.json").read_text())
    config["vocab_size"] = 10**13
    (model / "model_config.json").write_text(json.dumps(config))
    result = _evaluate(model, tmp_path)
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.exception
    _one_error_line(result.output)


def test_help_shows_flags_and_problem_choices():
    for command in (["dashboard"], ["promote"], ["bench"], ["schedule"], []):
        result = runner.invoke(app, [*command, "--help"], env=WIDE)
        assert result.exit_code == 0 and "<bool>" not in result.output, result.output
    assert "--stop " in runner.invoke(app, ["dashboard", "--help"], env=WIDE).output
    for command in ("evaluate", "run", "promote", "retrain"):
        result = runner.invoke(app, [command, "--help"], env=WIDE)
        assert "n21|n2n|n2m|n2path" in result.output, (command, result.output)
    result = runner.invoke(app, ["evaluate", "--problem", "n2x", "--model", "m", "--data", "d"])
    assert result.exit_code == 2 and "'n2x' is not one of" in result.output
