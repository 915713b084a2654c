"""`hanflow evaluate` on files a user has: ids optional, hints that name evaluate's options, errors that name
the file and the rows, the problem type read from the model, quarantined rows written out, the champion."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import N2N_SAMPLE, ROOT

runner = CliRunner()


@pytest.fixture(autouse=True)
def _error_log(tmp_path, monkeypatch):
    monkeypatch.setenv("HANFLOW_ERROR_LOG", str(tmp_path / "error.log"))


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


REVIEWS = "review,sentiment\n정말 재밌고 감동적이에요,positive\n지루하고 최악이었어요,negative\n"


def test_readme_example_needs_no_id_column(trained_n21, tmp_path):
    data = tmp_path / "my_reviews.csv"
    data.write_text(REVIEWS, encoding="utf-8")
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
            "label=sentiment",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["rows"] == 2
    ids = pq.read_table(tmp_path / "eval-my_reviews" / "predictions.parquet").column("id").to_pylist()
    assert ids == ["2", "3"]  # row numbers stand in for the id
    # id=null says so explicitly; the README's spelling must not be refused
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
            "--column",
            "id=null",
        ],
    )
    assert result.exit_code == 0, result.output


def test_missing_column_hint_names_an_evaluate_option(trained_n21, tmp_path):
    data = tmp_path / "reviews.csv"
    data.write_text(REVIEWS, encoding="utf-8")
    result = runner.invoke(
        app, ["evaluate", "--model", trained_n21["model_dir"], "--data", str(data), "--column", "label=sentiment"]
    )
    assert result.exit_code == 2
    (line,) = _errors(result.output)
    assert "reviews.csv" in line and "--column text=" in line and "--set" not in line
    # an explicit id column that is not there is an error, with the way out
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
            "--column",
            "id=rid",
        ],
    )
    assert result.exit_code == 2 and "'rid'" in result.output and "--column id=null" in result.output


def test_unknown_labels_name_the_file_and_rows(trained_n21, tmp_path):
    data = tmp_path / "three_classes.csv"
    data.write_text(REVIEWS + "그냥 그래요,neutral\n보통이에요,neutral\n", encoding="utf-8")
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
        ],
    )
    assert result.exit_code == 2
    (line,) = _errors(result.output)
    assert "three_classes.csv" in line and "'neutral' (2, e.g. line 4, 5)" in line


def test_problem_is_read_from_the_model_and_a_mismatch_refused(trained_n2n, tmp_path):
    data = tmp_path / "ner.jsonl"
    data.write_text("".join(N2N_SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)[:5]), encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "--model", trained_n2n["model_dir"], "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["rows"] == 5
    result = runner.invoke(
        app, ["evaluate", "--problem", "n21", "--model", trained_n2n["model_dir"], "--data", str(data)]
    )
    assert result.exit_code == 2 and not isinstance(result.exception, KeyError)
    (line,) = _errors(result.output)
    assert "is an n2n model (n2n.TokenTagger); you passed --problem n21: drop --problem" in line


def test_model_problem_reads_the_architecture(tmp_path):
    from flows.model_problem import ModelProblemError, check_problem, model_problem

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model_config.json").write_text(json.dumps({"architecture": "n2path.BiaffineParser"}))
    assert model_problem(tmp_path / "m") == "n2path" and check_problem(tmp_path / "m", None) == "n2path"
    with pytest.raises(ModelProblemError, match="is an n2path model"):
        check_problem(tmp_path / "m", "n2m")
    with pytest.raises(ModelProblemError, match="has no model_config.json"):
        model_problem(tmp_path)
    (tmp_path / "m" / "model_config.json").write_text(json.dumps({"architecture": "x.Thing"}))
    with pytest.raises(ModelProblemError, match="'x.Thing' is not one hanflow knows"):
        model_problem(tmp_path / "m")


def test_n2n_entity_types_the_model_does_not_know_are_refused(trained_n2n, tmp_path):
    lines = N2N_SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)[:5]
    data = tmp_path / "other_tags.jsonl"
    data.write_text("".join(line.replace('"PS"', '"PER"') for line in lines), encoding="utf-8")
    expected = sum(line.count('"PS"') for line in lines)
    result = runner.invoke(app, ["evaluate", "--model", trained_n2n["model_dir"], "--data", str(data)])
    assert result.exit_code == 2, result.output
    (line,) = _errors(result.output)
    assert "other_tags.jsonl" in line and f"'PER' ({expected}, e.g. line 1" in line and "known:" in line


def test_quarantined_rows_are_written_next_to_out(trained_n21, trained_n2m, tmp_path):
    data = tmp_path / "reviews.csv"
    data.write_text(REVIEWS + ",negative\n너무 좋아요,positive,extra\n", encoding="utf-8")
    out = tmp_path / "res" / "m.json"
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
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    quarantine = tmp_path / "res" / "m.quarantine.parquet"
    rows = pq.read_table(quarantine).to_pylist()
    assert [r["source_row"] for r in rows] == [4, 5] and rows[0]["reason"] == "empty text"
    assert str(quarantine) in result.stderr and json.loads(out.read_text())["quarantine_path"] == str(quarantine)

    chat = tmp_path / "chat.csv"
    chat.write_text("Q,A,label\n좋은 아침,좋은 아침이에요.,0\n답 없는 질문,,0\n", encoding="utf-8")
    out = tmp_path / "chat.json"
    result = runner.invoke(
        app, ["evaluate", "--model", trained_n2m["model_dir"], "--data", str(chat), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "chat.quarantine.parquet").column("source_row").to_pylist() == [3]


def test_a_fifo_or_folder_is_refused_without_hanging(trained_n2m, tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "evaluate",
            "--problem",
            "n2m",
            "--model",
            trained_n2m["model_dir"],
            "--data",
            str(fifo),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "HANFLOW_ERROR_LOG": str(tmp_path / "e.log")},
    )
    assert done.returncode == 2 and "is a FIFO" in done.stderr and "Traceback" not in done.stderr
    result = runner.invoke(app, ["evaluate", "--model", trained_n2m["model_dir"], "--data", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in result.output


def test_unknown_column_keys_are_refused(trained_n21, trained_n2n, tmp_path):
    data = tmp_path / "reviews.csv"
    data.write_text(REVIEWS, encoding="utf-8")
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
            "--column",
            "lable=x",
        ],
    )
    assert result.exit_code == 2 and "--column lable: n21 maps only id, text, label" in result.output
    result = runner.invoke(
        app, ["evaluate", "--model", trained_n2n["model_dir"], "--data", str(N2N_SAMPLE), "--column", "text=body"]
    )
    assert result.exit_code == 2 and "--column does not apply to n2n" in result.output


def test_headerless_file(trained_n21, tmp_path):
    data = tmp_path / "plain.tsv"
    data.write_text("positive\t정말 재밌고 감동적이에요\nnegative\t지루하고 최악이었어요\n", encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            trained_n21["model_dir"],
            "--data",
            str(data),
            "--no-header",
            "--column",
            "text=1",
            "--column",
            "label=0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["rows"] == 2


def test_model_champion_names_the_promoted_model(trained_n21, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(f"n21:\n  promote:\n    champion_dir: {tmp_path / 'champs' / 'n21'}\n", encoding="utf-8")
    shutil.copytree(trained_n21["model_dir"], tmp_path / "champs" / "n21" / "current")
    data = tmp_path / "reviews.csv"
    data.write_text(REVIEWS, encoding="utf-8")
    base = [
        "evaluate",
        "--params",
        str(params),
        "--data",
        str(data),
        "--column",
        "text=review",
        "--column",
        "label=sentiment",
    ]
    for model in (["--model", "champion:n21"], ["--model", "champion", "--problem", "n21"]):
        result = runner.invoke(app, base + model)
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, base + ["--model", "champion"])
    assert result.exit_code == 2 and "--model champion:n21" in result.output
    result = runner.invoke(app, base + ["--model", "champion:n2n"])
    assert result.exit_code == 2 and "no n2n champion at" in result.output


def test_reader_hints_name_evaluate_options(trained_n21, trained_n2n, tmp_path):
    empty, utf16 = tmp_path / "empty.csv", tmp_path / "utf16.csv"
    empty.write_text("", encoding="utf-8")
    utf16.write_text(REVIEWS, encoding="utf-16")
    for data, option in ((empty, "--data"), (utf16, "--encoding utf-16")):
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
            ],
        )
        assert result.exit_code == 2
        (line,) = _errors(result.output)
        assert data.name in line and option in line and "data." not in line.replace(data.name, ""), line
    result = runner.invoke(
        app, ["evaluate", "--model", trained_n2n["model_dir"], "--data", str(N2N_SAMPLE), "--format", "conll"]
    )
    assert result.exit_code == 2 and "--format conll: n2n reads kmou, klp, klue, jsonl" in result.output
