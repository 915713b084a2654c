"""No input makes predict or evaluate allocate without bound: N2Path sentences over the parser's max_len are
skipped (evaluate) or refused (predict), and a line over 100,000 characters is refused or flagged (N2M reads a
bounded head of an overlong question: tests/n2m/test_predict.py)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from tests.test_predict import fake_model_dirs

runner = CliRunner()
WORDS = ["민수는", "사과를", "먹었다"]


def conllu(sid: str, n: int) -> str:
    """A chain of n words (each headed by the next), the last the root."""
    words = [WORDS[i % 3] for i in range(n)]
    lines = [f"# sent_id = {sid}", f"# text = {' '.join(words)}"]
    lines += [
        f"{i + 1}\t{w}\t_\t_\t_\t_\t{i + 2 if i + 1 < n else 0}\t{'root' if i + 1 == n else 'advmod'}\t_\t_"
        for i, w in enumerate(words)
    ]
    return "\n".join(lines) + "\n\n"


def with_max_len(model_dir: str, tmp_path: Path, max_len: int) -> Path:
    copy = Path(shutil.copytree(model_dir, tmp_path / f"model-max{max_len}"))
    params = json.loads((copy / "params.json").read_text(encoding="utf-8"))
    params["train"]["max_len"] = max_len
    (copy / "params.json").write_text(json.dumps(params), encoding="utf-8")
    return copy


def test_n2path_evaluate_skips_and_names_sentences_over_max_len(trained_n2path, tmp_path):
    model = with_max_len(trained_n2path["model_dir"], tmp_path, 8)
    data = tmp_path / "mixed.conllu"
    data.write_text(conllu("short-1", 3) + conllu("long-1", 12) + conllu("short-2", 6), encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "--problem", "n2path", "--model", str(model), "--data", str(data)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.splitlines()[-1])
    assert metrics["rows"] == 2 and metrics["tokens"] == 9
    assert metrics["skipped_over_max_len"]["count"] == 1 and metrics["skipped_over_max_len"]["ids"] == ["long-1"]


def test_n2path_a_5000_word_sentence_is_skipped_fast(trained_n2path, tmp_path):
    data = tmp_path / "huge.conllu"
    data.write_text(conllu("short", 4) + conllu("pasted-document", 5000), encoding="utf-8")
    started = time.perf_counter()
    result = runner.invoke(
        app, ["evaluate", "--problem", "n2path", "--model", trained_n2path["model_dir"], "--data", str(data)]
    )
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - started < 60  # parsed, it took minutes and tried to allocate 110 GB
    assert json.loads(result.stdout.splitlines()[-1])["skipped_over_max_len"]["ids"] == ["pasted-document"]


def test_n2path_predict_refuses_or_flags_a_sentence_over_max_len(trained_n2path, tmp_path):
    model = with_max_len(trained_n2path["model_dir"], tmp_path, 8)
    long_text = " ".join(WORDS * 4)  # 12 words
    result = runner.invoke(app, ["predict", "--model", str(model), "민수는 사과를 먹었다", long_text])
    assert result.exit_code == 2
    assert "text 2: sentence of 12 words, over the 8 words this parser takes" in result.output
    data = tmp_path / "texts.txt"
    data.write_text(f"민수는 사과를 먹었다\n{long_text}\n", encoding="utf-8")
    result = runner.invoke(app, ["predict", "--model", str(model), "--data", str(data), "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["heads"] and rows[1]["heads"] is None and "over the 8 words" in rows[1]["error"]


def test_a_1mb_line_is_refused_as_an_argument_for_every_problem_type(tmp_path):
    huge = "가" * 1_000_000
    for problem, folder in fake_model_dirs(tmp_path).items():
        started = time.perf_counter()
        result = runner.invoke(app, ["predict", "--model", str(folder), huge])
        assert result.exit_code == 2 and "over the 100,000-character limit" in result.output, problem
        assert time.perf_counter() - started < 5


def test_a_1mb_line_in_a_file_is_flagged_not_held(trained_n21, tmp_path):
    from tasks.n21.predict import N21Predictor
    from tasks.predict_read import read_items

    data = tmp_path / "texts.txt"
    data.write_text("좋아요\n" + "가" * 1_000_000 + "\n별로예요\n", encoding="utf-8")
    items = list(read_items(N21Predictor, data, "lines"))
    assert [i.text for i in items] == ["좋아요", "", "별로예요"]  # the long line is never kept as text
    result = runner.invoke(app, ["predict", "--model", trained_n21["model_dir"], "--data", str(data)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["label"] is None for r in rows] == [False, True, False]
    assert rows[1]["error"].startswith("line 2 is over 100,000 characters")
    tsv = tmp_path / "texts.tsv"
    tsv.write_text("text\n좋아요\n" + "가" * 1_000_000 + "\n", encoding="utf-8")
    rows = [
        json.loads(line)
        for line in runner.invoke(
            app, ["predict", "--model", trained_n21["model_dir"], "--data", str(tsv)]
        ).stdout.splitlines()
    ]
    assert rows[1]["error"].startswith("line 3 is over 100,000 characters")
