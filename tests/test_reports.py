"""What a person reads after a run: DVC's metrics (the headline only), Prefect artifact keys, N2N's confusion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from flows.stages import HEADLINE, available_problems, dvc_yaml, report_path, stages_for, write_headline
from tasks import io

PROBLEMS = ("n21", "n2n", "n2m", "n2path")


def _path(entry) -> str:
    return next(iter(entry)) if isinstance(entry, dict) else entry


def test_dvc_metrics_are_one_headline_file_per_problem_and_reports_stay_tracked():
    stages = yaml.safe_load(dvc_yaml())["stages"]
    assert set(available_problems()) == set(PROBLEMS)
    for problem in PROBLEMS:
        ours = {name: s for name, s in stages.items() if name.startswith(f"{problem}-")}
        metrics = [_path(m) for s in ours.values() for m in s.get("metrics", [])]
        assert metrics == [f"${{{problem}.work_dir}}/eval/headline.json"], (problem, metrics)
        for stage in stages_for(problem):
            outs = ours[f"{problem}-{stage.name}"]["outs"]
            # Each stage's report and the full evaluation/validation JSON: DVC outputs, uncached, not metrics.
            for template in (report_path(stage), *stage.reports):
                path = template.replace("${", f"${{{problem}.")
                assert {path: {"cache": False}} in outs, (problem, stage.name, path)
    for problem in PROBLEMS:
        for name in ("eval/metrics.json", "validation.json"):
            assert f"${{{problem}.work_dir}}/{name}" not in {
                _path(m) for s in stages.values() for m in s.get("metrics", [])
            }


def test_write_headline_shares_the_baseline_column(tmp_path):
    from flows import n21, n2path

    metrics = {
        "accuracy": 0.8,
        "macro_f1": 0.7,
        "rows": 59,
        "split": "test",
        "per_class": {"a": {}},
        "majority_baseline": {"accuracy": 0.41},
    }
    shown = write_headline(n21.headline(metrics), "majority_baseline_accuracy", {"work_dir": str(tmp_path)})
    assert shown == {"accuracy": 0.8, "macro_f1": 0.7, "rows": 59, "split": "test", "baseline": 0.41}
    assert io.read_json(tmp_path / "eval" / "headline.json") == shown
    assert HEADLINE == "${work_dir}/eval/headline.json"
    parsed = write_headline(
        n2path.headline(
            {"uas": 0.9, "las": 0.8, "rows": 19, "split": "test", "right_neighbour_baseline": {"uas": 0.3}}
        ),
        "right_neighbour_uas",
        {"work_dir": str(tmp_path)},
    )
    assert parsed["baseline"] == 0.3 and "right_neighbour_uas" not in parsed


def _record_artifact_keys(monkeypatch) -> list[str]:
    import prefect.artifacts

    import flows.dashboard

    keys: list[str] = []

    def record(*args, key=None, **kwargs):
        keys.append(key)

    for name in ("create_markdown_artifact", "create_table_artifact", "create_link_artifact", "create_image_artifact"):
        monkeypatch.setattr(prefect.artifacts, name, record)
        if hasattr(flows.dashboard, name):
            monkeypatch.setattr(flows.dashboard, name, record)
    return keys


@pytest.mark.parametrize("problem", PROBLEMS)
def test_artifact_keys_are_unique_across_a_problems_stages(problem, request, monkeypatch):
    from flows.artifacts import publish_counts
    from flows.dashboard import _stage_extras
    from flows.stages import resolve

    section = request.getfixturevalue(f"trained_{problem}")
    keys = _record_artifact_keys(monkeypatch)
    by_stage = {}
    for stage in stages_for(problem):
        before = len(keys)
        report = io.read_json(resolve(report_path(stage), section))
        # What the flow publishes after each stage (flows/pipeline.py).
        publish_counts(problem, stage.name, report)
        if stage.publish:
            stage.publish(report, section)
        _stage_extras(problem, stage, section)
        by_stage[stage.name] = keys[before:]
    assert None not in keys
    repeated = {k for k in keys if keys.count(k) > 1}
    assert not repeated, {k: [s for s, ks in by_stage.items() if k in ks] for k in repeated}
    # The review before evaluation and the final one with the confusions.
    assert f"{problem}-class-design" in by_stage["class_design"]
    assert f"{problem}-class-design-review" in by_stage["evaluate"]


def test_entity_confusion_counts_types_on_the_same_span():
    from tasks.n2n.evaluate import MISSED, SPURIOUS, entity_confusion

    gold = [[(0, 3, "PS"), (5, 7, "LC")], [(0, 2, "DT")]]
    pred = [[(0, 3, "OG"), (8, 9, "DT")], [(0, 2, "DT")]]
    confusion = entity_confusion(gold, pred, ["DT", "LC", "OG", "PS"])
    assert confusion["actual"] == ["DT", "LC", "OG", "PS", SPURIOUS]
    assert confusion["predicted"] == ["DT", "LC", "OG", "PS", MISSED]
    assert confusion["rows"] == [
        {"actual": "PS", "predicted": "OG"},
        {"actual": "LC", "predicted": MISSED},
        {"actual": SPURIOUS, "predicted": "DT"},
        {"actual": "DT", "predicted": "DT"},
    ]
    assert confusion["matrix"] == [[1, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [1, 0, 0, 0, 0]]


def test_n2n_evaluate_writes_the_confusion_json_and_image(trained_n2n):
    from tasks.n2n.evaluate import MISSED, SPURIOUS

    work = Path(trained_n2n["work_dir"])
    metrics = json.loads((work / "eval" / "metrics.json").read_text(encoding="utf-8"))
    rows = json.loads((work / "eval" / "confusion.json").read_text(encoding="utf-8"))
    types = set(metrics["per_type"])
    assert rows and all(set(r) == {"actual", "predicted"} for r in rows)
    assert {r["actual"] for r in rows} <= types | {SPURIOUS}
    assert {r["predicted"] for r in rows} <= types | {MISSED}
    # One row per gold entity, plus one per spurious prediction.
    assert sum(r["actual"] != SPURIOUS for r in rows) == metrics["entities_gold"]
    right = sum(r["actual"] == r["predicted"] for r in rows)
    assert right == round(metrics["recall"] * metrics["entities_gold"])
    png = (work / "eval" / "confusion.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000
