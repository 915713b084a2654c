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
    perf: bool = typer.Option(False, "--perf", help="Performance figures instead (perf.json, perf.md; flows/perf.py)"),
) -> None:
    """Real-data quality targets next to baselines measured in the same run (slow; not CI)."""
    if perf or problem == "perf":
        from flows.perf import markdown, run_perf

        print(markdown(run_perf(datasets, params_file, out_dir)).split("```json")[0])
        return
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
    from tasks import io

    io.write_text(rendered, target)
    print(f"wrote {target}")


# ---- production: one Prefect API, scheduled retraining, champion/challenger (flows/schedule.py, champion.py)

ProblemsOption = typer.Option(None, "--problem", help="n21 | n2n | n2m | n2path; repeat for several (default: all)")
RepoOption = typer.Option(Path("."), "--repo", help="The DVC repo holding params.yaml and dvc.yaml")
PushOption = typer.Option(True, "--push/--no-push", help="dvc push data and champion after a promotion")
CommitOption = typer.Option(True, "--commit/--no-commit",
                            help="git commit the champion's current.dvc and registry.jsonl after a promotion "
                                 "or rollback (also params <problem>.promote.git_commit)")


@app.command()
def dashboard(port: Optional[int] = typer.Option(None, help="Port on 127.0.0.1 (default 4200, $HANFLOW_PREFECT_PORT)"),
              stop: bool = typer.Option(False, "--stop", help="Stop the server hanflow started")) -> None:
    """Start the Prefect server on 127.0.0.1 (or find the running one) and print the dashboard URL."""
    from flows.server import ServerError, ensure_server, stop_server

    if stop:
        print("stopped the Prefect server" if stop_server(port) else "no server started by hanflow on that port")
        return
    try:
        url = ensure_server(port)
    except ServerError as err:
        _fail(str(err))
    print(f"Prefect dashboard: {url.removesuffix('/api')}")
    print(f"API: {url}  (hanflow run/retrain/schedule find it by themselves; other tools: export PREFECT_API_URL={url})")


def _retrain_failure(err: Exception) -> None:
    from flows.lock import LockedError

    locked = isinstance(err, LockedError) or "this run refuses" in str(err)
    _fail(str(err), 3 if locked else 1)


@app.command()
def retrain(problem: Optional[list[str]] = ProblemsOption, repo: Path = RepoOption, push: bool = PushOption,
            commit: bool = CommitOption,
            wait: float = typer.Option(0.0, help="Seconds to queue behind a running retrain (0: refuse at once)")) -> None:
    """One retraining run now: take in the raw data, `dvc repro` what changed, promote a challenger at least as good."""
    from flows.server import ServerError, prefect_api

    try:
        with prefect_api():
            from flows.schedule import retrain_flow

            results = retrain_flow(problems=problem or None, repo=str(repo), push=push, wait_s=wait, commit=commit)
    except Exception as err:  # ServerError, LockedError or a failed run: the flow logs have the details
        _retrain_failure(err)
    for name, d in results.items():
        print(json.dumps({"problem": name, **{k: d.get(k) for k in (
            "decision", "reason", "metric", "challenger_score", "champion_score", "champion_version",
            "data_version", "stages_rerun", "dvc_file", "git_commit")}}, ensure_ascii=False))


@app.command()
def schedule(cron: str = typer.Option(..., help='Cron expression, e.g. "0 3 * * *" (03:00 daily)'),
             problem: Optional[list[str]] = ProblemsOption, repo: Path = RepoOption, push: bool = PushOption,
             commit: bool = CommitOption, name: str = typer.Option("nightly", help="Deployment name"),
             run_now: bool = typer.Option(False, "--run-now", help="Also start one run right away")) -> None:
    """Serve the retraining deployment on a cron schedule, one run at a time (blocks; Ctrl-C pauses it)."""
    from prefect.client.schemas.schedules import CronSchedule

    from flows.server import ServerError, prefect_api

    try:
        CronSchedule(cron=cron)
    except ValueError:
        _fail(f"--cron {cron!r} is not a cron expression (minute hour day-of-month month day-of-week, "
              'e.g. "0 3 * * *")', 2)
    try:
        with prefect_api() as url:
            from flows.schedule import DEPLOYMENT, serve_retraining

            print(f"serving {DEPLOYMENT}/{name} on '{cron}' for {', '.join(problem or ['all problems'])}; "
                  f"dashboard {url.removesuffix('/api')}", file=sys.stderr)
            serve_retraining(cron, problem or None, str(repo), push=push, name=name, run_now=run_now, commit=commit)
    except (ServerError, ValueError) as err:
        _fail(str(err), 2)


@app.command()
def promote(problem: str = typer.Option("n21"), repo: Path = RepoOption, push: bool = PushOption,
            commit: bool = CommitOption,
            rollback: bool = typer.Option(False, "--rollback", help="Restore the previous champion"),
            history: bool = typer.Option(False, "--history", help="Print every recorded decision")) -> None:
    """Promote `<problem>.model_dir` if it scores at least the champion's primary metric; --rollback undoes the last."""
    from functools import partial

    from flows.champion import ChampionError, ChampionStore, content_hash, decide
    from flows.lock import LockedError, writer_lock
    from flows.schedule import commit_champion, git_version, repo_section, track_and_push
    from flows.stages import stages_for
    from tasks.params import ParamsError

    try:
        section = repo_section(repo, problem)
        stages_for(problem)
    except (ParamsError, KeyError) as err:
        _fail(str(err).strip('"'), 2)
    store = ChampionStore(section["promote"]["champion_dir"])
    if history:
        for entry in store.history():
            print(json.dumps(entry, ensure_ascii=False))
        return
    try:
        with writer_lock(repo.resolve(), what=f"hanflow promote {problem}"):
            if rollback:
                entry = store.rollback()
            else:
                entry = decide(problem, section, section["model_dir"], store,
                               {"data_version": content_hash(section["data"]["path"]), "code_version": git_version(repo)})
            log = partial(print, file=sys.stderr)  # stdout is for the decision's JSON line
            if entry["decision"] in ("promoted", "rollback"):
                if (repo / ".dvc").is_dir():
                    entry["dvc_file"] = track_and_push(store, repo.resolve(), log, push,
                                                       [f"{problem}-{s.name}" for s in stages_for(problem)])
                entry["git_commit"] = commit_champion(problem, store, repo, entry, log,
                                                      commit and section["promote"]["git_commit"])
    except LockedError as err:
        _fail(str(err), 3)
    except (ChampionError, FileNotFoundError, ValueError, RuntimeError) as err:
        _fail(str(err))
    print(json.dumps(entry, ensure_ascii=False, default=str))


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
