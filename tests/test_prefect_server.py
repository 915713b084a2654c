"""One Prefect API per run, end to end: a real `prefect server start` on loopback, the N21 pipeline run
against it, and its REST API showing the flow run, the task runs and the dashboard's artifacts.

The server gets a free port and its own PREFECT_HOME (a fresh database); it is skipped, not failed, when
it cannot start within PREFECT_E2E_STARTUP_S seconds on a very busy machine. tests/test_schedule.py
serves the retraining deployment on the same server, and tests/test_dashboard.py uses it too (the
`prefect_server` fixture is session-wide).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import sample_section

STARTUP_S = float(os.environ.get("PREFECT_E2E_STARTUP_S", "240"))
# A tiny N21 model: this file is about Prefect, not about accuracy.
N21_TINY = (
    "n21.train.epochs=2",
    "n21.train.emb_dim=16",
    "n21.train.hidden_dim=16",
    "n21.train.ngram_dim=8",
    "n21.encode.ngrams.buckets=1024",
    "n21.train.patience=0",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_SHARED: dict = {}  # the one server of the session, whichever test file asks first


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A real Prefect server on 127.0.0.1:<free port>; yields its API URL.

    Each test file that imports this fixture registers it anew, so the server lives in _SHARED: started
    by the first, stopped when the last is done."""
    from flows.server import ServerError, start_server, stop_process

    if "skip" in _SHARED:
        pytest.skip(_SHARED["skip"])
    if "url" not in _SHARED:
        home = tmp_path_factory.mktemp("prefect-home")
        port = free_port()
        started = time.monotonic()
        try:
            process = start_server(port, home=home, timeout_s=STARTUP_S)
        except ServerError as err:
            if "did not answer within" in str(err):
                _SHARED["skip"] = f"Prefect server not up within {STARTUP_S:.0f}s on this machine: {str(err)[:300]}"
                pytest.skip(_SHARED["skip"])
            raise
        print(f"prefect server on port {port} ready in {time.monotonic() - started:.1f}s")
        _SHARED.update(url=f"http://127.0.0.1:{port}/api", process=process, users=0)
    _SHARED["users"] += 1
    try:
        yield _SHARED["url"]
    finally:
        _SHARED["users"] -= 1
        if not _SHARED["users"]:
            try:
                from prefect.logging.handlers import APILogWorker

                APILogWorker.drain_all(timeout=5)  # ship buffered run logs while the server still answers
            finally:
                stop_process(_SHARED.pop("process").pid, timeout_s=5.0)
                _SHARED.clear()


def api_call(method: str, url: str, path: str, body: dict | None = None):
    """One REST call through Prefect's own HTTP client: it retries what the client retries (429, 502, 503
    while the server's SQLite is locked by another writer on a busy machine, timeouts) and raises on errors."""
    from prefect.client.base import PrefectHttpxSyncClient

    with PrefectHttpxSyncClient(base_url=url, timeout=30) as client:
        return client.request(method, path, json=body).json()


def api_post(url: str, path: str, body: dict | None = None) -> list[dict]:
    return api_call("POST", url, path, body or {})


def api_get(url: str, path: str):
    return api_call("GET", url, path)


def server_home(url: str) -> str:
    return httpx.get(f"{url}/admin/settings", timeout=30).json()["home"]


def test_ensure_server_reuses_its_own_server_refuses_a_foreign_one(prefect_server, monkeypatch, tmp_path):
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    from flows import files, server

    port = int(prefect_server.rsplit(":", 1)[1].split("/")[0])
    started = []
    monkeypatch.setattr(server, "start_server", lambda *a, **k: started.append(a))
    monkeypatch.setattr(files, "ensure_file_server", lambda *a, **k: None)
    with temporary_settings(updates={PREFECT_HOME: server_home(prefect_server)}):  # the server's own home
        assert server.ensure_server(port) == prefect_server and not started  # found answering: reused
    # Another checkout's or user's server (another PREFECT_HOME, so another database): refused, not shared.
    with temporary_settings(updates={PREFECT_HOME: str(tmp_path / "other-home")}):
        with pytest.raises(server.ServerError, match=rf"127.0.0.1:{port} but it is not this hanflow's") as err:
            server.ensure_server(port)
    assert f"HANFLOW_PREFECT_PORT={port + 1}" in str(err.value) and f"PREFECT_API_URL={prefect_server}" in str(
        err.value
    )
    assert not started
    with temporary_settings(updates={PREFECT_API_URL: prefect_server}):  # configured: used deliberately
        assert server.ensure_server() == prefect_server and not started
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):  # nothing listens on port 9
        with pytest.raises(server.ServerError, match="does not answer"):
            server.ensure_server()


def test_ui_talks_to_the_servers_own_port_and_cors_admits_only_that_ui(prefect_server):
    """The fixture's server runs on a free port, not 4200: its UI must call the API on that port."""
    ui = prefect_server.removesuffix("/api")
    assert httpx.get(f"{ui}/ui-settings", timeout=30).json()["api_url"] == prefect_server
    settings = httpx.get(f"{prefect_server}/admin/settings", timeout=30).json()
    assert settings["ui_url"] == ui and settings["api"]["url"] is None  # the server itself has no client URL
    evil = httpx.post(f"{prefect_server}/flows/filter", json={}, headers={"Origin": "http://evil.example"}, timeout=30)
    assert evil.status_code == 200 and "access-control-allow-origin" not in evil.headers
    preflight = httpx.options(
        f"{prefect_server}/flows/",
        timeout=30,
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers  # the browser never sends the POST
    own = httpx.post(f"{prefect_server}/flows/filter", json={}, headers={"Origin": ui}, timeout=30)
    assert own.headers.get("access-control-allow-origin") == ui


def test_pipeline_against_real_server_has_runs_tasks_and_artifacts(prefect_server, tmp_path):
    from flows.pipeline import data_version
    from flows.stages import stages_for

    work = tmp_path / "n21"
    section = sample_section(work, *N21_TINY)
    # `hanflow run` in its own process, as a user runs it: in this process Prefect's event client may
    # already belong to the test harness's server (the session fixture of other test files).
    from tests.conftest import ROOT, SAMPLE

    sets = [f"n21.work_dir={work}", f"n21.model_dir={work / 'model'}", f"n21.data.path={SAMPLE}", *N21_TINY]
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--problem", "n21", *(a for s in sets for a in ("--set", s))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    runs = api_post(
        prefect_server, "flow_runs/filter", {"flow_runs": {"name": {"any_": [f"n21-{data_version(section)}"]}}}
    )
    assert len(runs) == 1 and runs[0]["state_type"] == "COMPLETED", runs
    view = f"View at {prefect_server.removesuffix('/api')}/runs/flow-run/{runs[0]['id']}"
    assert view in done.stdout + done.stderr  # the link names this server's port
    expected = {f"n21.{stage.name}" for stage in stages_for("n21")}
    for _ in range(60):  # Prefect 3 records task runs from events, shipped in the background
        tasks = api_post(prefect_server, "task_runs/filter", {"flow_runs": {"id": {"any_": [runs[0]["id"]]}}})
        names = {t["name"].rsplit("-", 1)[0] for t in tasks}  # task run names are "<task name>-<suffix>"
        if expected <= names and all(t["state_type"] == "COMPLETED" for t in tasks):
            break
        time.sleep(1)
    for stage in stages_for("n21"):
        assert f"n21.{stage.name}" in names, (stage.name, names)
    assert all(t["state_type"] == "COMPLETED" for t in tasks)

    for _ in range(20):  # logs are shipped in batches
        logs = api_post(prefect_server, "logs/filter", {"logs": {"flow_run_id": {"any_": [runs[0]["id"]]}}})
        messages = [log["message"] for log in logs]
        if any(m.startswith("n21.evaluate: done") for m in messages):
            break
        time.sleep(0.5)
    assert any(m.startswith("n21.ingest: done in") and "rows_in" in m for m in messages), messages[:20]

    artifacts = api_post(prefect_server, "artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [runs[0]["id"]]}}})
    by_key = {a["key"]: a for a in artifacts if a.get("key")}
    for key in (
        "n21-ingest-report",
        "n21-validation",
        "n21-class-design-review",
        "n21-metrics",
        "n21-per-class",
        "n21-confusion",
        "n21-learning-curve",
        "n21-dvc-outputs",
    ):
        assert key in by_key, (key, sorted(by_key))
    assert by_key["n21-learning-curve"]["type"] == "image"
    assert by_key["n21-learning-curve"]["data"].startswith("data:image/png;base64,")
    assert "file://" in by_key["n21-dvc-outputs"]["data"] and "model" in by_key["n21-dvc-outputs"]["data"]
