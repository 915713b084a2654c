"""`hanflow`: run the pipeline, evaluate and use trained models, check the machine."""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

# Set before Prefect is imported: its telemetry prints "database is locked" tracebacks with
# the temporary server, and DVC's analytics would try the network.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

import typer  # noqa: E402
from typer.core import TyperGroup  # noqa: E402
from typer.exceptions import TyperException  # noqa: E402

from flows import errors  # noqa: E402


class Problem(str, Enum):
    """The problem types: `--help` lists them and a wrong value is refused before anything runs."""

    n21 = "n21"
    n2n = "n2n"
    n2m = "n2m"
    n2path = "n2path"


class RunProblem(str, Enum):
    n21 = "n21"
    n2n = "n2n"
    n2m = "n2m"
    n2path = "n2path"
    all = "all"


BenchProblem = Enum("BenchProblem", {name: name for name in (*RunProblem.__members__, "labels", "perf")}, type=str)


def _value(choice: Enum | None) -> str | None:
    return None if choice is None else choice.value


def _plain_flags(params: list) -> list:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # typer's rich help prints a flag's type: `--stop <bool>`
    return params


class _Commands(TyperGroup):
    """One line for every failure: an exception no command turned into an `error:` line is logged with its
    traceback (flows/errors.py) and reported in one line too. Boolean flags show as `--stop`, not `--stop <bool>`."""

    def get_params(self, ctx):
        return _plain_flags(super().get_params(ctx))

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None and not getattr(command, "_plain_flags", False):
            get_params = command.get_params
            command.get_params = lambda ctx: _plain_flags(get_params(ctx))  # --help is added there
            command._plain_flags = True
        return command

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException, KeyboardInterrupt):  # usage errors: click's own message
            raise
        except BrokenPipeError:  # `hanflow ... | head`: the reader has gone, nothing to report
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(1) from None
        except Exception as err:  # a bug or an unforeseen fault: the user still gets one line
            logged = errors.log_exception(err)
            typer.secho(f"error: {type(err).__name__}: {err} ({errors.where(logged)})", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Commands,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="hanflow: raw Korean text -> trained, evaluated, versioned models.",
)


from flows.label import label_app  # noqa: E402

app.add_typer(label_app, name="label", cls=_Commands)


@app.callback()
def _main(
    debug: bool = typer.Option(
        False,
        "--debug",
        envvar="HANFLOW_DEBUG",
        help="Show tracebacks on the terminal (else they go to the error log: "
        "$HANFLOW_ERROR_LOG or ~/.cache/hanflow/error.log)",
    ),
) -> None:
    errors.set_debug(debug)


SetOption = typer.Option(None, "--set", help="Override a params.yaml key for this run, e.g. n21.train.epochs=5")
ParamsOption = typer.Option(Path("params.yaml"), "--params", help="The params file")


def _fail(message: str, code: int = 1, logged: bool = False) -> None:
    """Print one `error:` line and exit. Called while handling an exception: with `logged` (a failure whose
    traceback is worth reading) the traceback goes to the error log, whose path the line names; with --debug
    it is shown on the terminal."""
    current = sys.exc_info()[1]
    hint = ""
    if current is not None and (logged or errors.debug()):
        path = errors.log_exception(current)
        hint = f" ({errors.where(path)})" if logged else ""
    typer.secho(f"error: {message}{hint}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _params(path: Path, overrides: list[str] | None) -> dict:
    from tasks.params import ParamsError, load_params

    if path.is_dir():
        _fail(f"--params {path}: is a directory; pass the params file, e.g. --params {path / 'params.yaml'}", 2)
    try:
        return load_params(path, overrides)
    except ParamsError as err:
        _fail(str(err), 2)
    except OSError as err:
        _fail(f"--params {path}: cannot be read ({err.strerror or err})", 2)


@app.command()
def run(
    problem: RunProblem = typer.Option(RunProblem.n21, help="One problem type, or all"),
    set_: Optional[list[str]] = SetOption,
    params_file: Path = ParamsOption,
) -> None:
    """Run the whole Prefect flow for one problem type (or all) and print one JSON line each."""
    problem = problem.value
    from flows.lock import check_folders
    from flows.stages import available_problems, problem_for, resolve, stages_for
    from tasks.params import section

    params = _params(params_file, set_)
    problems = available_problems() if problem == "all" else [problem]
    for name in problems:
        try:
            stages_for(name)
            check_folders(name, section(params, name))  # every problem's folders, before any stage runs
        except (KeyError, ValueError) as err:
            _fail(str(err).strip('"'), 2)
    from flows.pipeline import run_problem_flow

    for name in problems:
        p = params[name]
        try:
            with errors.quiet_prefect_console():  # tracebacks to the error log; the dashboard has them too
                run_problem_flow(name, p)
        except Exception as err:  # a failed stage: its message says what to fix
            _fail(f"{name} flow failed: {err}", logged=True)
        metrics_path = resolve("${work_dir}/eval/metrics.json", p)
        metrics = json.loads(Path(metrics_path).read_text(encoding="utf-8"))
        print(
            json.dumps(
                {
                    "problem": name,
                    "model_dir": p["model_dir"],
                    "metrics_path": metrics_path,
                    "metrics": problem_for(name).headline(metrics),
                },
                ensure_ascii=False,
            )
        )


ModelOption = typer.Option(
    ..., "--model", help="A model directory (data/n21/model), or champion (champion:n21): the promoted one"
)
ModelProblemOption = typer.Option(None, "--problem", help="Read from the model directory when not given")


def model_dir_for(model: str, problem: str | None, params_file: Path = Path("params.yaml")) -> tuple[Path, str]:
    """--model (a folder or `champion[:problem]`, found through params_file) and --problem -> (model directory,
    its problem type)."""
    from flows.model_problem import ModelProblemError, check_problem, resolve_model

    try:
        model_dir = resolve_model(model, problem, params_file)
        return model_dir, check_problem(model_dir, problem)
    except ModelProblemError as err:
        _fail(str(err), 2)


def _column_mapping(items: list[str]) -> dict:
    mapping = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            _fail(
                f"--column {item!r}: expected FIELD=COLUMN, e.g. --column text=review (--column id=null: no id column)",
                2,
            )
        value = value.strip()
        mapping[key.strip()] = None if value.casefold() in ("", "null", "none") else value
    return mapping


@app.command()
def evaluate(
    model: str = ModelOption,
    data: Path = typer.Option(..., help="A data file in a supported format (n2n, n2path: or a folder of them)"),
    problem: Optional[Problem] = ModelProblemOption,
    format: str = typer.Option(
        None,
        "--format",
        help="n21: nsmc|csv|tsv|jsonl|parquet; n2n: kmou|klp|klue|jsonl; "
        "n2m: chatbot|csv|tsv|jsonl; n2path: conllu|klue_dp "
        "(default: from the suffix)",
    ),
    column: Optional[list[str]] = typer.Option(
        None,
        help="FIELD=COLUMN: n21 id|text|label, n2m question|answer|label; "
        "id=null numbers the rows (default: the training columns)",
    ),
    header: bool = typer.Option(
        True, "--header/--no-header", help="CSV/TSV without a header line: columns by position (--column text=1)"
    ),
    encoding: str = typer.Option("utf-8"),
    out: Optional[Path] = typer.Option(
        None, help="Write the metrics JSON here; quarantined rows go to <stem>.quarantine.parquet beside it"
    ),
    params_file: Path = typer.Option(
        Path("params.yaml"), "--params", help="Where --model champion finds promote.champion_dir"
    ),
) -> None:
    """Evaluate a trained model on any file; prints the metrics and writes them as JSON."""
    from tasks import io
    from tasks.evaluate_data import check_data_path, check_format, for_evaluate

    model_dir, name = model_dir_for(model, _value(problem), params_file)
    if out is not None and out.is_dir():
        _fail(f"--out {out}: is a directory; pass a file name, e.g. --out {out / 'metrics.json'}", 2)
    declared = _problem(name)
    mapping = _column_mapping(column or [])
    fmt = format or declared.format_for(data)
    try:
        check_data_path(data, folder_ok=declared.data_folders)
        check_format(name, fmt, declared.formats())
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err), 2)
    out_dir = (out.parent if out else model_dir / "..").resolve() / f"eval-{data.stem}"
    quarantine = out.with_name(f"{out.stem}.quarantine.parquet") if out else out_dir / "quarantine.parquet"
    try:
        metrics = declared.evaluate_command(
            model_dir, data, fmt, encoding, mapping, out_dir, header=header, quarantine_path=quarantine
        )
    except (FileNotFoundError, ValueError, KeyError) as err:
        _fail(for_evaluate(str(err).strip('"') if isinstance(err, KeyError) else str(err)), 2)
    if metrics.get("quarantine_path"):
        typer.echo(
            f"{metrics['rows_quarantined']} row(s) of {data} were quarantined and not scored; each, with its "
            f"line and reason: {metrics['quarantine_path']}",
            err=True,
        )
    if out:
        io.write_json(metrics, out)
    print(json.dumps(metrics, ensure_ascii=False))


class Output(str, Enum):
    json = "json"
    conllu = "conllu"


@app.command()
def predict(
    text: Optional[list[str]] = typer.Argument(None, help="Texts; one per line from stdin when none (and no --data)"),
    model: str = ModelOption,
    problem: Optional[Problem] = ModelProblemOption,
    data: Optional[Path] = typer.Option(None, "--data", help="Predict every record of this file, streamed in batches"),
    format: Optional[str] = typer.Option(
        None,
        "--format",
        help="--data's format (default: from the suffix; .txt: one "
        "text per line). lines, or n21: csv|tsv|nsmc|jsonl|parquet; n2n: "
        "jsonl|kmou|klp|klue; n2m: csv|tsv|chatbot|jsonl; n2path: conllu|klue_dp",
    ),
    column: Optional[list[str]] = typer.Option(
        None,
        help="--data's columns, FIELD=COLUMN: text (n2m: question) and "
        "id; id=null numbers the rows. Default: the training "
        "file's names",
    ),
    header: bool = typer.Option(
        True,
        "--header/--no-header",
        help="--no-header: CSV/TSV without a header line; columns by position (--column text=1)",
    ),
    encoding: str = typer.Option("utf-8", help="--data's encoding"),
    out: Optional[Path] = typer.Option(
        None,
        help="Write the predictions to a .parquet or .jsonl file (n2path: or "
        ".conllu) instead of stdout; written when complete",
    ),
    output: Optional[Output] = typer.Option(None, help="On stdout: JSON lines, or CoNLL-U (n2path only, its default)"),
    batch_rows: int = typer.Option(256, min=1, help="Texts predicted together"),
    threads: Optional[int] = typer.Option(
        None, min=0, help="torch threads (default: the model's train.threads, else 1; 0: every core)"
    ),
) -> None:
    """Predict for texts given as arguments, on stdin, or in a file (--data): one JSON line each (n2path: CoNLL-U).

    An empty (or overlong) text given as an argument or on stdin is refused; in a --data file its row is
    written with `error` set and no prediction, and counted on stderr."""
    from flows.stages import problem_for
    from tasks.predict import text_error
    from tasks.predict_io import OUTPUTS, predict_to
    from tasks.predict_read import PredictInputError, default_format, read_items, stdin_items, text_items

    model_dir, name = model_dir_for(model, _value(problem))
    predictor_class = problem_for(name).predictor()
    if data is not None and text:
        _fail("give texts as arguments or --data FILE, not both", 2)
    if data is None and (format or column or not header):
        _fail("--format, --column and --no-header describe a --data file; pass --data FILE", 2)
    shown = output or (Output.conllu if predictor_class.conllu else Output.json)
    if shown == Output.conllu and not predictor_class.conllu:
        _fail(f"--output conllu prints dependency trees: an n2path model's; {model_dir} is an {name} model", 2)
    if out is not None and (out.is_dir() or out.suffix.lower() not in OUTPUTS):
        _fail(
            f"--out {out}: pass a file name ending in .parquet or .jsonl"
            + (" (or .conllu)" if predictor_class.conllu else ""),
            2,
        )
    for k, t in enumerate(text or [], 1):
        if error := text_error(t):
            _fail(f"text {k} of {len(text)}: {error}; pass only texts with some words", 2)
    try:
        if data is not None:
            fmt = format or default_format(predictor_class, data)
            params_json = model_dir / "params.json"
            trained = json.loads(params_json.read_text(encoding="utf-8")).get("data") if params_json.is_file() else None
            items = read_items(
                predictor_class, data, fmt, encoding, _column_mapping(column or []), header, trained, batch_rows
            )
            refuse = None
        elif text:
            items, refuse = text_items(text), "text {row}"
        else:
            items, refuse = stdin_items(), "stdin line {row}"
        predictor = predictor_class(model_dir, batch_rows, threads)
        counts = predict_to(
            predictor,
            items,
            out,
            conllu=shown == Output.conllu,
            batch_rows=batch_rows,
            refuse=refuse,
            progress=data is not None,
        )
    except (PredictInputError, FileNotFoundError, ValueError, RuntimeError) as err:
        _fail(str(err), 2)
    if counts["rows"] == 0 and data is None:
        _fail("no text given: pass texts as arguments, one per line on stdin, or --data FILE", 2)
    if data is not None or out is not None:
        flagged = "; ".join(f"{reason}: {n}" for reason, n in sorted(counts["errors"].items(), key=lambda kv: -kv[1]))
        typer.echo(
            f"{counts['predicted']} of {counts['rows']} row(s) predicted"
            + (f", {counts['flagged']} written without a prediction (column error: {flagged})" if flagged else "")
            + (f"; wrote {out}" if out else ""),
            err=True,
        )


@app.command()
def doctor() -> None:
    """Check Java/JVM, each KoNLPy tagger and package versions, and say what to fix."""
    from flows.doctor import run_checks

    raise typer.Exit(0 if run_checks(print) else 1)


@app.command()
def stage(problem: Problem, name: str, set_: Optional[list[str]] = SetOption, params_file: Path = ParamsOption) -> None:
    """Run one stage without Prefect (what each dvc.yaml stage calls)."""
    from flows.pipeline import run_stage

    problem = problem.value
    params = _params(params_file, set_)
    try:
        report = run_stage(problem, name, params[problem])
    except Exception as err:
        _fail(f"{problem}.{name}: {err}", logged=True)
    print(json.dumps({"stage": f"{problem}.{name}", **report}, ensure_ascii=False, default=str))


@app.command()
def bench(
    entry: Optional[list[str]] = typer.Option(
        None,
        "--entry",
        help="One benchmark entry (bench/overlays/ENTRY.yaml, "
        "e.g. n21_nsmc); repeat for several. Default: those of --problem",
    ),
    problem: BenchProblem = typer.Option(
        "all",
        help="Every entry of one problem type, all, labels (the label review on flipped NSMC labels), "
        "or perf (as --perf)",
    ),
    seeds: str = typer.Option("13,1,2", help="Seeds, comma-separated; each sets the data split seed and train.seed"),
    datasets: Path = typer.Option(Path("../shared/datasets"), help="Folder with the real Korean datasets"),
    params_file: Path = ParamsOption,
    out_dir: Path = typer.Option(Path("reports"), help="Where bench.json and bench.md go"),
    perf: bool = typer.Option(False, "--perf", help="Performance figures instead (perf.json, perf.md; bench/perf.py)"),
) -> None:
    """Real-data benchmark from the project checkout: each entry over several seeds, next to a baseline built on
    the same split, with mean ± sd and paired bootstrap intervals (slow; not CI). Exits 1 when one misses its floor."""
    root = Path.cwd()
    if not (root / "bench" / "__init__.py").is_file():
        _fail(
            f"run hanflow bench from the project checkout: {root} has no bench/ (the benchmark is not part of the "
            "installed package)",
            2,
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))  # bench/ is a folder of the checkout, not an installed package
    problem = problem.value
    if perf or problem == "perf":
        from bench.perf import markdown, run_perf

        print(markdown(run_perf(datasets, params_file, out_dir)).split("```json")[0])
        return
    if problem == "labels":
        _label_noise(datasets, out_dir)
        return
    from bench.quality import parse_seeds, run_bench, select_entries

    try:
        names, seed_list = select_entries(entry, problem), parse_seeds(seeds)
    except ValueError as err:
        _fail(str(err), 2)
    results = run_bench(names, seed_list, datasets, params_file, out_dir)
    print((out_dir / "bench.md").read_text(encoding="utf-8"))
    if problem == "all" and not entry:  # the whole benchmark includes the label review's
        _label_noise(datasets, out_dir)
    if any(status in ("failed", "not met") for status in results["this_run"].values()):
        raise typer.Exit(1)


def _label_noise(datasets: Path, out_dir: Path) -> None:
    from bench.label_noise import markdown, run

    found = run(datasets, out_dir)
    print(markdown(found) if "skipped" not in found else found["skipped"])


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

ProblemsOption = typer.Option(None, "--problem", help="Repeat for several (default: all)")
RepoOption = typer.Option(Path("."), "--repo", help="The DVC repo holding params.yaml and dvc.yaml")
PushOption = typer.Option(True, "--push/--no-push", help="dvc push data and champion after a promotion")
CommitOption = typer.Option(
    True,
    "--commit/--no-commit",
    help="git commit the champion's current.dvc and registry.jsonl after a promotion "
    "or rollback (also params <problem>.promote.git_commit)",
)


@app.command()
def dashboard(
    port: Optional[int] = typer.Option(None, help="Port on 127.0.0.1 (default 4200, $HANFLOW_PREFECT_PORT)"),
    stop: bool = typer.Option(
        False, "--stop", help="Stop the servers hanflow started on that port (never a process it did not start)"
    ),
) -> None:
    """Start the Prefect server on 127.0.0.1 and the report file server beside it (or find them); print their URLs."""
    from flows.files import URL_ENV, file_server_env
    from flows.server import AUTH_ENV, ServerError, auth_string, ensure_server, stop_server

    if stop:
        for line in stop_server(port)[1]:
            print(line)
        return
    try:
        url = ensure_server(port)
        auth = auth_string()
    except ServerError as err:
        _fail(str(err))
    print(f"Prefect dashboard: {url.removesuffix('/api')}")
    print(
        f"API: {url}  (hanflow run/retrain/schedule find it by themselves; other tools: export PREFECT_API_URL={url})"
    )
    files = file_server_env(url).get(URL_ENV)
    if files:
        print(f"Reports and Data Docs: {files}/  (the links in the dashboard's artifacts open here)")
    print(
        f"Password: {'required (' + AUTH_ENV + ')' if auth else f'none (set {AUTH_ENV}=user:password to require one)'}"
    )


def _retrain_failure(err: Exception) -> None:
    from flows.lock import LockedError

    locked = isinstance(err, LockedError) or "this run refuses" in str(err)
    _fail(str(err), 3 if locked else 1, logged=not locked)


@app.command()
def retrain(
    problem: Optional[list[Problem]] = ProblemsOption,
    repo: Path = RepoOption,
    push: bool = PushOption,
    commit: bool = CommitOption,
    wait: float = typer.Option(0.0, help="Seconds to queue behind a running retrain (0: refuse at once)"),
) -> None:
    """One retraining run now: take in the raw data, `dvc repro` what changed, promote a challenger at least as good."""
    from flows.server import prefect_api

    problem = [p.value for p in problem or []]
    try:
        with errors.quiet_prefect_console(), prefect_api():
            from flows.schedule import retrain_flow

            results = retrain_flow(problems=problem or None, repo=str(repo), push=push, wait_s=wait, commit=commit)
    except Exception as err:  # ServerError, LockedError or a failed run: the flow logs have the details
        _retrain_failure(err)
    for name, d in results.items():
        print(
            json.dumps(
                {
                    "problem": name,
                    **{
                        k: d.get(k)
                        for k in (
                            "decision",
                            "reason",
                            "metric",
                            "challenger_score",
                            "champion_score",
                            "champion_version",
                            "data_version",
                            "stages_rerun",
                            "dvc_file",
                            "git_commit",
                        )
                    },
                },
                ensure_ascii=False,
            )
        )


@app.command()
def schedule(
    cron: str = typer.Option(..., help='Cron expression, e.g. "0 3 * * *" (03:00 daily)'),
    problem: Optional[list[Problem]] = ProblemsOption,
    repo: Path = RepoOption,
    push: bool = PushOption,
    commit: bool = CommitOption,
    name: str = typer.Option("nightly", help="Deployment name"),
    run_now: bool = typer.Option(False, "--run-now", help="Also start one run right away"),
) -> None:
    """Serve the retraining deployment on a cron schedule, one run at a time (blocks; Ctrl-C pauses it)."""
    from prefect.client.schemas.schedules import CronSchedule

    from flows.server import ServerError, prefect_api

    problem = [p.value for p in problem or []]
    try:
        CronSchedule(cron=cron)
    except ValueError:
        _fail(
            f'--cron {cron!r} is not a cron expression (minute hour day-of-month month day-of-week, e.g. "0 3 * * *")',
            2,
        )
    try:
        with prefect_api() as url:
            from flows.schedule import DEPLOYMENT, serve_retraining

            print(
                f"serving {DEPLOYMENT}/{name} on '{cron}' for {', '.join(problem or ['all problems'])}; "
                f"dashboard {url.removesuffix('/api')}",
                file=sys.stderr,
            )
            serve_retraining(cron, problem or None, str(repo), push=push, name=name, run_now=run_now, commit=commit)
    except (ServerError, ValueError) as err:
        _fail(str(err), 2)


@app.command()
def promote(
    problem: Problem = typer.Option(Problem.n21),
    repo: Path = RepoOption,
    push: bool = PushOption,
    commit: bool = CommitOption,
    rollback: bool = typer.Option(False, "--rollback", help="Restore the previous champion"),
    history: bool = typer.Option(False, "--history", help="Print every recorded decision"),
) -> None:
    """Promote `<problem>.model_dir` if it scores at least the champion's primary metric; --rollback undoes the last."""
    from functools import partial

    from flows.champion import ChampionError, ChampionStore, content_hash, decide
    from flows.lock import LockedError, writer_lock
    from flows.schedule import commit_champion, git_version, repo_section, track_and_push
    from flows.stages import stages_for
    from tasks.params import ParamsError

    problem = problem.value
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
                entry = decide(
                    problem,
                    section,
                    section["model_dir"],
                    store,
                    {"data_version": content_hash(section["data"]["path"]), "code_version": git_version(repo)},
                )
            log = partial(print, file=sys.stderr)  # stdout is for the decision's JSON line
            if entry["decision"] in ("promoted", "rollback"):
                if (repo / ".dvc").is_dir():
                    entry["dvc_file"] = track_and_push(
                        store, repo.resolve(), log, push, [f"{problem}-{s.name}" for s in stages_for(problem)]
                    )
                entry["git_commit"] = commit_champion(
                    problem, store, repo, entry, log, commit and section["promote"]["git_commit"]
                )
    except LockedError as err:
        _fail(str(err), 3)
    except (ChampionError, FileNotFoundError, ValueError, RuntimeError) as err:
        _fail(str(err))
    print(json.dumps(entry, ensure_ascii=False, default=str))


def _problem(problem: str):
    try:
        from flows.stages import problem_for

        return problem_for(problem)
    except KeyError as err:
        _fail(str(err).strip('"'), 2)


if __name__ == "__main__":
    app()
