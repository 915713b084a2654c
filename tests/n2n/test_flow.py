"""The N2N (named entity) flow end to end on the embedded sample, and its CLI commands."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from flows.stages import stages_for

runner = CliRunner()


def test_every_stage_ran_and_counts_add_up(trained_n2n):
    work = Path(trained_n2n["work_dir"])
    for stage in stages_for("n2n"):
        assert json.loads((work / "reports" / f"{stage.name}.json").read_text())["seconds"] >= 0, stage.name
    ingest = trained_n2n["reports"]["ingest"]
    assert ingest["rows_in"] == ingest["rows_kept"] + ingest["rows_quarantined"] == 320
    tokenize = trained_n2n["reports"]["tokenize"]
    # Measured, not assumed: the reason the tagger works on syllables (tasks/n2n/tokenize.py).
    assert tokenize["entities"] == sum(ingest["entities"].values())
    assert 0 <= tokenize["entities_off_morpheme_boundaries"] < tokenize["entities"]


def test_sample_tagger_beats_the_gazetteer_baseline(trained_n2n):
    metrics = json.loads((Path(trained_n2n["work_dir"]) / "eval" / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["entities_gold"] > 50
    baseline = metrics["gazetteer_baseline"]["f1"]
    assert metrics["f1"] >= 0.75 and metrics["f1"] > baseline + 0.05, (metrics["f1"], baseline)
    assert set(metrics["per_type"]) == {"PS", "LC", "OG", "DT", "TI"}
    assert 0.9 < metrics["token_accuracy"] <= 1


def test_model_directory_is_self_contained(trained_n2n):
    model_dir = Path(trained_n2n["model_dir"])
    for name in (
        "weights.pt",
        "model_config.json",
        "vocab.json",
        "entity_schema.json",
        "tokenizer.json",
        "params.json",
        "train_metrics.json",
    ):
        assert (model_dir / name).is_file(), name
    assert json.loads((model_dir / "model_config.json").read_text())["architecture"] == "n2n.TokenTagger"


def test_predict_gives_character_offsets(trained_n2n):
    text = "김민준은 내일 오후 3시에 부산에서 한빛전자 사람들을 만난다."
    result = runner.invoke(app, ["predict", "--problem", "n2n", "--model", trained_n2n["model_dir"], text])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.splitlines()[-1])
    assert row["text"] == text
    for entity in row["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert entity["type"] in {"PS", "LC", "OG", "DT", "TI"}
    assert {"start": 0, "end": 3, "type": "PS", "text": "김민준"} in row["entities"]


def test_evaluate_a_klp_style_file(trained_n2n, tmp_path):
    data = tmp_path / "mini.dev"
    data.write_bytes(
        "; 이서연은 부산에서 일한다.\r\n$<이서연:PS>은 <부산:LC>에서 일한다.\r\n"
        "1\t이서연\tNNP\tB_PS\r\n1\t은\tJX\tO\r\n2\t부산\tNNP\tB_LC\r\n2\t에서\tJKB\tO\r\n"
        "3\t일하\tVV\tO\r\n3\t다\tEF\tO\r\n3\t.\tSF\tO\r\n\r\n".encode()
    )
    out = tmp_path / "m.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--problem",
            "n2n",
            "--model",
            trained_n2n["model_dir"],
            "--data",
            str(data),
            "--format",
            "klp",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["rows"] == 1 and metrics["entities_gold"] == 2 and 0 <= metrics["f1"] <= 1


def test_dashboard_artifacts_exist(trained_n2n):
    from prefect.client.orchestration import get_client

    async def keys() -> set[str]:
        async with get_client() as client:
            return {a.key for a in await client.read_artifacts() if a.key}

    found = asyncio.run(keys())
    for key in ("n2n-metrics", "n2n-per-type", "n2n-class-design-review", "n2n-validation", "n2n-ingest-report"):
        assert key in found, (key, found)
