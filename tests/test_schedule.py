"""Scheduled retraining through DVC and Prefect: the served deployment's immediate run, reruns of only what
changed, champion/challenger on real models, a failed run, one writer at a time, `dvc pull` in a clone, and
offline `dvc plots show`.

Everything runs in a temporary git + DVC copy of the repo with a tiny N21 model and a local DVC remote,
against the real loopback Prefect server of tests/test_prefect_server.py. The tests after the scheduled
run build on the state it leaves (a promoted champion).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from flows.champion import ChampionStore, content_hash
from flows.lock import LockedError, writer_lock
from tests.conftest import ROOT
from tests.test_prefect_server import api_post, prefect_server  # noqa: F401  (a session fixture)

BIN = Path(sys.executable).parent
TINY = {"epochs": 2, "emb_dim": 16, "hidden_dim": 16, "ngram_dim": 8, "patience": 0}


def _sh(*cmd: str, cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


# ---- one writer at a time (no server needed)


def test_second_writer_refuses_clearly_then_queues(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time\nfrom flows.lock import writer_lock\n"
                f"with writer_lock({str(tmp_path)!r}, what='hanflow retrain n21'):\n"
                "    print('locked', flush=True)\n    time.sleep(3)\n"
            ),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockedError, match=rf"hanflow retrain n21 \(pid {holder.pid} .*this run refuses"):
            with writer_lock(tmp_path, what="second run"):
                pass
        started = time.monotonic()
        with writer_lock(tmp_path, what="queued run", wait_s=60, poll_s=0.2):  # waits for the holder to end
            assert time.monotonic() - started > 0.5
    finally:
        holder.wait(30)


def test_deployment_has_cron_schedule_and_module_entrypoint():
    from prefect.types.entrypoint import EntrypointType

    from flows.schedule import retrain_flow

    deployment = retrain_flow.to_deployment(
        name="t", cron="*/5 * * * *", parameters={"problems": ["n21"]}, entrypoint_type=EntrypointType.MODULE_PATH
    )
    assert deployment.entrypoint == "flows.schedule.retrain_flow"
    assert deployment.schedules[0].schedule.cron == "*/5 * * * *"
    assert deployment.parameters == {"problems": ["n21"]}


def test_served_deployment_passes_push_and_commit_switches(monkeypatch, tmp_path):
    import prefect

    import flows.schedule as schedule

    served = []
    monkeypatch.setattr(prefect, "serve", lambda deployment, limit: served.append((deployment, limit)))
    schedule.serve_retraining("0 3 * * *", ["n21"], str(tmp_path), push=False, commit=False)
    ((deployment, limit),) = served
    assert limit == 1 and deployment.parameters == {
        "problems": ["n21"],
        "repo": str(tmp_path.resolve()),
        "push": False,
        "commit": False,
    }


# ---- the retraining repo


@pytest.fixture(scope="module")
def retrain_repo(tmp_path_factory) -> Path:
    from flows.stages import dvc_yaml

    base = tmp_path_factory.mktemp("retrain")
    repo = base / "repo"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files + [".dvc/config", ".dvcignore"]:
        top = name.split("/")[0]
        if top == "tests" or (
            top == "data" and not name.startswith(("data/sample/", "data/schema/", "data/corrections/"))
        ):
            continue
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    params["n21"]["train"].update(TINY)
    params["n21"]["encode"]["ngrams"]["buckets"] = 1024  # a 70 MB model would make copies and pushes slow
    (repo / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (repo / "dvc.yaml").write_text(dvc_yaml(), encoding="utf-8")
    _sh("git", "init", "-q", cwd=repo)
    _sh("dvc", "remote", "add", "-d", "-f", "local", str(base / "remote"), cwd=repo)
    _sh("git", "add", "-A", cwd=repo)
    _sh("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init", cwd=repo)
    return repo


@pytest.fixture(scope="module")
def scheduled_run(prefect_server, retrain_repo, tmp_path_factory) -> dict:
    """`hanflow schedule --cron ... --run-now` served in a subprocess until its immediate run ends."""
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_server,
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    started = time.monotonic()
    with open(log_path, "w") as log:
        serve = subprocess.Popen(
            [
                str(BIN / "hanflow"),
                "schedule",
                "--cron",
                "0 3 * * *",
                "--problem",
                "n21",
                "--repo",
                str(retrain_repo),
                "--name",
                "test-nightly",
                "--run-now",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ended = []
    try:
        while time.monotonic() - started < 900 and not ended:
            runs = api_post(prefect_server, "flow_runs/filter", {"deployments": {"name": {"any_": ["test-nightly"]}}})
            ended = [r for r in runs if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")]
            assert serve.poll() is None, log_path.read_text()
            time.sleep(2)
    finally:
        os.killpg(serve.pid, signal.SIGTERM)  # the served deployment's schedule is paused on shutdown
        serve.wait(60)
    assert ended, f"no run finished in time:\n{log_path.read_text()[-3000:]}"
    return {"run": ended[0], "log": log_path.read_text(), "seconds": time.monotonic() - started}


def test_scheduled_deployment_run_trains_and_promotes(scheduled_run, prefect_server, retrain_repo):
    run = scheduled_run["run"]
    assert run["state_type"] == "COMPLETED", scheduled_run["log"][-3000:]
    # The decision shows in the run list: the state's name, its message and the run's tags.
    assert run["state_name"] == "Promoted" and "n21 promoted: no champion yet" in run["state"]["message"]
    assert {"decision:promoted", "n21:promoted"} <= set(run["tags"]) and any(
        t.startswith("hanflow-pid:") for t in run["tags"]
    )
    data_version = content_hash(retrain_repo / "data/sample/n21_reviews.tsv", 8)
    assert run["name"] == f"retrain-n21-{data_version}"
    deployments = api_post(prefect_server, "deployments/filter", {"deployments": {"name": {"any_": ["test-nightly"]}}})
    assert deployments[0]["schedules"][0]["schedule"]["cron"] == "0 3 * * *"
    tasks = {
        t["name"].rsplit("-", 1)[0]
        for t in api_post(prefect_server, "task_runs/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}})
    }
    expected = {"take-in-data", "n21.ingest", "n21.train", "n21.evaluate", "promote", "dvc-push", "git-commit"}
    assert expected <= tasks, tasks
    keys = {
        a["key"]
        for a in api_post(prefect_server, "artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}})
        if a.get("key")
    }
    assert {"n21-promotion", "n21-registry", "n21-learning-curve", "n21-metrics", "n21-dvc-outputs"} <= keys, keys

    store = ChampionStore(retrain_repo / "champions/n21")
    [entry] = store.history()
    assert entry["decision"] == "promoted" and entry["data_version"] and entry["code_version"]
    assert entry["stages_rerun"] == [
        "ingest",
        "tokenize",
        "encode",
        "vectors",
        "validate",
        "class_design",
        "label_review",
        "train",
        "evaluate",
    ]
    assert content_hash(store.current) == content_hash(retrain_repo / "data/n21/model")
    assert (retrain_repo / "champions/n21/current.dvc").is_file()
    assert list((retrain_repo.parent / "remote").rglob("*.dir")), "champion and data were not pushed"


def _retrain(prefect_server, repo: Path) -> dict:
    from flows.schedule import retrain_flow
    from flows.server import use_api

    with use_api(prefect_server):
        return retrain_flow(problems=["n21"], repo=str(repo))["n21"]


def test_unchanged_data_reruns_nothing_and_keeps_champion(scheduled_run, prefect_server, retrain_repo):
    decision = _retrain(prefect_server, retrain_repo)
    assert decision["stages_rerun"] == [] and decision["decision"] == "kept"


def test_changed_training_param_reruns_train_and_compares_on_one_eval_set(scheduled_run, prefect_server, retrain_repo):
    params_path = retrain_repo / "params.yaml"
    params = yaml.safe_load(params_path.read_text(encoding="utf-8"))
    params["n21"]["train"]["seed"] += 1
    params_path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    before = content_hash(retrain_repo / "champions/n21/current")
    decision = _retrain(prefect_server, retrain_repo)
    assert decision["stages_rerun"] == ["train", "evaluate"]
    assert decision["decision"] in ("promoted", "refused")
    assert decision["challenger_score"] is not None and decision["champion_score"] is not None
    assert decision["eval_set"]["rows"] > 40 and decision["eval_set"]["split"] == "test"
    now = content_hash(retrain_repo / "champions/n21/current")
    promoted = decision["challenger_score"] >= decision["champion_score"]
    assert (decision["decision"] == "promoted") == promoted and (now != before) == promoted
    if promoted:  # committed right away, leaving the edited params.yaml uncommitted
        assert decision["git_commit"] == _sh("git", "rev-parse", "HEAD", cwd=retrain_repo).strip()
        assert " M params.yaml" in _sh("git", "status", "--porcelain", cwd=retrain_repo).splitlines()


def test_failed_run_leaves_champion_untouched(scheduled_run, prefect_server, retrain_repo):
    data = retrain_repo / "data/sample/n21_reviews.tsv"
    good = data.read_bytes()
    before = content_hash(retrain_repo / "champions/n21/current")
    data.write_text("id\tbody\tlabel\n1\t좋아요\tpositive\n", encoding="utf-8")  # no `text` column: ingest fails
    try:
        with pytest.raises(Exception, match="retraining failed for n21"):
            _retrain(prefect_server, retrain_repo)
    finally:
        data.write_bytes(good)
    assert content_hash(retrain_repo / "champions/n21/current") == before
    last = ChampionStore(retrain_repo / "champions/n21").history()[-1]
    assert last["decision"] == "failed" and "n21-ingest" in last["reason"]


def test_concurrent_retrain_is_refused_with_exit_code_3(scheduled_run, prefect_server, retrain_repo, monkeypatch):
    from typer.testing import CliRunner

    from flows.cli import app

    monkeypatch.setenv("PREFECT_API_URL", prefect_server)
    with writer_lock(retrain_repo, what="another hanflow retrain"):
        result = CliRunner().invoke(app, ["retrain", "--problem", "n21", "--repo", str(retrain_repo)])
    assert result.exit_code == 3, result.output
    assert "another hanflow retrain" in result.output and "refuses" in result.output


def test_dvc_pull_in_another_clone_restores_the_champion(scheduled_run, retrain_repo, tmp_path):
    """Each promotion committed the champion's pointer files by itself: a clone needs nothing else."""
    subjects = _sh("git", "log", "--format=%s", cwd=retrain_repo).splitlines()
    assert subjects[0].startswith("champion n21: promote ") and subjects[-1] == "init", subjects
    committed = set(_sh("git", "show", "--name-only", "--format=", "HEAD", cwd=retrain_repo).split())
    assert "champions/n21/current.dvc" in committed and committed <= {
        "champions/n21/current.dvc",
        "champions/n21/registry.jsonl",
        "champions/n21/.gitignore",
    }, committed
    assert "current.dvc" not in _sh("git", "status", "--porcelain", "champions/n21", cwd=retrain_repo)
    clone = tmp_path / "clone"
    _sh("git", "clone", "-q", str(retrain_repo), str(clone), cwd=tmp_path)
    _sh("dvc", "pull", "champions/n21/current.dvc", cwd=clone)
    assert content_hash(clone / "champions/n21/current") == content_hash(retrain_repo / "champions/n21/current")
    registry = (clone / "champions/n21/registry.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(registry[0])["decision"] == "promoted"


def test_dvc_plots_show_renders_offline(scheduled_run, retrain_repo, tmp_path):
    _sh("dvc", "plots", "show", "-o", str(tmp_path / "plots"), cwd=retrain_repo)
    page = (tmp_path / "plots" / "index.html").read_text(encoding="utf-8")
    assert "vegaEmbed(" in page and "cdn.jsdelivr" not in page and "vega-lite@5" in page
