"""The problem registry: what the CLI, the champion comparison and dvc.yaml know of each problem type."""

from pathlib import Path

import pytest

from flows.stages import PROBLEMS, problem_for, stages_for

STAGES = ["ingest", "tokenize", "encode", "validate", "class_design", "train", "evaluate"]


@pytest.mark.parametrize("name", PROBLEMS)
def test_each_problem_declares_its_graph_and_commands(name):
    declared = problem_for(name)
    assert declared.name == name
    assert [s.name for s in declared.stages if s.name in STAGES] == STAGES
    assert [s.name for s in stages_for(name)] == [s.name for s in declared.stages]
    assert "ingested" in declared.artifacts
    formats = declared.formats()
    assert formats and all(isinstance(f, str) for f in formats)


@pytest.mark.parametrize(
    "name, data, fmt",
    [("n21", "reviews.tsv", "tsv"), ("n2n", "sents.jsonl", "jsonl"), ("n2path", "gsd.conllu", "conllu")],
)
def test_the_default_format_of_a_file_is_one_its_readers_know(name, data, fmt):
    declared = problem_for(name)
    assert declared.format_for(Path(data)) == fmt
    assert fmt in declared.formats()


def test_an_unknown_problem_names_the_available_ones():
    with pytest.raises(KeyError, match="available: n21, n2n, n2m, n2path"):
        problem_for("n3x")


@pytest.mark.parametrize("name", PROBLEMS)
def test_each_problem_names_its_predictor(name):
    from tasks.predict import Predictor

    predictor = problem_for(name).predictor()
    assert issubclass(predictor, Predictor) and predictor.problem == name
    assert predictor.__module__ == f"tasks.{name}.predict"
    assert predictor.formats[0] == "lines" and predictor.text_key in ("text", "question")


def test_the_labeling_loop_covers_the_problems_that_declare_it():
    from flows.label import LabelProblem, labeling_for
    from tasks.labeling import Labeling

    covered = [name for name in PROBLEMS if problem_for(name).labeling is not None]
    assert covered == list(LabelProblem.__members__) == ["n21", "n2n"]
    for name in covered:
        labeling = labeling_for(name, "hanflow label queue")
        assert isinstance(labeling, Labeling) and labeling.problem == name
    for name in ("n2m", "n2path"):
        with pytest.raises(ValueError, match=rf"^hanflow label queue: {name} is not supported \(n21, n2n\)$"):
            labeling_for(name, "hanflow label queue")
