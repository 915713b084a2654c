"""The dashboard tells the truth and exposes little: reports over HTTP on loopback, decisions in the run list,
killed runs marked crashed, servers identified before reuse or stop, basic auth, a loopback Dask dashboard.

Real Prefect servers: the session one of tests/test_prefect_server.py, and one more started the way
`hanflow dashboard` starts it (with a password), in a temporary PREFECT_HOME.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, sample_section
from tests.test_prefect_server import STARTUP_S, api_get, api_post, free_port, prefect_server  # noqa: F401  (a session fixture)


# ---- the report file server


@pytest.fixture(scope="module")
def docs_work(tmp_path_factory) -> Path:
    """A work dir with real GX Data Docs (one failed expectation), its validation.json, a data table and a
    symlink out of it: what the file server must and must not serve."""
    from tasks.n21.validate import validate_n21
    from tests.n21.test_validate import CFG, LABELS, good_rows, make_table

    work = tmp_path_factory.mktemp("work")
    rows = good_rows()
    rows[0]["text"] = "This movie was great"
    report = validate_n21(make_table(rows), LABELS, CFG, docs_dir=work / "validation_docs")
    (work / "validation.json").write_text(json.dumps(report), encoding="utf-8")
    (work / "ingested.parquet").write_bytes(b"PAR1 rows a user wrote")
    (work / ".hanflow.lock").write_text("{}")
    (work / "reports").mkdir()
    (work / "reports" / "ingest.json").write_text('{"rows_in": 3}')
    (work / "reports" / "outside.json").symlink_to(tmp_path_factory.mktemp("secret") / "x.json")
    (work / "reports" / "outside.json").resolve().write_text('{"secret": 1}')
    return work


@pytest.fixture(scope="module")
def file_server(tmp_path_factory):
    """The report file server in a thread; yields the environment `prefect_api` gives a run."""
    from flows.files import REGISTRY_ENV, URL_ENV, make_server

    registry = tmp_path_factory.mktemp("files") / "registry.json"
    server = make_server(0, registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {URL_ENV: f"http://127.0.0.1:{server.server_address[1]}", REGISTRY_ENV: str(registry)}
    finally:
        server.shutdown()
        server.server_close()


def _raw_get(base: str, path: str, host: str | None = None) -> int:
    """GET with the path sent as is (httpx would normalise `..` away)."""
    port = int(base.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", host or f"127.0.0.1:{port}")
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def test_file_server_serves_registered_reports_only(docs_work, file_server, monkeypatch):
    from flows.files import URL_ENV, link

    for key, value in file_server.items():
        monkeypatch.setenv(key, value)
    base = file_server[URL_ENV]
    url = link(docs_work / "validation_docs" / "index.html", docs_work)
    assert url.startswith(f"{base}/work") and url.endswith("/validation_docs/index.html")
    page = httpx.get(url, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "hangul_share" in page.text and page.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(f"{url.rsplit('/', 2)[0]}/validation.json", timeout=10).json()["rows"] > 0  # the docs' ../ link
    key = url.removeprefix(base + "/").split("/")[0]
    listing = httpx.get(f"{base}/{key}/reports/", timeout=10).text
    assert "ingest.json" in listing and "outside.json" not in listing
    for path in (
        f"/{key}/ingested.parquet",
        f"/{key}/.hanflow.lock",
        f"/{key}/reports/outside.json",
        f"/{key}/../../../etc/passwd",
        f"/{key}/%2e%2e/%2e%2e/etc/passwd",
        "/../../etc/passwd",
        f"/{key}/validation_docs/../../{docs_work.name}/ingested.parquet",
        "/nokey-00000000/index.html",
        f"/{key}/%00",
    ):
        assert _raw_get(base, path) == 404, path
    assert _raw_get(base, f"/{key}/reports/ingest.json") == 200
    assert _raw_get(base, f"/{key}/reports/ingest.json", host="evil.example:80") == 403  # DNS rebinding
    assert link(docs_work / "ingested.parquet", docs_work).startswith("file://")  # data: never a served link


def test_dvc_outputs_link_docs_and_reports_not_data(docs_work, file_server, monkeypatch):
    from flows.dashboard import _output_cell
    from flows.files import URL_ENV

    for key, value in file_server.items():
        monkeypatch.setenv(key, value)
    cell = _output_cell(docs_work / "validation_docs", "validation_docs", docs_work)
    assert re.fullmatch(
        rf"\[validation_docs\]\({re.escape(file_server[URL_ENV])}/\S+/validation_docs/index.html\)", cell
    )
    assert _output_cell(docs_work / "ingested.parquet", "ingested.parquet", docs_work) == "`ingested.parquet`"


def test_data_docs_link_in_a_prefect_artifact_opens_over_http(prefect_server, docs_work, file_server):
    from prefect import flow

    from flows.artifacts import validation_hook
    from flows.server import use_api

    @flow(name="hanflow-links")
    def publish() -> None:
        validation_hook("n21", "${work_dir}/validation.json", "${work_dir}/validation_docs")(
            {}, {"work_dir": str(docs_work)}
        )

    with use_api(prefect_server, files=file_server):
        state = publish(return_state=True)
    artifacts = api_post(
        prefect_server,
        "artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [str(state.state_details.flow_run_id)]}}},
    )
    by_key = {a["key"]: a for a in artifacts}
    [docs_url] = re.findall(r"\((http://127\.0\.0\.1:\d+/\S+)\)", by_key["n21-validation-docs"]["data"])
    page = httpx.get(docs_url, timeout=10)
    assert page.status_code == 200 and "hangul_share" in page.text and "FAILED" in page.text
    summary = by_key["n21-validation"]["data"]
    assert "file://" not in summary and docs_url in summary

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed: the HTTP checks above ran, the browser check did not")
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"hanflow-chromium-{os.getpid()}"
    try:
        done = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--dump-dom",
                docs_url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert "hangul_share" in done.stdout and "Not allowed to load local resource" not in done.stderr, done.stderr[
        -2000:
    ]


# ---- what the run list says


@pytest.fixture()
def retrain_repo(tmp_path) -> Path:
    from flows.stages import dvc_yaml

    (tmp_path / "dvc.yaml").write_text(dvc_yaml(), encoding="utf-8")
    return tmp_path


def _read_run(url: str, run_id) -> dict:
    return api_get(url, f"flow_runs/{run_id}")


def test_retrain_run_is_named_after_its_decision_and_tagged(prefect_server, retrain_repo, monkeypatch):
    import flows.schedule as schedule
    from flows.server import use_api

    def run(decisions: dict) -> tuple[object, dict]:
        def retrain_problem(problem, repo, push, commit):
            if decisions[problem] == "failed":
                raise ValueError(f"{problem} ingest failed")
            return {"decision": decisions[problem], "reason": f"{problem} was {decisions[problem]}"}

        monkeypatch.setattr(schedule, "retrain_problem", retrain_problem)
        with use_api(prefect_server):
            state = schedule.retrain_flow(problems=list(decisions), repo=str(retrain_repo), return_state=True)
        return state, _read_run(prefect_server, state.state_details.flow_run_id)

    for decision, name in (("promoted", "Promoted"), ("refused", "Refused"), ("kept", "Kept")):
        state, flow_run = run({"n21": decision})
        assert flow_run["state_type"] == "COMPLETED" and flow_run["state_name"] == name, flow_run["state"]
        assert flow_run["state"]["message"] == f"n21 {decision}: n21 was {decision}"
        assert {f"decision:{decision}", f"n21:{decision}"} <= set(flow_run["tags"])
        assert state.result() == {"n21": {"decision": decision, "reason": f"n21 was {decision}"}}  # what callers get
    _, flow_run = run({"n21": "kept", "n2n": "promoted"})  # the most consequential decision names the run
    assert flow_run["state_name"] == "Promoted" and {"n21:kept", "n2n:promoted"} <= set(flow_run["tags"])
    _, flow_run = run({"n21": "failed"})
    assert flow_run["state_type"] == "FAILED" and "decision:failed" in flow_run["tags"]


def _dead_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def test_a_run_left_running_by_a_killed_process_is_marked_crashed(prefect_server, tmp_path, monkeypatch):
    import socket

    import flows.pipeline as pipeline
    from flows.runs import process_tag
    from flows.server import use_api

    flow_id = api_post(prefect_server, "flows/", {"name": "hanflow-n21"})["id"]
    running = {"type": "RUNNING", "name": "Running"}

    def flow_run(name: str, tag: str) -> str:
        return api_post(
            prefect_server, "flow_runs/", {"flow_id": flow_id, "name": name, "tags": [tag], "state": running}
        )["id"]

    dead = _dead_pid()
    killed = flow_run("n21-killed", process_tag(dead))
    task_run = api_post(
        prefect_server,
        "task_runs/",
        {"flow_run_id": killed, "task_key": "n21.train", "dynamic_key": "0", "name": "n21.train-0", "state": running},
    )["id"]
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        alive = flow_run("n21-alive", process_tag(sleeper.pid))
        elsewhere = flow_run("n21-elsewhere", process_tag(dead, host=f"not-{socket.gethostname()}"))
        monkeypatch.setattr(pipeline, "stages_for", lambda problem: [])  # the next run itself does nothing
        with use_api(prefect_server):
            pipeline.run_problem_flow("n21", sample_section(tmp_path / "n21"))
        old = _read_run(prefect_server, killed)
        assert old["state_type"] == "CRASHED" and f"process {dead} on {socket.gethostname()}" in old["state"]["message"]
        assert api_get(prefect_server, f"task_runs/{task_run}")["state_type"] == "CRASHED"
        assert _read_run(prefect_server, alive)["state_type"] == "RUNNING"  # its process still runs
        assert _read_run(prefect_server, elsewhere)["state_type"] == "RUNNING"  # another host: cannot tell
    finally:
        sleeper.kill()
        sleeper.wait()
    new = api_post(
        prefect_server,
        "flow_runs/filter",
        {"flows": {"name": {"any_": ["hanflow-n21"]}}, "flow_runs": {"tags": {"all_": [process_tag()]}}},
    )
    assert [r["state_type"] for r in new] == ["COMPLETED"]


# ---- servers: identified before reuse or stop, password, Dask on loopback


def test_stop_never_kills_a_process_it_did_not_start(tmp_path):
    from prefect.settings import PREFECT_HOME, temporary_settings

    from flows.server import state_file, stop_server

    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)  # a group leader, as the server is
    try:
        with temporary_settings(updates={PREFECT_HOME: str(tmp_path)}):
            for info in (
                {"pid": sleeper.pid, "process": "1 prefect server start --port 4999"},  # the pid was reused
                {"pid": sleeper.pid},
            ):  # a state file without the identity: the command is no server
                state_file(4999).write_text(json.dumps(info), encoding="utf-8")
                stopped, lines = stop_server(4999)
                assert not stopped and sleeper.poll() is None, lines
                assert "nothing stopped" in lines[0] and not state_file(4999).exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_dashboard_server_with_password_on_its_own_port(tmp_path, monkeypatch):
    """`hanflow dashboard --port N` with HANFLOW_PREFECT_AUTH: the UI and links name port N, a request without
    the password is refused, hanflow's own client works, another PREFECT_HOME does not reuse it, stop stops it."""
    from prefect.settings import PREFECT_HOME, temporary_settings

    from flows.files import URL_ENV, file_server_env, files_state
    from flows.server import ServerError, auth_headers, ensure_server, healthy, state_file, stop_process, stop_server

    home, port, auth = tmp_path / "home", free_port(), "alice:s3cret"
    monkeypatch.setenv("HANFLOW_PREFECT_AUTH", auth)
    with temporary_settings(updates={PREFECT_HOME: str(home)}):
        try:
            url = ensure_server(port, timeout_s=STARTUP_S)
            info = json.loads(state_file(port).read_text(encoding="utf-8"))
            assert info["process"] and info["home"] == str(home.resolve())
            files = file_server_env(url)[URL_ENV]

            assert httpx.post(f"{url}/flows/filter", json={}, timeout=30).status_code == 401
            assert httpx.get(f"{url}/health", timeout=30).status_code == 200
            ui = httpx.get(f"{url.removesuffix('/api')}/ui-settings", timeout=30).json()
            assert ui["api_url"] == url and ui["auth"] == "BASIC"

            work = tmp_path / "work"
            (work / "reports").mkdir(parents=True)
            (work / "reports" / "train.json").write_text('{"epochs": 2}')
            code = (
                "from prefect import flow\nfrom prefect.artifacts import create_link_artifact\n"
                "from flows.files import link\nfrom flows.server import prefect_api\n"
                "@flow(name='hanflow-auth-check')\ndef check():\n"
                f"    create_link_artifact(link({str(work / 'reports' / 'train.json')!r}, {str(work)!r}), key='k')\n"
                "with prefect_api():\n    check()\n"
            )
            env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
            env.update(PREFECT_HOME=str(home), HANFLOW_PREFECT_PORT=str(port), HANFLOW_PREFECT_AUTH=auth)
            done = subprocess.run(
                [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
            )
            assert done.returncode == 0, done.stderr[-3000:]
            assert f"View at http://127.0.0.1:{port}/runs/flow-run/" in done.stdout + done.stderr
            runs = httpx.post(
                f"{url}/flow_runs/filter",
                headers=auth_headers(auth),
                timeout=30,
                json={"flows": {"name": {"any_": ["hanflow-auth-check"]}}},
            ).json()
            assert [r["state_type"] for r in runs] == ["COMPLETED"]
            artifacts = httpx.post(
                f"{url}/artifacts/filter",
                headers=auth_headers(auth),
                timeout=30,
                json={"artifacts": {"key": {"any_": ["k"]}}},
            ).json()
            [report] = re.findall(r"\((http://\S+)\)", artifacts[0]["data"])
            assert report.startswith(f"{files}/work-") and report.endswith("/reports/train.json")
            assert httpx.get(report, timeout=10).status_code == 401  # the file server asks for the password too
            assert httpx.get(report, headers=auth_headers(auth), timeout=10).json() == {"epochs": 2}

            monkeypatch.setenv("HANFLOW_PREFECT_AUTH", "alice:wrong")
            with pytest.raises(ServerError, match="refuses the user:password"):
                ensure_server(port)
            monkeypatch.setenv("HANFLOW_PREFECT_AUTH", auth)
            with temporary_settings(updates={PREFECT_HOME: str(tmp_path / "other-checkout")}):
                with pytest.raises(ServerError, match="not this hanflow's"):
                    ensure_server(port)
        finally:
            stopped, lines = stop_server(port)
            for path in (state_file(port), files_state(port)):  # a failed assertion above must not leak servers
                if path.exists() and json.loads(path.read_text()).get("pid"):
                    stop_process(json.loads(path.read_text())["pid"])
    assert stopped and [line.split(" on ")[0] for line in lines] == [
        "stopped the Prefect server",
        "stopped the report file server",
    ]
    assert not healthy(url) and not healthy(files)


def test_dask_local_cluster_binds_loopback(monkeypatch):
    prefect_dask = pytest.importorskip("prefect_dask")
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tasks import partition

    seen = []

    class Built(Exception):
        pass

    def runner(**kwargs):
        seen.append(kwargs["cluster_kwargs"])
        raise Built

    monkeypatch.setattr(prefect_dask, "DaskTaskRunner", runner)
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        for wide in (None, "0.0.0.0:8787"):
            if wide:
                monkeypatch.setenv("HANFLOW_DASK_DASHBOARD", wide)
            with pytest.raises(Built):
                partition._dask({}, lambda part, cfg: part, lambda map_fn: None, 2, None, "t")
    assert seen[0]["dashboard_address"] == "127.0.0.1:0" and seen[0]["host"] == "127.0.0.1"
    assert seen[1]["dashboard_address"] == "0.0.0.0:8787"  # asked for on purpose
