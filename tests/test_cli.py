"""The hanflow command: predict, evaluate, doctor and the errors a user sees."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import ROOT, SAMPLE

runner = CliRunner()


def test_predict_arguments_and_stdin(trained_n21):
    model = trained_n21["model_dir"]
    result = runner.invoke(
        app, ["predict", "--model", model, "정말 최고예요 강력 추천합니다", "최악이에요 돈이 아까워요"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["label"] for r in rows] == ["positive", "negative"]
    assert abs(sum(rows[0]["probabilities"].values()) - 1) < 1e-3

    result = runner.invoke(app, ["predict", "--model", model], input="친절하고 맛있어요\n별로예요\n\n")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2  # blank lines at the end are no text
    # A blank line between texts is an empty text: refused, as an empty argument is (tests/test_predict.py).
    result = runner.invoke(app, ["predict", "--model", model], input="친절하고 맛있어요\n\n별로예요\n")
    assert result.exit_code == 2 and "stdin line 2: empty text" in result.output


def test_evaluate_any_file_writes_metrics(trained_n21, tmp_path):
    data = tmp_path / "reviews.csv"
    data.write_text(
        "review,stars\n정말 재밌고 감동적이에요,positive\n지루하고 최악이었어요,negative\n", encoding="utf-8"
    )
    out = tmp_path / "metrics.json"
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
            "label=stars",
            "--column",
            "id=",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["rows"] == 2 and 0 <= metrics["accuracy"] <= 1
    assert json.loads(result.stdout.splitlines()[-1])["rows"] == 2


def test_evaluate_names_the_missing_column(trained_n21, tmp_path):
    data = tmp_path / "bad.tsv"
    data.write_text("id\tbody\tlabel\n1\t좋아요\tpositive\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "--model", trained_n21["model_dir"], "--data", str(data)])
    assert result.exit_code == 2
    assert "bad.tsv" in result.output and "['text']" in result.output


def test_run_rejects_unknown_param_and_problem():
    result = runner.invoke(app, ["run", "--params", str(ROOT / "params.yaml"), "--set", "n21.train.epoch=3"])
    assert result.exit_code == 2 and "unknown key 'epoch'" in result.output
    result = runner.invoke(app, ["run", "--params", str(ROOT / "params.yaml"), "--problem", "n2x"])
    assert result.exit_code == 2 and "'n2x' is not one of" in result.output


def test_doctor_checks_java_and_taggers():
    result = runner.invoke(app, ["doctor"])
    assert "tagger mecab" in result.output and "java" in result.output
    assert "[ok  ] tagger mecab" in result.output
    assert result.exit_code == 0, result.output


def test_dvc_yaml_is_generated_from_the_stage_graph():
    from flows.stages import dvc_yaml

    assert (ROOT / "dvc.yaml").read_text(encoding="utf-8") == dvc_yaml(), "run `hanflow dvc-yaml` and commit dvc.yaml"


def test_sample_file_exists():
    assert SAMPLE.is_file()


def test_run_prints_one_json_line_per_problem(prefect_harness, tmp_path):
    work = tmp_path / "n21"
    result = runner.invoke(
        app,
        [
            "run",
            "--problem",
            "n21",
            "--params",
            str(ROOT / "params.yaml"),
            "--set",
            f"n21.work_dir={work}",
            "--set",
            f"n21.model_dir={work / 'model'}",
            "--set",
            f"n21.data.path={SAMPLE}",
            "--set",
            "n21.train.epochs=1",
        ],
    )
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["problem"] == "n21" and line["model_dir"] == str(work / "model")
    assert Path(line["metrics_path"]).is_file() and 0 <= line["metrics"]["accuracy"] <= 1


def test_dvc_stages_do_not_import_prefect():
    """`hanflow stage` runs once per DVC stage: importing Prefect there cost ~1.8 s each."""
    import subprocess
    import sys

    code = (
        "import sys, flows.cli, flows.pipeline\n"
        "from flows.stages import available_problems, stages_for\n"
        "[stages_for(p) for p in available_problems()]\n"
        "print(sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
