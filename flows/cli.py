"""`hanflow`: run the pipeline, evaluate and use trained models, check the machine."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

# Set before Prefect is imported: its telemetry prints "database is locked" tracebacks with
# the temporary server, and DVC's analytics would try the network.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

import typer  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="hanflow: raw Korean text -> trained, evaluated, versioned models.")

SetOption = typer.Option(None, "--set", help="Override a params.yaml key for this run, e.g. n21.train.epochs=5")
ParamsOption = typer.Option(Path("params.yaml"), "--params", help="The params file")


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _params(path: Path, overrides: list[str] | None) -> dict:
    from tasks.params import ParamsError, load_params

    try:
        return load_params(path, overrides)
    except ParamsError as err:
        _fail(str(err), 2)


@app.command()
def run(
    problem: str = typer.Option("n21", help="n21 | n2n | n2m | n2path | all"),
    set_: Optional[list[str]] = SetOption,
    params_file: Path = ParamsOption,
) -> None:
    """Run the whole Prefect flow for one problem type (or all) and print one JSON line each."""
    from flows.stages import available_problems, resolve, stages_for
    from tasks.params import section

    params = _params(params_file, set_)
    problems = available_problems() if problem == "all" else [problem]
    for name in problems:
        try:
            stages_for(name)
            section(params, name)
        except (KeyError, ValueError) as err:
            _fail(str(err).strip('"'), 2)
    from flows.pipeline import run_problem_flow

    for name in problems:
        p = params[name]
        try:
            run_problem_flow(name, p)
        except Exception as err:  # a failed stage: its message says what to fix
            _fail(f"{name} flow failed: {err}")
        metrics_path = resolve("${work_dir}/eval/metrics.json", p)
        metrics = json.loads(Path(metrics_path).read_text(encoding="utf-8"))
        print(json.dumps({"problem": name, "model_dir": p["model_dir"], "metrics_path": metrics_path,
                          "metrics": problem_module(name).headline(metrics)}, ensure_ascii=False))


@app.command()
def evaluate(
    problem: str = typer.Option("n21"),
    model: Path = typer.Option(..., help="A trained model directory"),
    data: Path = typer.Option(..., help="A data file in a supported format"),
    format: str = typer.Option(None, "--format", help="nsmc | csv | tsv | jsonl | parquet (default: from the suffix)"),
    column: Optional[list[str]] = typer.Option(None, help="Column mapping, e.g. --column text=document"),
    encoding: str = typer.Option("utf-8"),
    out: Optional[Path] = typer.Option(None, help="Write the metrics JSON here"),
) -> None:
    """Evaluate a trained model on any file; prints the metrics and writes them as JSON."""
    from tasks import io

    module = _problem(problem)
    fmt = format or module.format_for(data)
    mapping = {}
    for item in column or []:
        key, _, value = item.partition("=")
        mapping[key] = value or None
    out_dir = (out.parent if out else Path(model) / "..").resolve() / f"eval-{data.stem}"
    try:
        metrics = module.evaluate_command(model, data, fmt, encoding, mapping, out_dir)
    except (FileNotFoundError, ValueError, KeyError) as err:
        _fail(str(err), 2)
    if out:
        io.write_json(metrics, out)
    print(json.dumps(metrics, ensure_ascii=False))


@app.command()
def predict(
    problem: str = typer.Option("n21"),
    model: Path = typer.Option(..., help="A trained model directory"),
    text: Optional[list[str]] = typer.Argument(None, help="Texts; read one per line from stdin when none"),
) -> None:
    """Predict for texts given as arguments or on stdin; writes one JSON line per text."""
    predict_texts = _problem(problem).predict_command
    texts = list(text) if text else [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        _fail("no text given: pass texts as arguments or one per line on stdin", 2)
    try:
        for row in predict_texts(model, texts):
            print(json.dumps(row, ensure_ascii=False))
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err), 2)


@app.command()
def doctor() -> None:
    """Check Java/JVM, each KoNLPy tagger and package versions, and say what to fix."""
    from flows.doctor import run_checks

    raise typer.Exit(0 if run_checks(print) else 1)


@app.command()
def stage(problem: str, name: str, set_: Optional[list[str]] = SetOption, params_file: Path = ParamsOption) -> None:
    """Run one stage without Prefect (what each dvc.yaml stage calls)."""
    from flows.pipeline import run_stage

    params = _params(params_file, set_)
    try:
        report = run_stage(problem, name, params[problem])
    except Exception as err:
        _fail(f"{problem}.{name}: {err}")
    print(json.dumps({"stage": f"{problem}.{name}", **report}, ensure_ascii=False, default=str))


@app.command()
def bench(
    problem: str = typer.Option("all", help="n21 | ... | all"),
    datasets: Path = typer.Option(Path("../shared/datasets"), help="Folder with the real Korean datasets"),
    params_file: Path = ParamsOption,
    out_dir: Path = typer.Option(Path("reports"), help="Where bench.json and bench.md go"),
) -> None:
    """Real-data quality targets next to baselines measured in the same run (slow; not CI)."""
    from flows.bench import run_bench
    from flows.stages import available_problems

    results = run_bench(available_problems() if problem == "all" else [problem], datasets, params_file, out_dir)
    print((out_dir / "bench.md").read_text(encoding="utf-8").split("```json")[0])
    if any(entry.get("meets_target") is False for entry in results["problems"].values()):
        raise typer.Exit(1)


@app.command("dvc-yaml")
def dvc_yaml_command(check: bool = typer.Option(False, help="Fail if dvc.yaml differs from the stage graph")) -> None:
    """Write dvc.yaml from the stage graph in flows/ (the one source of truth)."""
    from flows.stages import dvc_yaml

    rendered, target = dvc_yaml(), Path("dvc.yaml")
    if check:
        if not target.exists() or target.read_text(encoding="utf-8") != rendered:
            _fail("dvc.yaml is stale: run `hanflow dvc-yaml` and commit it")
        print("dvc.yaml is up to date")
        return
    target.write_text(rendered, encoding="utf-8")
    print(f"wrote {target}")


def problem_module(problem: str):
    """flows/<problem>.py: its stages, and the evaluate/predict commands for its model directories."""
    import importlib

    from flows.stages import stages_for

    stages_for(problem)  # a clear error for an unknown or unbuilt problem type
    return importlib.import_module(f"flows.{problem}")


def _problem(problem: str):
    try:
        return problem_module(problem)
    except KeyError as err:
        _fail(str(err).strip('"'), 2)


if __name__ == "__main__":
    app()
