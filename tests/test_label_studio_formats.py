"""hanflow's Label Studio formats against what a real Label Studio accepted and exported (tests/fixtures/label_studio/,
written by tests/test_label_studio_e2e.py), and `hanflow label import` on those exports. Reading one problem type's
export back: tests/<problem>/test_labeling.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "label_studio"
runner = CliRunner()


def _load(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _classes(problem: str) -> list[dict]:
    from tasks.label_schema import load_schema

    return load_schema(ROOT / "data" / "schema" / {"n21": "n21_labels.yaml", "n2n": "n2n_types.yaml"}[problem], problem)


def _labeling(problem: str):
    from flows.label import labeling_for

    return labeling_for(problem, "test")


@pytest.mark.parametrize("problem", ["n21", "n2n"])
def test_the_generated_config_is_the_one_label_studio_parsed(problem):
    from tasks.label_studio import labeling_config

    config = labeling_config(_labeling(problem), _classes(problem))
    assert config == (FIXTURES / f"{problem}_tasks.config.xml").read_text(encoding="utf-8")
    parsed = _load(f"{problem}_parsed_config.json")["label"]
    assert parsed["type"] == ("Choices" if problem == "n21" else "Labels") and parsed["to_name"] == ["text"]
    assert parsed["labels"] == [c["name"] for c in _classes(problem)]


@pytest.mark.parametrize("problem", ["n21", "n2n"])
def test_label_studio_keeps_the_task_data_and_pre_annotations(problem):
    sent = {
        t["data"]["hanflow_id"]: t
        for t in _load(f"{problem}_tasks.json") + (_load("n21_queue.json") if problem == "n21" else [])
    }
    exported = _load(f"{problem}_export.json")
    assert exported
    for t in exported:
        assert t["data"] == sent[t["data"]["hanflow_id"]]["data"]
        for annotation in t["annotations"]:
            if annotation["prediction"]:  # the annotation started from our pre-annotation
                assert annotation["prediction"]["result"] == sent[t["data"]["hanflow_id"]]["predictions"][0]["result"]


def _params(tmp_path: Path) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    for problem in ("n21", "n2n"):
        params[problem]["work_dir"] = str(tmp_path / problem)
        params[problem]["data"]["corrections"] = str(tmp_path / f"{problem}.jsonl")
    params["n21"]["data"]["path"] = str(ROOT / "data/sample/n21_reviews.tsv")
    params["n2n"]["data"]["path"] = str(ROOT / "data/sample/n2n_entities.jsonl")
    for problem in ("n21", "n2n"):
        schema = params[problem]["class_design"]["schema"]
        params[problem]["class_design"]["schema"] = str(ROOT / schema)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_label_import_writes_corrections_once_and_new_rows_apart(tmp_path):
    from flows.cli import app

    params = _params(tmp_path)
    result = runner.invoke(
        app, ["label", "import", str(FIXTURES / "n21_export.json"), "--name", "r1", "--params", str(params)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.splitlines()[0])
    assert (summary["changed"], summary["confirmed"], summary["corrections_added"]) == (1, 1, 2)
    lines = [json.loads(x) for x in (tmp_path / "n21.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(x["id"], x["label"], x["import"]) for x in lines] == [
        ("r0243", "negative", "r1"),
        ("r0031", "negative", "r1"),
    ]
    assert json.loads((tmp_path / "n21.new.jsonl").read_text(encoding="utf-8"))["label"] == "negative"
    again = runner.invoke(app, ["label", "import", str(FIXTURES / "n21_export.json"), "--params", str(params)])
    assert again.exit_code == 0 and json.loads(again.stdout.splitlines()[0])["already_imported"] == 2


@pytest.mark.parametrize(
    "edit, words",
    [
        (
            lambda t: t["annotations"][0]["result"][0]["value"].update(choices=["neutral"]),
            ["label 'neutral' is not in the label schema", "add the class to"],
        ),
        (lambda t: t["data"].update(hanflow_id="r9999"), ["id 'r9999' is not in the data"]),
    ],
)
def test_label_import_refuses_a_correction_naming_its_task(tmp_path, edit, words):
    from flows.cli import app

    export = _load("n21_export.json")
    edit(export[0])
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["label", "import", str(path), "--params", str(_params(tmp_path))])
    assert result.exit_code == 2
    assert f"{path} (Label Studio task {export[0]['id']}" in result.output
    for word in words:
        assert word in result.output
    assert not (tmp_path / "n21.jsonl").exists()  # nothing written


def test_an_export_that_is_not_json_tasks_is_refused(tmp_path):
    from flows.cli import app

    path = tmp_path / "export.json"
    path.write_text('{"text": "x"}', encoding="utf-8")
    result = runner.invoke(app, ["label", "import", str(path), "--problem", "n21", "--params", str(_params(tmp_path))])
    assert result.exit_code == 2 and "export the project as JSON" in result.output
