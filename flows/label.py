"""The labeling loop: the label_review stage's runner, and `hanflow label queue | export | import`.

review (a stage: suspected label errors, tasks/label_review.py) -> `hanflow label export` (Label Studio tasks
with pre-annotations and the labeling config, tasks/label_studio.py) -> a person annotates in Label Studio ->
`hanflow label import` (its JSON export becomes lines of the corrections file, tasks/corrections.py) ->
`dvc repro` / `hanflow retrain` (ingest applies the corrections; only the stages downstream rerun).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Callable, Optional

import typer

from tasks import io

TOP_ARTIFACT_ROWS = 50


def review_runner(
    problem: str, paths: dict[str, str], review: Callable[[object, dict], tuple]
) -> Callable[[dict], dict]:
    """The label_review stage: the encoded train+dev rows -> label_review.parquet and its review section.
    `review` (the problem's own, from flows/<problem>.py) maps (encoded table, params section) to
    (ranked suspects, summary); the summary carries the section's words (tasks/label_review.py review_section)."""

    def run(section: dict) -> dict:
        from flows.stages import resolve
        from tasks.corrections import summary_lines
        from tasks.label_review import review_section

        cfg = section["label_review"]
        out, summary = review(io.read_table(resolve(paths["encoded"], section)), section)
        applied = Path(resolve(paths["corrections_applied"], section))
        corrections = io.read_json(applied) if applied.is_file() else None
        io.write_table(out, resolve(paths["label_review"], section))
        io.write_text(
            review_section(summary, out, int(cfg["top"]), summary_lines(corrections)),
            resolve(paths["label_review_md"], section),
        )
        return {
            "rows_in": summary["rows"],
            "suspected": summary["suspected"],
            "skipped": summary["skipped"],
            **({"oof_accuracy": summary["oof_accuracy"]} if "oof_accuracy" in summary else {}),
            "per_class": {c["class"]: c["suspected"] for c in summary["per_class"]},
            "labels_changed": (corrections or {}).get("changed", 0),
        }

    return run


def review_hook(problem: str, template: str) -> Callable[[dict, dict], None]:
    """The Prefect artifact: the top suspects as a table (`<problem>-label-review`)."""

    def publish(report: dict, section: dict) -> None:
        from flows.artifacts import _prefect_artifacts
        from flows.stages import resolve

        rows = io.read_table(resolve(template, section)).slice(0, TOP_ARTIFACT_ROWS).to_pylist()
        _prefect_artifacts().create_table_artifact(
            rows or [{"rank": None, "note": "no suspected label errors"}],
            key=f"{problem}-label-review",
            description=f"{problem}: the {len(rows)} likeliest label errors of {report.get('suspected', 0)} "
            "suspected (label_review.parquet); no label was changed",
        )

    return publish


def label_review_text(section: dict, template: str) -> str:
    """The label review's section for class_design_review.md ("" before the stage has run)."""
    from flows.stages import resolve

    path = Path(resolve(template, section))
    return "\n" + path.read_text(encoding="utf-8") if path.is_file() else ""


def _classes(problem: str, section: dict) -> list[dict]:
    """The schema's classes ({value, name, description})."""
    from tasks.label_schema import load_classes

    return load_classes(section["class_design"], problem)


def labeling_for(problem: str, what: str):
    """The problem type's tasks.labeling.Labeling (its declaration's `labeling`); a ValueError beginning with
    `what` for one the labeling loop does not cover."""
    from flows.stages import available_problems, problem_for

    make = problem_for(problem).labeling
    if make is None:
        covered = ", ".join(p for p in available_problems() if problem_for(p).labeling is not None)
        raise ValueError(f"{what}: {problem} is not supported ({covered})")
    return make()


# ---------------------------------------------------------------- hanflow label ...

label_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="The labeling loop: queue unlabeled rows, export to and import from Label Studio.",
)


class LabelProblem(str, Enum):
    """The problem types the labeling loop covers."""

    n21 = "n21"
    n2n = "n2n"


ProblemOption = typer.Option(..., "--problem", help="The problem type")
ParamsOption = typer.Option(Path("params.yaml"), "--params", help="The params file")


def _section(problem: str, params_file: Path) -> dict:
    from flows.cli import _fail, _params

    if problem not in LabelProblem.__members__:
        _fail(f"{problem}: the labeling loop covers n21 and n2n", 2)
    return _params(params_file, None)[problem]


@label_app.command()
def queue(
    problem: LabelProblem = ProblemOption,
    model: str = typer.Option(..., "--model", help="A model directory"),
    data: Path = typer.Option(..., "--data", help="Unlabeled texts: any file `hanflow predict --data` reads"),
    size: int = typer.Option(100, "--size", min=1, help="Rows in the queue"),
    out: Optional[Path] = typer.Option(
        None,
        "--out",
        help=".json: Label Studio tasks (and the labeling config "
        "beside it); .parquet or .jsonl: the rows (default "
        "<work_dir>/label_queue.parquet)",
    ),
    format: Optional[str] = typer.Option(None, "--format", help="--data's format (default: from the suffix)"),
    params_file: Path = ParamsOption,
) -> None:
    """The K unlabeled rows most worth a person's time: least certain first, near-duplicates removed."""
    from flows.cli import _fail, model_dir_for
    from flows.stages import problem_for
    from tasks.label_queue import queue_rows
    from tasks.predict_read import PredictInputError, default_format, read_items

    problem = problem.value
    section = _section(problem, params_file)
    model_dir, _ = model_dir_for(model, problem, params_file)
    out = out or Path(section["work_dir"]) / "label_queue.parquet"
    if out.suffix not in (".json", ".jsonl", ".parquet"):
        _fail(f"--out {out}: end it in .json (Label Studio tasks), .jsonl or .parquet", 2)
    try:
        labeling = labeling_for(problem, "hanflow label queue")
        predictor_class = problem_for(problem).predictor()
        items = [
            item
            for item in read_items(predictor_class, data, format or default_format(predictor_class, data))
            if not item.error
        ]
        predictor = predictor_class(model_dir)
        rows, report = queue_rows(
            labeling, predictor, [i.id for i in items], [i.text for i in items], size, section["label_queue"]
        )
    except (PredictInputError, FileNotFoundError, ValueError) as err:
        _fail(str(err), 2)
    _write_rows(problem, rows, out, section, "queue")
    print(json.dumps({**report, "out": str(out)}, ensure_ascii=False))


def _write_rows(
    problem: str, rows: list[dict], out: Path, section: dict, kind: str, config: Path | None = None
) -> None:
    from tasks.label_studio import labeling_config, queue_tasks

    if out.suffix == ".json":
        labeling = labeling_for(problem, "Label Studio export")
        classes = _classes(problem, section)
        if not classes:
            from flows.cli import _fail

            _fail(
                f"{problem}.class_design.schema is null: Label Studio's labeling config is made from the label "
                "schema file; point the key at one",
                2,
            )
        tasks = (
            queue_tasks(labeling, rows, classes)
            if kind == "queue"
            else labeling.review_tasks(
                rows, classes, _answers(section, labeling.answer) if labeling.review_from_data else None
            )
        )
        config = config or out.with_name(f"{out.stem}.config.xml")
        io.write_text(json.dumps(tasks, ensure_ascii=False, indent=1), out)
        io.write_text(labeling_config(labeling, classes), config)
        print(
            f"wrote {len(tasks)} Label Studio task(s) to {out} and the labeling config to {config}. In Label "
            "Studio: create a project, paste the config under Settings > Labeling Interface > Code, import the "
            "tasks; the pre-annotations show as predictions. Then export as JSON and run `hanflow label import`.",
            file=sys.stderr,
        )
    elif out.suffix == ".jsonl":
        io.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), out)
    else:
        import pyarrow as pa

        flat = [
            {**r, "probabilities": json.dumps(r["probabilities"], ensure_ascii=False)} if "probabilities" in r else r
            for r in rows
        ]
        io.write_table(pa.Table.from_pylist(flat), out)


def _answers(section: dict, field: str) -> dict:
    """Row id -> its `field` (e.g. entities) in the ingested data."""
    from flows.stages import resolve

    table = io.read_table(resolve("${work_dir}/ingested.parquet", section), columns=["id", field])
    return dict(zip(table.column("id").to_pylist(), table.column(field).to_pylist()))


@label_app.command()
def export(
    problem: LabelProblem = ProblemOption,
    source: Optional[Path] = typer.Option(
        None,
        "--from",
        help="label_review.parquet (the default: the work dir's) or a queue file from `hanflow label queue`",
    ),
    size: Optional[int] = typer.Option(None, "--size", min=1, help="Only the first N rows (best first)"),
    out: Path = typer.Option(Path("label_tasks.json"), "--out", help="Label Studio tasks (JSON)"),
    config: Optional[Path] = typer.Option(None, "--config", help="The labeling config XML (default: <out>.config.xml)"),
    params_file: Path = ParamsOption,
) -> None:
    """Label Studio tasks with pre-annotations, and the labeling config made from the label schema file."""
    from flows.cli import _fail

    problem = problem.value
    section = _section(problem, params_file)
    source = source or Path(section["work_dir"]) / "label_review.parquet"
    if not source.is_file():
        _fail(
            f"--from {source}: no such file; run the label_review stage (`dvc repro {problem}-label_review`) or "
            "`hanflow label queue` first",
            2,
        )
    if out.suffix != ".json":
        _fail(f"--out {out}: Label Studio imports tasks as .json", 2)
    rows = _read_rows(source)
    review = any(k in (rows[0] if rows else {}) for k in ("given_label", "given_tags"))
    _write_rows(problem, rows[:size] if size else rows, out, section, "review" if review else "queue", config)
    print(
        json.dumps(
            {
                "tasks_from": str(source),
                "kind": "review" if review else "queue",
                "rows": len(rows[:size] if size else rows),
                "out": str(out),
            },
            ensure_ascii=False,
        )
    )


def _read_rows(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = io.read_table(path).to_pylist()
    return [
        {**r, "probabilities": json.loads(r["probabilities"])} if isinstance(r.get("probabilities"), str) else r
        for r in rows
    ]


@label_app.command("import")
def import_(
    export_file: Path = typer.Argument(..., help="Label Studio's JSON export of the project"),
    problem: Optional[LabelProblem] = typer.Option(None, "--problem", help="Default: from the tasks"),
    name: Optional[str] = typer.Option(
        None,
        "--name",
        help="This import's name in the corrections file and the class review (default: file name and UTC time)",
    ),
    params_file: Path = ParamsOption,
) -> None:
    """Label Studio's JSON export -> new lines of the corrections file (<problem>.data.corrections), checked."""
    from flows.cli import _fail
    from tasks.corrections import CorrectionError, append_corrections, apply_corrections, read_corrections
    from tasks.label_studio import ExportError, corrections_from_export, read_export

    try:
        tasks = read_export(export_file)
    except ExportError as err:
        _fail(str(err), 2)
    problem = (
        problem.value
        if problem
        else next((t["data"].get("hanflow_problem") for t in tasks if t["data"].get("hanflow_problem")), None)
    )
    if problem is None:
        _fail(f"{export_file}: no task says its problem type (data.hanflow_problem); pass --problem", 2)
    section = _section(problem, params_file)
    target = section["data"].get("corrections")
    if not target:
        _fail(
            f"{problem}.data.corrections is null: set it to the corrections file to write "
            f"(e.g. data/corrections/{problem}.jsonl)",
            2,
        )
    name = name or f"{export_file.stem}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"
    labeling = labeling_for(problem, "hanflow label import")
    classes = _classes(problem, section)
    schema = section["class_design"].get("schema")
    values = [c["value"] for c in classes] if classes else None
    try:
        entries, skipped = corrections_from_export(tasks, labeling, classes, str(export_file), name)
        new_rows = [e for e in entries if e.pop("kind") == "queue"]
        entries = [e for e in entries if e not in new_rows]
        raw = labeling.raw_table(section["data"])
        apply_corrections(raw, entries, labeling.answer, export_file, values, schema)  # refuses what cannot apply
        _check_new_rows(new_rows, values, export_file, schema)
        added = append_corrections(target, entries)
        corrections = read_corrections(target, labeling.answer)
        _, summary = apply_corrections(raw, corrections, labeling.answer, target, values, schema)
    except (ExportError, CorrectionError) as err:
        _fail(str(err), 2)
    labeled = Path(target).with_name(f"{Path(target).stem}.new.jsonl")
    new_added = append_corrections(labeled, new_rows) if new_rows else 0
    mine = summary["imports"].get(name, {"changed": 0, "confirmed": 0})
    print(
        json.dumps(
            {
                "import": name,
                "tasks": len(tasks),
                "corrections_added": added,
                "already_imported": len(entries) - added,
                "skipped": skipped,
                "changed": mine["changed"],
                "confirmed": mine["confirmed"],
                "corrections_file": str(target),
                "labels_changed_in_total": summary["changed"],
                **({"new_rows_added": new_added, "new_rows_file": str(labeled)} if new_rows else {}),
            },
            ensure_ascii=False,
        )
    )
    print(
        f"{target}: {added} new correction(s). The raw data is unchanged; `dvc repro` (or `hanflow retrain`) "
        "applies them at ingest and reruns only what they change."
        + (
            f" {new_added} newly labeled row(s) from the queue went to {labeled} (JSON lines: id, text, "
            f"{labeling.answer}): add them to the data to train on them."
            if new_rows
            else ""
        ),
        file=sys.stderr,
    )


def _check_new_rows(rows: list[dict], values: list[str] | None, source: Path, schema: str | None) -> None:
    """Queue rows are new data: their labels must still be in the schema."""
    from tasks.corrections import CorrectionError, _where

    for row in rows:
        found = [row["label"]] if "label" in row else [e["type"] for e in row["entities"]]
        bad = [v for v in found if values is not None and v not in values]
        if bad:
            raise CorrectionError(
                f"{_where(source, None, row)}: {bad[0]!r} is not in the label schema {schema} "
                f"({', '.join(values)}); annotate the task again, or add the class to {schema}"
            )
