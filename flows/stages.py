"""The stage graph: the one source of truth for the Prefect flow and for dvc.yaml.

Each problem type registers an ordered list of `Stage`s. The Prefect flow runs them in order
in one process; `hanflow dvc-yaml` writes dvc.yaml from the same list (a test fails when the
committed dvc.yaml is stale), and each DVC stage calls `hanflow stage PROBLEM NAME`, which runs
the very same function. Paths are `${key}` templates over the problem's params section, which
DVC interpolates from params.yaml and `resolve` fills in at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

_TEMPLATE = re.compile(r"\$\{([\w.]+)\}")


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[dict], dict]  # problem params section -> report (row counts, figures)
    params: tuple[str, ...]  # params sections/keys it reads, relative to the problem
    # files the stage reads that its runner's imports do not name (suites, a model class built by name); the
    # Python files it runs are derived from the runner (flows/code_deps.py)
    code: tuple[str, ...] = ()
    deps: tuple[str, ...] = ()  # path templates it reads
    outs: tuple[str, ...] = ()  # path templates it writes (DVC-cached)
    # JSON reports it writes, tracked by DVC uncached (cache: false) but left out of `dvc metrics show`;
    # the stage's own report (report_path) is always one.
    reports: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()  # the few headline figures `dvc metrics show` lists (write_headline)
    plots: tuple[dict, ...] = ()  # {path: {x:, y:, template:}} entries for dvc.yaml
    publish: Callable[[dict, dict], None] | None = field(default=None, compare=False)  # Prefect artifacts


@dataclass(frozen=True)
class Problem:
    """A problem type as the rest of hanflow sees it: its stage graph and how its trained models are scored.

    Each flows/<problem>.py declares one; the CLI, the champion/challenger comparison and dvc.yaml read
    only this, so adding a problem type means writing one declaration, not matching names by convention."""

    name: str
    stages: tuple[Stage, ...]
    artifacts: dict[str, str]  # artifact name -> path template over the problem's params section
    headline: Callable[[dict], dict]  # metrics.json -> the few figures `hanflow run` prints and dvc lists
    format_for: Callable[[Path], str]  # the --format a data file gets when none is given
    formats: Callable[[], tuple[str, ...]]  # the --format values its readers know (imported when asked)
    evaluate_command: Callable[..., dict]  # `hanflow evaluate`: a model directory scored on any file
    # ingested rows of the evaluation split -> (file, format, column mapping) that evaluate_command reads back:
    # how a champion and a challenger are scored on the same data (flows/champion.py)
    write_eval_set: Callable[[list[dict], Path], tuple[Path, str, dict]]
    # `hanflow predict`: its tasks.predict.Predictor subclass (imported when asked: predict's start is its time)
    predictor: Callable[[], type]
    data_folders: bool = False  # --data may be a folder of files in one format
    # `hanflow label queue | export | import`: its tasks.labeling.Labeling (imported when asked); None: not covered
    labeling: Callable[[], Any] | None = None


# problem name -> its declaration; filled by each problem module on import.
REGISTRY: dict[str, Problem] = {}
PROBLEMS = ("n21", "n2n", "n2m", "n2path")


def register(problem: Problem) -> Problem:
    REGISTRY[problem.name] = problem
    return problem


def problem_for(name: str) -> Problem:
    """The declaration of problem type `name`; a KeyError naming the available ones otherwise."""
    load_all()
    if name not in REGISTRY:
        raise KeyError(
            f"problem {name!r} is not available; available: {', '.join(p for p in PROBLEMS if p in REGISTRY)}"
        )
    return REGISTRY[name]


def imported(module: str, name: str) -> Callable[[], Any]:
    """A callable that imports `module` and returns its `name`: how a Problem names a class or object it does not
    import until asked (Problem.predictor, Problem.labeling)."""

    def load() -> Any:
        import importlib

        return getattr(importlib.import_module(module), name)

    return load


def stages_for(problem: str) -> list[Stage]:
    return list(problem_for(problem).stages)


def available_problems() -> list[str]:
    load_all()
    return [p for p in PROBLEMS if p in REGISTRY]


def load_all() -> None:
    # Importing a problem module registers it.
    from flows import n21, n2m, n2n, n2path  # noqa: F401


def jsonl_eval_set(
    fields: tuple[str, ...], mapped: bool = True
) -> Callable[[list[dict], Path], tuple[Path, str, dict]]:
    """A Problem.write_eval_set for an evaluate_command that reads JSON lines: each row keeps its non-null `fields`;
    `mapped`: evaluate_command takes them as its --column mapping (field -> the same name)."""

    def write(rows: list[dict], out_dir: Path) -> tuple[Path, str, dict]:
        import json

        path = out_dir / "eval_set.jsonl"
        lines = [json.dumps({k: r[k] for k in fields if r.get(k) is not None}, ensure_ascii=False) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path, "jsonl", {k: k for k in fields} if mapped else {}

    return write


def vectors_stage(paths: dict[str, str], tokens: Callable[[dict], list[str]], dim: str) -> Stage:
    """The vectors stage of a problem whose network starts an embedding from pretrained vectors
    (tasks/vectors.py): `tokens` picks that embedding's vocabulary from the `vocab` file, `dim` names the
    `train` key of its size (read by the runner and declared as the stage's param); the vectors go to the
    `vectors` path, which the train stage reads."""

    def vectors(section: dict) -> dict:
        from tasks import io
        from tasks.vectors import build_vectors, save_vectors

        itos = tokens(io.read_json(resolve(paths["vocab"], section)))
        rows, found, report = build_vectors(itos, section["vectors"], int(section["train"][dim]))
        save_vectors(resolve(paths["vectors"], section), rows, found)
        return report

    return Stage(
        "vectors", vectors, params=("vectors", f"train.{dim}"), deps=(paths["vocab"],), outs=(paths["vectors"],)
    )


def ingest_runner(
    paths: dict[str, str], read: Callable[[dict], tuple], problem: str | None = None, corrected: str | None = None
) -> Callable[[dict], dict]:
    """The ingest stage of any problem: `read` (imported when it runs) maps params `data` to
    (kept, quarantined, report); the two tables go to the `ingested` and `quarantine` paths.
    `corrected`: the ingested column a person's corrections replace (`data.corrections`, applied on top of the
    raw rows, what changed written to the `corrections_applied` path); None: the problem type has no corrections.

    Both tables are written before the quarantine check, so when more than
    `<problem>.data.max_quarantine_share` of the rows went to quarantine the flow fails with the
    quarantine file in place for the user to read; so is the quarantine of a file whose rows were
    all quarantined (the ingest function raises QuarantineError carrying it)."""

    def ingest(section: dict) -> dict:
        from tasks import io
        from tasks.splits import QuarantineError, check_quarantine_share
        from tasks.textfile import input_notes

        data = section["data"]
        quarantine_path = resolve(paths["quarantine"], section)
        try:
            kept, quarantined, report = read(data)
        except QuarantineError as err:
            if err.quarantine is None or err.report is None:
                raise
            io.write_table(err.quarantine, quarantine_path)
            check_quarantine_share(err.report, err.quarantine, data, quarantine_path, problem)
            raise
        if corrected:
            kept, report["corrections"] = apply_corrections_file(kept, section, problem, corrected)
            io.write_json(report["corrections"], resolve(paths["corrections_applied"], section))
        io.write_table(kept, resolve(paths["ingested"], section))
        io.write_table(quarantined, quarantine_path)
        # A BOM or CRLF line ends are read correctly; the report says they were there.
        sources = [data["path"], *(s["path"] for s in data.get("extra_sources") or [] if isinstance(s, dict))]
        report.update(input_notes(sources))
        return check_quarantine_share(report, quarantined, data, quarantine_path, problem)

    return ingest


def apply_corrections_file(kept, section: dict, problem: str | None, field: str):
    """`<problem>.data.corrections` (tasks/corrections.py) applied on top of the ingested rows, checked against
    the label schema; returns (table, what changed)."""
    from tasks.corrections import apply_corrections, read_corrections
    from tasks.label_schema import load_classes

    path = section["data"].get("corrections")
    if not path:
        return kept, {
            "file": None,
            "corrections": 0,
            "rows": 0,
            "changed": 0,
            "confirmed": 0,
            "imports": {},
            "per_class": {},
        }
    classes = load_classes(section.get("class_design") or {}, problem)
    schema = (section.get("class_design") or {}).get("schema")
    return apply_corrections(
        kept, read_corrections(path, field), field, path, [c["value"] for c in classes] if classes else None, schema
    )


def table_runner(
    paths: dict[str, str], fn: Callable[[Any, dict], tuple], source: str, target: str, params_key: str
) -> Callable[[dict], dict]:
    """A stage that maps one table to another with its params section: (table, cfg) -> (table, report)."""

    def run(section: dict) -> dict:
        from tasks import io

        out, report = fn(io.read_table(resolve(paths[source], section)), section[params_key])
        io.write_table(out, resolve(paths[target], section))
        return report

    return run


def resolve(template: str, section: dict) -> str:
    def lookup(match: re.Match) -> str:
        node = section
        for key in match.group(1).split("."):
            node = node[key]
        return str(node)

    return _TEMPLATE.sub(lookup, template)


def report_path(stage: Stage) -> str:
    return f"${{work_dir}}/reports/{stage.name}.json"


HEADLINE = "${work_dir}/eval/headline.json"  # each problem's one `metrics:` file in dvc.yaml


def write_headline(figures: dict, baseline: str, section: dict) -> dict:
    """Write the figures `dvc metrics show` lists for a problem to HEADLINE: `figures`, the problem's
    headline (its flows module's `headline`, what `hanflow run` prints), with the figure named by `baseline`
    (e.g. majority_baseline_accuracy) stored as `baseline`. DVC makes every key of every metrics file a
    column, so one shared name keeps the four problems' table narrow enough for a terminal."""
    from tasks import io

    shown = {("baseline" if key == baseline else key): value for key, value in figures.items()}
    io.write_json(shown, resolve(HEADLINE, section))
    return shown


def dvc_yaml() -> str:
    """Render dvc.yaml for every registered problem."""
    import yaml

    from flows.code_deps import code_deps

    def qualify(template: str, problem: str) -> str:
        return _TEMPLATE.sub(lambda m: f"${{{problem}.{m.group(1)}}}", template)

    stages: dict[str, dict] = {}
    plots: list[dict] = []
    for problem in available_problems():
        for stage in REGISTRY[problem].stages:
            entry: dict = {"cmd": f"hanflow stage {problem} {stage.name}"}
            entry["deps"] = [*code_deps(stage.run, stage.code), *(qualify(d, problem) for d in stage.deps)]
            entry["params"] = [f"{problem}.{key}" for key in stage.params]
            uncached = [{qualify(r, problem): {"cache": False}} for r in (*stage.reports, report_path(stage))]
            entry["outs"] = [*(qualify(o, problem) for o in stage.outs), *uncached]
            if stage.metrics:
                # DVC-cached, so `dvc metrics diff` reads a committed dvc.lock's figures back from the cache
                entry["metrics"] = [qualify(m, problem) for m in stage.metrics]
            stages[f"{problem}-{stage.name}"] = entry
            for plot in stage.plots:
                plots += [{qualify(path, problem): spec} for path, spec in plot.items()]
    header = "# Generated by `hanflow dvc-yaml` from flows/stages.py — do not edit by hand.\n"
    body = yaml.safe_dump({"stages": stages, "plots": plots}, sort_keys=False, allow_unicode=True, width=120)
    return header + body
