"""Scheduled retraining: take in the raw data, rerun what changed through DVC, promote a better challenger.

`retrain_flow` is what `hanflow retrain` runs once and `hanflow schedule --cron ...` serves as a Prefect
deployment. Each DVC stage is one task (`dvc repro --single-item PROBLEM-STAGE`, which DVC skips when
nothing it depends on changed) with the same artifacts as `hanflow run`; then the champion/challenger
decision (flows/champion.py) and, after a promotion or rollback, `dvc add` of the champion, `dvc push`
and a git commit of the champion's pointer files (current.dvc, registry.jsonl) so other clones can pull it.
One writer at a time: the repo's writer lock refuses a second concurrent run, and the served deployment
runs one flow run at a time (the next scheduled one waits).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.champion import ChampionStore, content_hash, decide, promote_settings, record_failure
from flows.lock import run_lock, writer_lock
from flows.stages import available_problems, report_path, resolve, stages_for

DEPLOYMENT = "hanflow-retrain"


def repo_section(repo: str | Path, problem: str) -> dict:
    """The problem's params section from the repo's params.yaml, with its paths made absolute."""
    from tasks.params import load_params, section

    repo = Path(repo).resolve()
    p = copy.deepcopy(section(load_params(repo / "params.yaml"), problem))
    p.setdefault("promote", {})
    p["promote"] = {**p["promote"], **promote_settings(problem, p)}
    for keys in (("work_dir",), ("model_dir",), ("data", "path"), ("promote", "champion_dir")):
        node = p
        for k in keys[:-1]:
            node = node[k]
        if node.get(keys[-1]) and not Path(str(node[keys[-1]])).is_absolute():
            node[keys[-1]] = str(repo / str(node[keys[-1]]))
    return p


def dvc_command(args: list[str], repo: str | Path, log=None, check: bool = True) -> str:
    """Run `dvc ARGS` in the repo, each output line to `log`; stage commands find `hanflow` on PATH."""
    bindir = Path(sys.executable).parent
    dvc = bindir / "dvc" if (bindir / "dvc").exists() else "dvc"
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = subprocess.Popen(
        [str(dvc), *args], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if log and line.strip():
            log(line.rstrip())
    if process.wait() and check:
        tail = "\n".join(lines[-15:])
        raise RuntimeError(f"`dvc {' '.join(args)}` failed with exit code {process.returncode}:\n{tail}")
    return "\n".join(lines)


def check_dvc_yaml(repo: Path) -> None:
    from flows.stages import dvc_yaml

    path = repo / "dvc.yaml"
    if not path.is_file() or path.read_text(encoding="utf-8") != dvc_yaml():
        raise RuntimeError(f"{path} is missing or stale: run `hanflow dvc-yaml` there (and commit it)")


def _stage_task(problem: str, stage):
    def run(section: dict, repo: str) -> dict:
        from flows.artifacts import publish_counts
        from flows.dashboard import publish_stage_extras

        logger = get_run_logger()
        logger.info("%s.%s: start (dvc repro --single-item %s-%s)", problem, stage.name, problem, stage.name)
        started = time.perf_counter()
        output = dvc_command(["repro", "--single-item", f"{problem}-{stage.name}"], repo, logger.info)
        ran = "Running stage" in output
        report_file = Path(resolve(report_path(stage), section))
        report = {}
        if report_file.is_file():
            import json

            report = json.loads(report_file.read_text(encoding="utf-8"))
        counts = {k: report[k] for k in ("rows_in", "rows_kept", "rows_quarantined") if k in report}
        logger.info(
            "%s.%s: %s in %.1fs %s",
            problem,
            stage.name,
            "ran" if ran else "unchanged, skipped by DVC",
            time.perf_counter() - started,
            counts or "",
        )
        if report:
            publish_counts(problem, stage.name, report)
            if stage.publish:
                stage.publish(report, section)
            publish_stage_extras(problem, stage, section)
        return {"ran": ran, "report": report}

    return task(run, name=f"{problem}.{stage.name}", cache_policy=NO_CACHE, persist_result=False)


def git_version(repo: Path) -> str | None:
    try:
        done = _git(["rev-parse", "--short", "HEAD"], repo)
    except (OSError, subprocess.SubprocessError):  # no git on this machine: the version is simply unknown
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


# Used only when `git commit` fails for want of user.name/user.email (fresh machines, CI runners): a
# promotion should not go uncommitted because nobody configured git there.
GIT_FALLBACK_IDENTITY = ("-c", "user.name=hanflow", "-c", "user.email=hanflow@localhost")
_NO_IDENTITY = (
    "tell me who you are",
    "empty ident",
    "unable to auto-detect",
    "no email was given",
    "no name was given",
)
POINTER_FILES = ("current.dvc", "registry.jsonl", ".gitignore")


def _git(args: list[str], repo: Path, identity: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *identity, *args], cwd=repo, capture_output=True, text=True, timeout=120)


def _score(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else str(value)


def _not_committed(problem: str, step: str, paths: list[str], done: subprocess.CompletedProcess, log) -> None:
    error = (done.stderr or done.stdout).strip().replace("\n", " | ")
    log(
        f"{problem}: `git {step}` of {', '.join(paths)} failed: champion installed but not committed "
        f"(fix the cause below, then commit those files yourself): {error}"
    )


def commit_message(problem: str, decision: dict) -> str:
    """`champion n21: promote 3f2a... (accuracy 0.8600 >= 0.8400)`, then the reason and the versions."""
    version = decision.get("champion_version")
    if decision.get("decision") == "rollback":
        head = f"champion {problem}: rollback to {version} (replacing {decision.get('replaced_version')})"
    else:
        old, gain = decision.get("champion_score"), decision.get("min_gain")
        than = (
            ", no champion before"
            if old is None
            else f" {'>=' if decision.get('higher_is_better', True) else '<='} {_score(old)}"
            + (f" + {gain}" if gain else "")
        )
        score = f"{decision.get('metric')} {_score(decision.get('challenger_score'))}"
        head = f"champion {problem}: promote {version} ({score}{than})"
    body = [
        f"{key}: {decision[key]}"
        for key in ("reason", "data_version", "code_version", "challenger_version")
        if decision.get(key)
    ]
    return "\n\n".join([head, "\n".join(body)]) if body else head


def commit_champion(
    problem: str, store: ChampionStore, repo: str | Path, decision: dict, log=print, enabled: bool = True
) -> str | None:
    """Commit the champion's pointer files and nothing else, so `git pull && dvc pull` elsewhere gets it.

    Returns the new commit's sha. Off, not a git work tree, git missing, nothing changed or a failed
    commit: one logged line and None, never an exception, since the champion is already in place and
    only its record in git is missing. The registry entry of this decision is written before the commit
    and is part of it, so it cannot hold the commit's own sha: the sha goes into the returned decision
    and the log, and `git log -- <champion_dir>/registry.jsonl` ties each registry line to its commit.
    """
    if not enabled:
        log(
            f"{problem}: git commit off (--no-commit or {problem}.promote.git_commit: false): "
            f"champion files left uncommitted"
        )
        return None
    repo = Path(repo).resolve()
    try:
        rel = store.root.resolve().relative_to(repo)
    except ValueError:
        log(f"{problem}: {store.root} is outside {repo}: champion not committed to git")
        return None
    # `--only` commits these paths as they are on disk and leaves whatever else the user staged staged.
    paths = [(rel / name).as_posix() for name in POINTER_FILES if (store.root / name).is_file()]
    if not paths:
        log(f"{problem}: no champion files in {store.root}: nothing to commit")
        return None
    message = commit_message(problem, decision)
    try:
        inside = _git(["rev-parse", "--is-inside-work-tree"], repo)
        if inside.returncode or inside.stdout.strip() != "true":
            log(f"{problem}: {repo} is not a git work tree: champion not committed (git init there to record it)")
            return None
        done = _git(["add", "--", *paths], repo)
        if done.returncode:
            return _not_committed(problem, "add", paths, done, log)
        if not _git(["status", "--porcelain", "--untracked-files=no", "--", *paths], repo).stdout.strip():
            log(f"{problem}: champion files unchanged in git: nothing to commit")
            return None
        commit = ["commit", "--quiet", "--only", "-m", message, "--", *paths]
        done = _git(commit, repo)
        if done.returncode and any(m in (done.stdout + done.stderr).lower() for m in _NO_IDENTITY):
            done = _git(commit, repo, GIT_FALLBACK_IDENTITY)
        if done.returncode:
            return _not_committed(problem, "commit", paths, done, log)
        sha = _git(["rev-parse", "HEAD"], repo).stdout.strip()
    except (OSError, subprocess.SubprocessError) as err:
        log(f"{problem}: git is not available ({err}): champion not committed")
        return None
    log(f"{problem}: committed {', '.join(paths)} as {sha[:12]}: {message.splitlines()[0]}")
    return sha


@task(name="take-in-data", cache_policy=NO_CACHE, persist_result=False)
def take_in_data(problem: str, section: dict, store: ChampionStore, repo: str) -> dict:
    """The raw data as it is now: its version, against the one the last decision saw."""
    logger = get_run_logger()
    data = section["data"]["path"]
    version = content_hash(data)
    if version is None:
        raise FileNotFoundError(f"{problem}: raw data {data} not found (params {problem}.data.path)")
    last = next((e.get("data_version") for e in reversed(store.history()) if e.get("data_version")), None)
    logger.info(
        "%s: raw data %s version %s (%s)",
        problem,
        data,
        version,
        "unchanged since the last decision" if last == version else f"last decision saw {last}",
    )
    return {"data_version": version, "previous_data_version": last, "code_version": git_version(Path(repo))}


@task(name="promote", cache_policy=NO_CACHE, persist_result=False)
def promote_task(problem: str, section: dict, store: ChampionStore, versions: dict) -> dict:
    from flows.dashboard import publish_decision

    decision = decide(problem, section, section["model_dir"], store, versions)
    get_run_logger().info("%s: %s — %s", problem, decision["decision"], decision.get("reason"))
    publish_decision(problem, decision, store.history())
    return decision


def track_and_push(
    store: ChampionStore, repo: Path, log=print, push: bool = True, targets: list[str] = ()
) -> str | None:
    """`dvc add` the champion folder (when it is inside the repo) and push it and `targets` to the default remote."""
    if not store.current.is_dir():
        return None
    try:
        rel = store.current.resolve().relative_to(repo.resolve())
    except ValueError:
        log(f"{store.current} is outside {repo}: not tracked by DVC")
        return None
    dvc_command(["add", str(rel)], repo, log)
    if push:
        remote = dvc_command(["remote", "default"], repo, check=False).strip()
        if not remote or "ERROR" in remote:
            log("no default DVC remote: nothing pushed (dvc remote add -d NAME URL)")
        else:
            dvc_command(["push", *targets, f"{rel}.dvc"], repo, log)
    return f"{rel}.dvc"


@task(name="dvc-push", cache_policy=NO_CACHE, persist_result=False)
def push_task(problem: str, store: ChampionStore, repo: str, push: bool = True) -> str | None:
    logger = get_run_logger()
    targets = [f"{problem}-{s.name}" for s in stages_for(problem)]
    return track_and_push(store, Path(repo), logger.info, push=push, targets=targets)


@task(name="git-commit", cache_policy=NO_CACHE, persist_result=False)
def commit_task(problem: str, store: ChampionStore, repo: str, decision: dict, enabled: bool = True) -> str | None:
    return commit_champion(problem, store, repo, decision, get_run_logger().info, enabled)


def retrain_problem(problem: str, repo: Path, push: bool = True, commit: bool = True) -> dict:
    section = repo_section(repo, problem)
    store = ChampionStore(section["promote"]["champion_dir"])
    with run_lock(problem, section, what=f"hanflow retrain {problem}"):  # its `hanflow stage` children inherit it
        versions: dict = {}
        try:
            versions = take_in_data(problem, section, store, str(repo))
            ran = [s.name for s in stages_for(problem) if _stage_task(problem, s)(section, str(repo))["ran"]]
        except Exception as err:
            record_failure(problem, store, err, versions)
            raise
        from flows.dashboard import publish_dvc_outputs

        publish_dvc_outputs(problem, stages_for(problem), section, repo)
        decision = promote_task(problem, section, store, {**versions, "stages_rerun": ran})
        if decision["decision"] == "promoted":
            decision["dvc_file"] = push_task(problem, store, str(repo), push)  # dvc add, and push unless --no-push
            # After the push: a commit pointing at data the remote does not have would break `dvc pull`.
            decision["git_commit"] = commit_task(
                problem, store, str(repo), decision, commit and section["promote"]["git_commit"]
            )
    return decision


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    repo = Path(params.get("repo") or ".")
    names = []
    for problem in params.get("problems") or available_problems():
        try:
            names.append(f"{problem}-{content_hash(repo_section(repo, problem)['data']['path'], 8)}")
        except Exception:
            names.append(problem)
    return "retrain-" + "+".join(names)


@flow(name=DEPLOYMENT, flow_run_name=_run_name, log_prints=True)
def retrain_flow(
    problems: list[str] | None = None, repo: str = ".", push: bool = True, wait_s: float = 0.0, commit: bool = True
) -> dict:
    """Take in new raw data, rerun changed stages (DVC), evaluate challenger vs champion, promote or refuse."""
    from flows.runs import decision_state, decision_tags, mark_crashed_runs, process_tag, tag_current_run

    tag_current_run(process_tag())  # the next run marks this one crashed if its process is killed
    repo_path = Path(repo).resolve()
    problems = problems or available_problems()
    check_dvc_yaml(repo_path)
    results, failures, decisions = {}, [], {}
    with writer_lock(repo_path, what=f"hanflow retrain {'+'.join(problems)}", wait_s=wait_s):
        mark_crashed_runs(get_run_logger().warning)
        for problem in problems:
            try:
                results[problem] = retrain_problem(problem, repo_path, push, commit)
                decisions[problem] = results[problem]["decision"]
            except Exception as err:  # one problem's failure leaves its champion and the others alone
                get_run_logger().error("%s: retraining failed, champion untouched: %s", problem, err)
                failures.append(f"{problem}: {err}")
                decisions[problem] = "failed"
    tag_current_run(*decision_tags(decisions))  # the run list shows each decision (filter by tag)
    if failures:
        raise RuntimeError("retraining failed for " + "; ".join(failures))
    return decision_state(results)  # Completed, named Promoted / Refused / Kept


def serve_retraining(
    cron: str,
    problems: list[str] | None,
    repo: str,
    push: bool = True,
    name: str = "nightly",
    run_now: bool = False,
    commit: bool = True,
) -> None:
    """Serve the retraining deployment on a cron schedule (blocks; Ctrl-C pauses the schedule)."""
    from prefect.deployments import run_deployment
    from prefect.types.entrypoint import EntrypointType

    parameters = {"problems": problems, "repo": str(Path(repo).resolve()), "push": push, "commit": commit}
    deployment = retrain_flow.to_deployment(
        name=name,
        cron=cron,
        parameters=parameters,
        entrypoint_type=EntrypointType.MODULE_PATH,
        description="Scheduled retraining with champion/challenger promotion",
    )
    if run_now:
        deployment.apply()
        run = run_deployment(f"{DEPLOYMENT}/{name}", timeout=0)
        print(f"queued flow run {run.name} ({run.id}) to start now", file=sys.stderr)
    from prefect import serve

    serve(deployment, limit=1)  # one run at a time: a scheduled run waits for the previous one
