"""`hanflow predict`: batch prediction over files, a lean start, and one behaviour for empty texts across the
four problem types (a problem type's own predictions: tests/<problem>/test_predict.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import N2M_SAMPLE, N2PATH_SAMPLE, ROOT
from tasks.n2path.formats import read_conllu

runner = CliRunner()
SENTENCE = "할머니는 어제 시장에서 사과를 샀다."
ARCHITECTURES = {
    "n21": "n21.SequenceClassifier",
    "n2n": "n2n.TokenTagger",
    "n2m": "n2m.Seq2Seq",
    "n2path": "n2path.BiaffineParser",
}


# ---------------------------------------------------------------- batch prediction over a file


def test_batch_predict_streams_a_file_into_parquet(trained_n21, tmp_path):
    from tasks import predict_io, predict_read
    from tasks.n21.predict import N21Predictor

    data = tmp_path / "reviews.tsv"
    texts = ["정말 최고예요 강력 추천합니다", "최악이에요 돈이 아까워요", "", "친절하고 맛있어요"] * 250
    data.write_text("id\ttext\n" + "".join(f"r{k}\t{t}\n" for k, t in enumerate(texts)), encoding="utf-8")
    out = tmp_path / "predictions.parquet"
    result = runner.invoke(
        app,
        ["predict", "--model", trained_n21["model_dir"], "--data", str(data), "--out", str(out), "--batch-rows", "128"],
    )
    assert result.exit_code == 0, result.output
    assert (
        "750 of 1000 row(s) predicted, 250 written without a prediction (column error: empty text: 250)"
        in result.output
    )
    table = pq.read_table(out)
    assert table.num_rows == 1000 and table.column("id").to_pylist()[:3] == ["r0", "r1", "r2"]
    assert pq.ParquetFile(out).metadata.num_row_groups == 8  # written batch by batch
    rows = table.slice(0, 4).to_pylist()
    assert [r["label"] for r in rows] == ["positive", "negative", None, "positive"]
    assert rows[2]["error"] == "empty text" and rows[0]["error"] is None

    # Streamed: the first batch is predicted when 128 rows have been read, not the whole file.
    predictor = N21Predictor(trained_n21["model_dir"])
    read, seen = [0], []

    def counted():
        for item in predict_read.read_items(N21Predictor, data, "tsv"):
            read[0] += 1
            yield item

    original = predictor.predict
    predictor.predict = lambda texts, words=None, ids=None: (
        seen.append((len(texts), read[0])),
        original(texts, words, ids),
    )[1]
    with predict_io.Writer(predictor, tmp_path / "again.jsonl") as writer:
        counts = predict_io.predict_items(predictor, counted(), writer, 128)
    assert seen[0] == (128, 128) and max(n for n, _ in seen) == 128 and counts["flagged"] == 250
    assert len((tmp_path / "again.jsonl").read_text(encoding="utf-8").splitlines()) == 1000


def test_batch_predict_for_every_problem_type(trained_n2n, trained_n2m, trained_n2path, tmp_path):
    lines = tmp_path / "texts.txt"
    lines.write_text(f"{SENTENCE}\n\n김민준은 내일 부산에서 만난다.\n", encoding="utf-8")
    for section, out in ((trained_n2n, "n2n.jsonl"), (trained_n2m, "n2m.parquet"), (trained_n2path, "n2path.jsonl")):
        result = runner.invoke(
            app, ["predict", "--model", section["model_dir"], "--data", str(lines), "--out", str(tmp_path / out)]
        )
        assert result.exit_code == 0, result.output
        assert "2 of 3 row(s) predicted, 1 written without a prediction (column error: empty text: 1)" in result.output
        rows = (
            pq.read_table(tmp_path / out).to_pylist()
            if out.endswith(".parquet")
            else [json.loads(line) for line in (tmp_path / out).read_text(encoding="utf-8").splitlines()]
        )
        assert [r["id"] for r in rows] == ["1", "2", "3"] and [r["error"] for r in rows] == [None, "empty text", None]
    assert rows[0]["words"][-1] == "." and rows[1]["heads"] is None
    # A treebank's own words are parsed as given, into CoNLL-U.
    out = tmp_path / "parsed.conllu"
    result = runner.invoke(
        app, ["predict", "--model", trained_n2path["model_dir"], "--data", str(N2PATH_SAMPLE), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    parsed, quarantined = read_conllu(out)
    gold, _ = read_conllu(N2PATH_SAMPLE)
    assert quarantined == [] and [s["words"] for s in parsed] == [s["words"] for s in gold]
    assert [s["id"] for s in parsed] == [s["id"] for s in gold]
    # n2m reads its dialogue formats' question column.
    result = runner.invoke(
        app,
        [
            "predict",
            "--model",
            trained_n2m["model_dir"],
            "--data",
            str(N2M_SAMPLE),
            "--out",
            str(tmp_path / "answers.jsonl"),
        ],
    )
    assert result.exit_code == 0 and "400 of 400 row(s) predicted" in result.output
    bad = runner.invoke(
        app,
        [
            "predict",
            "--model",
            trained_n2m["model_dir"],
            "--data",
            str(N2M_SAMPLE),
            "--column",
            "question=Q",
            "--out",
            str(tmp_path / "x.jsonl"),
        ],
    )
    assert bad.exit_code == 2 and "no question column 'Q'" in bad.output and not (tmp_path / "x.jsonl").exists()


# ---------------------------------------------------------------- the start of a one-text predict


LEAN_CHECK = """
import json, sys
from flows.cli import app
try:
    app()
except SystemExit as end:
    assert not end.code, end
import jpype
heavy = [m for m in ("sklearn", "prefect", "great_expectations", "matplotlib", "dvc") if m in sys.modules]
print(json.dumps([heavy, jpype.isJVMStarted()]), file=sys.stderr)
"""


def test_predict_imports_only_what_it_needs(trained_n21):
    proc = subprocess.run(
        [sys.executable, "-c", LEAN_CHECK, "predict", "--model", trained_n21["model_dir"], "배송이 빨라요"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["label"] in ("positive", "negative")
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == [[], False]


def test_time_to_first_prediction(trained_n21, tmp_path):
    from flows.predict_timing import time_to_first_prediction

    seconds = time_to_first_prediction("n21", trained_n21["model_dir"], "배송이 빨라요")
    assert 0 < seconds < 120
    with pytest.raises(RuntimeError, match="failed"):
        time_to_first_prediction("n21", tmp_path, "배송이 빨라요")


# ---------------------------------------------------------------- empty texts: one behaviour for all four


def fake_model_dirs(root: Path) -> dict[str, Path]:
    """Folders that say which problem type they hold and nothing else: enough for what is refused before loading."""
    dirs = {}
    for problem, architecture in ARCHITECTURES.items():
        folder = root / problem
        folder.mkdir()
        (folder / "model_config.json").write_text(json.dumps({"architecture": architecture}), encoding="utf-8")
        dirs[problem] = folder
    return dirs


def test_an_empty_text_is_refused_for_every_problem_type(tmp_path):
    for problem, folder in fake_model_dirs(tmp_path).items():
        for empty in ("", "   "):
            result = runner.invoke(app, ["predict", "--model", str(folder), "좋아요", empty])
            assert result.exit_code == 2, (problem, result.output)
            assert "error: text 2 of 2: empty text" in result.output, (problem, result.output)


def test_a_blank_line_on_stdin_is_refused_and_a_blank_row_in_a_file_flagged(
    trained_n21, trained_n2n, trained_n2m, trained_n2path, tmp_path
):
    data = tmp_path / "texts.txt"
    data.write_text("좋아요\n \n별로예요\n", encoding="utf-8")
    for section in (trained_n21, trained_n2n, trained_n2m, trained_n2path):
        model = section["model_dir"]
        result = runner.invoke(app, ["predict", "--model", model], input="좋아요\n \n별로예요\n")
        assert result.exit_code == 2 and "stdin line 2: empty text" in result.output, result.output
        assert result.stdout == ""  # refused before anything is predicted
        result = runner.invoke(app, ["predict", "--model", model, "--output", "json", "--data", str(data)])
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert [r["error"] for r in rows] == [None, "empty text", None]
        assert "1 written without a prediction (column error: empty text: 1)" in result.stderr
