"""Stage code deps derived from imports (flows/code_deps.py): complete, narrow, and apart per problem type."""

from __future__ import annotations

import re

import pytest

from flows.code_deps import ROOT, closure, code_deps
from flows.stages import PROBLEMS, stages_for


def test_a_runner_depends_on_what_it_imports_lazily_and_not_on_other_stages_code():
    import flows.n21 as n21

    deps = code_deps(n21.tokenize)
    assert {"tasks/n21/tokenize.py", "tasks/tokenize.py", "tasks/token_parts.py", "tasks/token_cache.py"} <= set(deps)
    assert not {"tasks/n21/linear.py", "models/n21.py"} & set(deps)  # train's and evaluate's code
    assert "tasks/n21/linear.py" in code_deps(n21.train)


def test_extra_files_are_kept_and_the_list_is_sorted_and_unique():
    import flows.n21 as n21

    deps = code_deps(n21.validate, ("tasks/io.py", "data/schema/extra.yaml"))
    assert deps == sorted(set(deps)) and "data/schema/extra.yaml" in deps


def test_a_module_imported_whole_brings_every_function_and_a_name_only_its_own():
    whole = {p.relative_to(ROOT).as_posix() for p in closure("flows.n21")}
    one = {p.relative_to(ROOT).as_posix() for p in closure("flows.n21", "tokenize")}
    assert one < whole and "flows/n21.py" in one and "tasks/tokenize.py" in one


def _owned_by(problem: str, dep: str) -> bool:
    """A problem type's own files: its package, its model and its flows module."""
    return bool(re.match(rf"^(tasks/{problem}/|models/{problem}\.py$|flows/{problem}\.py$)", dep))


def test_the_top_of_tasks_is_shared_and_each_problem_type_has_its_package():
    assert all((ROOT / "tasks" / problem / "__init__.py").is_file() for problem in PROBLEMS)
    assert not [p.name for p in (ROOT / "tasks").glob("*.py") if any(p.stem.startswith(q) for q in PROBLEMS)]


@pytest.mark.parametrize("problem", PROBLEMS)
def test_no_stage_depends_on_another_problem_types_code(problem):
    """Editing N21's code (models/n21.py, tasks/n21/train.py, ...) leaves every n2n-, n2m- and n2path- stage
    unchanged in `dvc status`, and so on for each problem type."""
    for stage in stages_for(problem):
        leaks = [
            (other, dep)
            for dep in code_deps(stage.run, stage.code)
            for other in PROBLEMS
            if other != problem and _owned_by(other, dep)
        ]
        assert not leaks, f"{problem}-{stage.name} depends on {leaks}"


def test_in_dvc_yaml_each_problem_types_files_are_deps_of_its_own_stages_only():
    """dvc.yaml's deps, read back: every dep of an n2n- stage that is a problem type's file (tasks/<problem>/...,
    models/<problem>.py, flows/<problem>.py) is N2N's, and so on for each problem type."""
    import yaml

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert {stage.split("-")[0] for stage in stages} == set(PROBLEMS)
    for problem in PROBLEMS:
        deps = [dep for stage, entry in stages.items() if stage.split("-")[0] == problem for dep in entry["deps"]]
        assert any(_owned_by(problem, dep) for dep in deps)  # the check below sees each problem's own files
        leaks = sorted(
            {(other, dep) for dep in deps for other in PROBLEMS if other != problem and _owned_by(other, dep)}
        )
        assert not leaks, f"{problem}- stages depend on {leaks}"


def test_tasks_never_import_flows():
    """tasks/ is the pure layer: orchestration (flows/) calls it, never the other way round."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "tasks").rglob("*.py")
        if re.search(r"^\s*(from flows\b|import flows\b)", path.read_text(encoding="utf-8"), re.M)
    ]
    assert not offenders, offenders
