"""The labeling queue: least certain first, duplicates and near-duplicates removed, written for annotation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import ROOT, n2n_section, sample_section

runner = CliRunner()
NEW = [
    "배송은 빨랐는데 포장이 좀 아쉬웠어요",
    "두 번 다시 안 갈 식당입니다",
    "생각보다 괜찮네요 그럭저럭",
    "배송은 빨랐는데 포장이 좀 아쉬웠어요!!",
    "배송은  빨랐는데, 포장이 좀 아쉬웠어요ㅋㅋㅋㅋ",
    "완전 최고예요 강추합니다",
    "김민준은 내일 부산에서 한빛전자 사람들을 만난다.",
]


def test_uncertainty_orders_rows_by_how_unsure_the_model_is():
    from tasks.label_queue import uncertainty

    probs = np.array([[0.9, 0.1], [0.55, 0.45], [0.7, 0.3]])
    for by in ("margin", "confidence", "entropy"):
        assert list(np.argsort(-uncertainty(probs, by))) == [1, 2, 0]
    with pytest.raises(ValueError, match="label_queue.by"):
        uncertainty(probs, "random")


def test_pick_keeps_one_of_each_duplicate():
    from tasks.label_queue import normalized, pick

    assert normalized("배송은  빨랐는데, 포장이 좀 아쉬웠어요ㅋㅋㅋㅋ") == normalized(
        "배송은 빨랐는데 포장이 좀 아쉬웠어요ㅋㅋ"
    )
    texts = [
        "영화 정말 재밌어요",
        "영화 정말 재밌어요!!",
        "영화 정말 재밌어요 ㅎㅎ",
        "음식이 너무 짜요",
        "직원이 불친절해요",
    ]
    chosen, skipped = pick(texts, np.array([0.9, 0.8, 0.7, 0.6, 0.5]), 3, 0.8)
    assert chosen == [0, 3, 4] and skipped == {"exact_duplicates": 1, "near_duplicates": 1}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A one-epoch N21 and N2N model on the samples: the queue needs predictions, not good ones."""
    from flows.pipeline import run_stage

    work = tmp_path_factory.mktemp("queue")
    sections = {
        "n21": sample_section(work / "n21", "n21.train.epochs=1"),
        "n2n": n2n_section(work / "n2n", "n2n.train.epochs=1", "n2n.train.hidden_dim=16"),
    }
    for problem, section in sections.items():
        for stage in ("ingest", "tokenize", "encode", "vectors", "class_design", "train"):
            run_stage(problem, stage, section)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    for problem, section in sections.items():
        params[problem]["work_dir"] = section["work_dir"]
        params[problem]["class_design"]["schema"] = str(ROOT / params[problem]["class_design"]["schema"])
    (work / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (work / "new.txt").write_text("\n".join(NEW) + "\n", encoding="utf-8")
    return work, sections


@pytest.mark.parametrize("problem", ["n21", "n2n"])
def test_label_queue_writes_label_studio_tasks_without_duplicates(models, problem):
    from flows.cli import app

    work, sections = models
    out = work / f"{problem}_queue.json"
    result = runner.invoke(
        app,
        [
            "label",
            "queue",
            "--problem",
            problem,
            "--model",
            sections[problem]["model_dir"],
            "--data",
            str(work / "new.txt"),
            "--size",
            "4",
            "--out",
            str(out),
            "--params",
            str(work / "params.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.splitlines()[0])
    assert report["queued"] == 4 and report["exact_duplicates"] == 1
    tasks = json.loads(out.read_text(encoding="utf-8"))
    texts = [t["data"]["text"] for t in tasks]
    assert sum(t.startswith("배송은") for t in texts) == 1 and len(set(texts)) == 4
    assert all(t["data"]["hanflow_kind"] == "queue" and t["predictions"][0]["model_version"] == "model" for t in tasks)
    assert (work / f"{problem}_queue.config.xml").read_text(encoding="utf-8").startswith("<View>")
    rows = work / f"{problem}_queue.parquet"
    assert (
        runner.invoke(
            app,
            [
                "label",
                "queue",
                "--problem",
                problem,
                "--model",
                sections[problem]["model_dir"],
                "--data",
                str(work / "new.txt"),
                "--size",
                "2",
                "--out",
                str(rows),
                "--params",
                str(work / "params.yaml"),
            ],
        ).exit_code
        == 0
    )
    again = runner.invoke(
        app,
        [
            "label",
            "export",
            "--problem",
            problem,
            "--from",
            str(rows),
            "--out",
            str(work / f"{problem}_again.json"),
            "--params",
            str(work / "params.yaml"),
        ],
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout.splitlines()[0])["kind"] == "queue"


def test_label_export_of_the_review(models):
    from flows.cli import app
    from flows.pipeline import run_stage

    work, sections = models
    run_stage("n21", "label_review", sections["n21"])
    out = work / "review.json"
    result = runner.invoke(
        app,
        [
            "label",
            "export",
            "--problem",
            "n21",
            "--size",
            "3",
            "--out",
            str(out),
            "--params",
            str(work / "params.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert len(tasks) == 3 and all(t["data"]["hanflow_kind"] == "review" for t in tasks)
    first = tasks[0]
    assert first["predictions"][0]["result"][0]["value"]["choices"] != [first["data"]["given_label"]]
    assert "Suspected label error #1" in first["data"]["note"]
