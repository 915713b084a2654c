"""The benchmark's entries (bench/overlays/*.yaml): each parses, sets only known params keys, names a valid
problem, metric, baseline and test unit, and its label schema files load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.overlays import METRICS, OVERLAYS, OverlayError, entry_names, entry_overrides, load_overlay, target_value
from tests.conftest import ROOT

ENTRIES = ("n21_nsmc", "n21_hate", "n21_3i4k", "n2n_klp", "n2m_chatbot", "n2path_gsd")
FAKE = Path("/nonexistent/datasets")


def test_every_entry_has_an_overlay():
    assert set(entry_names()) == set(ENTRIES)


@pytest.mark.parametrize("name", ENTRIES)
def test_overlay_params_are_known_keys_of_params_yaml(name):
    from tasks.params import load_params

    overlay = load_overlay(name)
    spec, problem = overlay["bench"], overlay["bench"]["problem"]
    assert spec["metric"] in spec["metrics"] and problem in METRICS[spec["compare_on"]]
    overrides = entry_overrides(overlay, FAKE, seed=7, work_dir=Path("w"), cache_dir=Path("c"))
    section = load_params(ROOT / "params.yaml", overrides)[problem]  # refuses any key params.yaml lacks
    assert section["data"]["path"].startswith(str(FAKE)) and (FAKE / spec["dataset"]).name in str(overrides)
    assert section["data"]["split"]["seed"] == section["train"]["seed"] == 7  # the seed moves split and training
    assert (section["work_dir"], section["model_dir"], section["tokenize"]["cache_dir"]) == ("w", "w/model", "c")
    schema = overlay["params"][problem].get("class_design", {}).get("schema")
    if schema:
        from tasks.label_schema import load_schema

        assert load_schema(ROOT / schema, problem)


def test_modelling_knobs_stay_out_of_the_overlays():
    # params.yaml's defaults are what the benchmark measures; N2N's domain settings describe its data sources.
    allowed = {"n2n_klp": {"features", "predict_domain", "finetune"}}
    for name in ENTRIES:
        overlay = load_overlay(name)
        train = overlay["params"][overlay["bench"]["problem"]].get("train", {})
        assert set(train) <= allowed.get(name, set()), (name, train)


def test_carved_splits_imitate_the_held_back_sets():
    def split(name):
        overlay = load_overlay(name)
        return overlay["params"][overlay["bench"]["problem"]]["data"]["split"]

    assert split("n21_nsmc") == {"dev": 0.05, "test": 0.1}
    assert split("n21_3i4k")["test"] == split("n21_hate")["test"] == 0.1
    assert split("n2m_chatbot")["block_rows"] == 20  # whole 20-line blocks, as held back
    assert split("n2n_klp")["test"] == split("n2path_gsd")["test"] == 0.0  # a fixed test file instead
    three = load_overlay("n21_3i4k")["params"]["n21"]["data"]
    assert three["header"] is False and three["columns"] == {"id": None, "text": "1", "label": "0", "split": None}


def test_the_new_corpora_label_schemas():
    from tasks.label_schema import load_schema

    hate = load_schema(ROOT / "data/schema/bench/hate_labels.yaml", "n21")
    assert [c["value"] for c in hate] == ["none", "offensive", "hate"]
    intent = load_schema(ROOT / "data/schema/bench/3i4k_labels.yaml", "n21")
    assert [c["value"] for c in intent] == [str(i) for i in range(7)]
    for c in hate + intent:
        assert c["name"] and c["description"] and 1 <= len(c["examples"]) <= 3


def test_relative_and_absolute_targets():
    assert target_value(0.865, 0.5) == 0.865
    assert target_value({"over_baseline": 0.01}, 0.59) == pytest.approx(0.60)
    assert target_value({"over_baseline": 0.01}, None) is None


def test_a_bad_overlay_is_refused(tmp_path, monkeypatch):
    import bench.overlays

    good = yaml.safe_load((OVERLAYS / "n21_nsmc.yaml").read_text(encoding="utf-8"))
    monkeypatch.setattr(bench.overlays, "OVERLAYS", tmp_path)
    cases = {
        "metric": ({"metric": "chrf"}, "no benchmark metric 'chrf'"),
        "problem": ({"problem": "n3"}, "bench.problem must be one of"),
        "floor": ({"floor": "high"}, "must be a number"),
        "baseline": ({"baseline": "retrieval"}, "use baseline tfidf_logreg"),
    }
    for name, (change, message) in cases.items():
        (tmp_path / f"{name}.yaml").write_text(
            yaml.safe_dump({**good, "bench": {**good["bench"], **change}}), encoding="utf-8"
        )
        with pytest.raises(OverlayError, match=message):
            load_overlay(name)
    with pytest.raises(OverlayError, match="no benchmark entry 'nope'"):
        load_overlay("nope")
