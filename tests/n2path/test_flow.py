"""The N2Path (dependency parsing) flow end to end on the embedded sample treebank, and its CLI commands."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from flows.stages import stages_for
from tasks.n2path.formats import read_conllu, tree_problems

runner = CliRunner()

# Written for this test (UD Korean GSD conventions), not taken from any corpus.
MINI = """# sent_id = mini-1
# text = 민수는 사과를 먹었다.
1	민수는	민수+는	NOUN	NNP+JX	_	3	nsubj	_	_
2	사과를	사과+를	NOUN	NNG+JKO	_	3	obj	_	_
3	먹었다	먹+었+다	VERB	VV+EP+EF	_	0	root	_	SpaceAfter=No
4	.	.	PUNCT	SF	_	3	punct	_	_

# sent_id = mini-2
# text = 아이들이 공원에서 놀았다.
1	아이들이	아이+들+이	NOUN	NNG+XSN+JKS	_	3	nsubj	_	_
2	공원에서	공원+에서	NOUN	NNG+JKB	_	3	obl	_	_
3	놀았다	놀+았+다	VERB	VV+EP+EF	_	0	root	_	SpaceAfter=No
4	.	.	PUNCT	SF	_	3	punct	_	_

"""


def _metrics(section: dict) -> dict:
    return json.loads((Path(section["work_dir"]) / "eval" / "metrics.json").read_text())


def test_every_stage_ran_and_counts_add_up(trained_n2path):
    work = Path(trained_n2path["work_dir"])
    for stage in stages_for("n2path"):
        assert json.loads((work / "reports" / f"{stage.name}.json").read_text())["seconds"] >= 0, stage.name
    reports = trained_n2path["reports"]
    ingest = reports["ingest"]
    assert ingest["rows_in"] == ingest["rows_kept"] + ingest["rows_quarantined"] == 160
    assert sum(ingest["splits"].values()) == 160 and min(ingest["splits"].values()) > 10
    tokenize = reports["tokenize"]
    assert tokenize["morphemes"] == "tagger" and tokenize["words"] == ingest["words"]
    assert 0.5 < tokenize["tagger_xpos_agreement"] <= 1  # Mecab per word against the treebank's XPOS
    assert reports["encode"]["arcs_outside_schema"] == 0
    assert reports["validate"]["success"]
    assert (work / "class_design.md").read_text(encoding="utf-8").startswith("# Class design review — n2path")
    # The test settings keep the whole flow quick (under 40 s on an idle 2-core machine; generous bound here).
    assert trained_n2path["flow_seconds"] < 120, trained_n2path["flow_seconds"]


def test_sample_parser_beats_the_right_neighbour_baseline(trained_n2path):
    metrics = _metrics(trained_n2path)
    assert metrics["split"] == "test" and metrics["punctuation"] == "included" and metrics["tokens"] > 80
    baseline = metrics["right_neighbour_baseline"]["uas"]
    assert metrics["uas"] > baseline + 0.25, (metrics["uas"], baseline)
    assert metrics["uas"] >= 0.75 and metrics["las"] >= 0.6, metrics
    assert metrics["las"] <= metrics["uas"] and metrics["las"] <= metrics["las_base_relation"]
    assert {"root", "nsubj", "punct"} <= set(metrics["per_relation"])
    assert metrics["per_relation"]["root"]["count"] == metrics["rows"]
    # Trained on the tagger's morphemes, as predict parses raw text: no second, tagger-only figure needed.
    assert metrics["morphemes"] == "tagger" and "with_tagger_morphemes" not in metrics
    predicted, quarantined = read_conllu(Path(trained_n2path["work_dir"]) / "eval" / "predictions.conllu")
    assert len(predicted) == metrics["rows"] and quarantined == []
    from flows.n2path import headline

    assert set(headline(metrics)) == {"uas", "las", "rows", "split", "right_neighbour_uas"}


def test_model_directory_is_self_contained(trained_n2path, tmp_path):
    model_dir = Path(trained_n2path["model_dir"])
    for name in (
        "weights.pt",
        "model_config.json",
        "vocab.json",
        "relation_schema.json",
        "tokenizer.json",
        "params.json",
        "train_metrics.json",
    ):
        assert (model_dir / name).is_file(), name
    assert json.loads((model_dir / "model_config.json").read_text())["architecture"] == "n2path.BiaffineParser"
    assert json.loads((model_dir / "tokenizer.json").read_text()) == {
        "morphemes": "tagger",
        "predict_morphemes": "tagger",
        "tagger": "mecab",
        "norm": False,
        "stem": False,
    }
    history = json.loads((model_dir / "train_metrics.json").read_text())
    assert history["monitor"] == "dev_las" and history["seconds_per_epoch"] > 0
    # Moved away from the work dir, the model still parses: nothing is read from outside its folder.
    moved = tmp_path / "moved"
    shutil.copytree(model_dir, moved)
    result = runner.invoke(app, ["predict", "--problem", "n2path", "--model", str(moved), "비가 온다"])
    assert result.exit_code == 0, result.output


def test_predict_prints_conllu_with_one_root(trained_n2path, tmp_path):
    texts = ["할머니는 어제 시장에서 사과를 샀다.", "철수가 책을 읽는다"]
    result = runner.invoke(
        app, ["predict", "--problem", "n2path", "--model", trained_n2path["model_dir"], "--output", "json", *texts]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == texts
    for row, text in zip(rows, texts):
        assert row["words"] == text.replace(".", " .").split()  # punctuation is its own word, as in UD Korean
        assert len(row["heads"]) == len(row["deprels"]) == len(row["words"])
        assert tree_problems(row["heads"]) == [] and row["heads"].count(0) == 1
        path = tmp_path / "out.conllu"
        path.write_text(row["conllu"], encoding="utf-8")
        sentences, quarantined = read_conllu(path)
        assert quarantined == [] and len(sentences) == 1
        assert sentences[0]["words"] == row["words"] and sentences[0]["heads"] == row["heads"]
        assert sentences[0]["deprels"].count("root") == 1 and sentences[0]["text"] == text

    result = runner.invoke(
        app,
        ["predict", "--problem", "n2path", "--model", trained_n2path["model_dir"], "--output", "json"],
        input="비가 온다\n\n",
    )
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 1


def test_evaluate_a_small_conllu_file(trained_n2path, tmp_path):
    data = tmp_path / "mini.conllu"
    data.write_text(MINI, encoding="utf-8")
    out = tmp_path / "m.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--problem",
            "n2path",
            "--model",
            trained_n2path["model_dir"],
            "--data",
            str(data),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["rows"] == 2 and metrics["tokens"] == 8 and 0 <= metrics["las"] <= metrics["uas"] <= 1
    assert metrics["morphemes"] == "tagger" and metrics["punctuation"] == "included"
    assert metrics["right_neighbour_baseline"]["uas"] == 0.25  # only word 2 -> 3 is right in each sentence

    result = runner.invoke(
        app,
        [
            "evaluate",
            "--problem",
            "n2path",
            "--model",
            trained_n2path["model_dir"],
            "--data",
            str(data),
            "--column",
            "text=x",
        ],
    )
    assert result.exit_code == 2 and "--column does not apply" in result.output
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--problem",
            "n2path",
            "--model",
            trained_n2path["model_dir"],
            "--data",
            str(tmp_path / "missing.conllu"),
        ],
    )
    assert result.exit_code == 2 and "missing.conllu" in result.output


def test_dashboard_artifacts_exist(trained_n2path):
    from prefect.client.orchestration import get_client

    async def keys() -> set[str]:
        async with get_client() as client:
            return {a.key for a in await client.read_artifacts() if a.key}

    found = asyncio.run(keys())
    for key in (
        "n2path-metrics",
        "n2path-per-relation",
        "n2path-class-design-review",
        "n2path-validation",
        "n2path-ingest-report",
        "n2path-train-report",
    ):
        assert key in found, (key, found)
