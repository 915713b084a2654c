"""The N2M (dialogue) flow end to end on the embedded sample, and its CLI commands."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from flows.cli import app
from flows.stages import stages_for
from tasks.n2m.spacing import SPACE

runner = CliRunner()


def test_every_stage_ran_and_counts_add_up(trained_n2m):
    work = Path(trained_n2m["work_dir"])
    for stage in stages_for("n2m"):
        assert json.loads((work / "reports" / f"{stage.name}.json").read_text())["seconds"] >= 0, stage.name
    reports = trained_n2m["reports"]
    ingest = reports["ingest"]
    assert ingest["rows_in"] == ingest["rows_kept"] + ingest["rows_quarantined"] == 400
    assert sum(ingest["splits"].values()) == ingest["rows_kept"] and min(ingest["splits"].values()) > 30
    for name in ("tokenize", "encode", "validate"):
        assert reports[name]["rows_in"] == ingest["rows_kept"], name
    assert reports["validate"]["success"] and reports["tokenize"]["rows_without_tokens"] == 0
    assert reports["train"]["best_epoch"] >= 1 and reports["train"]["seconds_per_epoch"] > 0


def test_encoded_ids_are_int32_lists(trained_n2m):
    schema = pq.read_schema(Path(trained_n2m["work_dir"]) / "encoded.parquet")
    for column in ("src_ids", "tgt_ids"):
        assert schema.field(column).type.value_type.bit_width == 32, column


def test_sample_model_beats_the_constant_answer(trained_n2m):
    metrics = json.loads((Path(trained_n2m["work_dir"]) / "eval" / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["rows"] > 30
    constant = metrics["constant_baseline"]["chrf"]
    assert metrics["chrf"] > constant + 10, (metrics["chrf"], constant)
    assert metrics["perplexity"] < 20 and 0 <= metrics["bleu"] <= 100
    assert 0 < metrics["distinct_1"] <= 1 and metrics["avg_length"] > 1
    assert "retrieval_baseline" in metrics
    assert metrics["decode"]["method"] == trained_n2m["evaluate"]["decode"]["method"]
    samples = (Path(trained_n2m["work_dir"]) / "eval" / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(samples) == metrics["rows"]
    row = json.loads(samples[0])
    assert set(row) >= {"id", "question", "reference", "generated"}


def test_model_directory_is_self_contained(trained_n2m, tmp_path):
    import shutil

    model_dir = Path(trained_n2m["model_dir"])
    for name in (
        "weights.pt",
        "model_config.json",
        "vocab.json",
        "tokenizer.json",
        "params.json",
        "train_metrics.json",
        "baseline.json",
    ):
        assert (model_dir / name).is_file(), name
    assert json.loads((model_dir / "model_config.json").read_text())["architecture"] == "n2m.Seq2Seq"
    assert json.loads((model_dir / "tokenizer.json").read_text())["tagger"] == trained_n2m["tokenize"]["tagger"]
    # A copy elsewhere answers on its own: nothing is read from the work folder.
    from tasks.n2m.evaluate import predict_texts

    copy = shutil.copytree(model_dir, tmp_path / "copied-model")
    assert predict_texts(copy, ["안녕하세요"])[0]["answer"]


def test_predict_answers_in_readable_korean(trained_n2m):
    questions = ["오늘 너무 피곤해", "좋은 아침이야"]
    result = runner.invoke(app, ["predict", "--problem", "n2m", "--model", trained_n2m["model_dir"], *questions])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["question"] for r in rows] == questions
    sample_answers = {
        line.split("\t")[1] for line in Path(trained_n2m["data"]["path"]).read_text(encoding="utf-8").splitlines()[1:]
    }
    eojeol = {word for answer in sample_answers for word in answer.split()}
    for row in rows:
        answer = row["answer"]
        assert answer and SPACE not in answer and "<" not in answer
        # Morphemes are joined back into eojeol (words as the sample writes them), not "먹 었 어요".
        words = answer.split()
        assert sum(w in eojeol for w in words) >= 0.8 * len(words), answer
    assert any(r["answer"] in sample_answers for r in rows), rows  # spacing survives ids -> text
    empty = runner.invoke(app, ["predict", "--problem", "n2m", "--model", trained_n2m["model_dir"], " "])
    assert empty.exit_code == 2 and "empty" in empty.output


def test_evaluate_a_chatbot_style_file(trained_n2m, tmp_path):
    from flows.n2m import format_for

    data = tmp_path / "mini.csv"
    data.write_bytes(
        "Q,A,label\r\n좋은 아침,좋은 아침이에요. 오늘도 힘내세요!,0\r\n"
        '"잘 지냈어, 요즘?",저는 잘 지내요. 당신은요?,0\r\n답 없는 질문,,0\r\n'.encode()
    )
    assert format_for(data) == "chatbot"
    out = tmp_path / "m.json"
    result = runner.invoke(
        app,
        ["evaluate", "--problem", "n2m", "--model", trained_n2m["model_dir"], "--data", str(data), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["rows"] == 2 and metrics["rows_quarantined"] == 1 and metrics["format"] == "chatbot"
    assert 0 <= metrics["chrf"] <= 100 and metrics["perplexity"] > 1 and "constant_baseline" in metrics
    assert len(Path(metrics["samples_path"]).read_text(encoding="utf-8").splitlines()) == 2
    # A generic CSV needs its columns named.
    other = tmp_path / "other.csv"
    other.write_text("q,a\n안녕,안녕하세요! 반가워요.\n", encoding="utf-8")
    assert format_for(other) == "csv"
    bad = runner.invoke(
        app, ["evaluate", "--problem", "n2m", "--model", trained_n2m["model_dir"], "--data", str(other)]
    )
    assert bad.exit_code == 2 and "columns" in bad.output
    good = runner.invoke(
        app,
        [
            "evaluate",
            "--problem",
            "n2m",
            "--model",
            trained_n2m["model_dir"],
            "--data",
            str(other),
            "--column",
            "question=q",
            "--column",
            "answer=a",
        ],
    )
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout.splitlines()[-1])["rows"] == 1


def test_headline_and_formats(tmp_path):
    from flows.n2m import format_for, headline

    metrics = {
        "chrf": 30.0,
        "bleu": 10.0,
        "perplexity": 5.0,
        "rows": 9,
        "split": "test",
        "avg_length": 3,
        "constant_baseline": {"chrf": 7.0},
    }
    assert headline(metrics) == {
        "chrf": 30.0,
        "bleu": 10.0,
        "perplexity": 5.0,
        "rows": 9,
        "split": "test",
        "constant_baseline_chrf": 7.0,
    }
    assert format_for(Path("x.tsv")) == "tsv" and format_for(Path("x.jsonl")) == "jsonl"
    bom = tmp_path / "bom.csv"
    bom.write_text("\ufeffQ,A,label\n", encoding="utf-8")
    assert format_for(bom) == "chatbot"


def test_dashboard_artifacts_exist(trained_n2m):
    from prefect.client.orchestration import get_client

    async def keys() -> set[str]:
        async with get_client() as client:
            return {a.key for a in await client.read_artifacts() if a.key}

    found = asyncio.run(keys())
    for key in (
        "n2m-metrics",
        "n2m-samples",
        "n2m-class-design-review",
        "n2m-validation",
        "n2m-ingest-report",
        "n2m-train-report",
    ):
        assert key in found, (key, found)
