"""One Prefect API per run: the configured PREFECT_API_URL, else one local server, started once and reused.

Without an API URL every Prefect process starts its own temporary server (~8 s, ~700 MB here).
`ensure_server` starts `prefect server start --host 127.0.0.1 --port N` in the background the
first time (its pid, URL and log go to PREFECT_HOME/hanflow-server-N.json) and later runs find it
answering and reuse it; `use_api` points this process and its children at it. DVC stage processes
(`hanflow stage`) never talk to Prefect at all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

HOST = "127.0.0.1"
DEFAULT_PORT = int(os.environ.get("HANFLOW_PREFECT_PORT", "4200"))


class ServerError(RuntimeError):
    pass


def configured_api_url() -> str | None:
    """PREFECT_API_URL from the environment, the active Prefect profile or a test harness; None when unset."""
    from prefect.settings import PREFECT_API_URL

    # The settings context first (a test harness or `use_api`), then the environment as it is now.
    return PREFECT_API_URL.value() or os.environ.get("PREFECT_API_URL") or None


def api_url(port: int = DEFAULT_PORT, host: str = HOST) -> str:
    return f"http://{host}:{port}/api"


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def _home() -> Path:
    from prefect.settings import PREFECT_HOME

    return Path(PREFECT_HOME.value())


def state_file(port: int) -> Path:
    return _home() / f"hanflow-server-{port}.json"


def start_server(port: int, host: str = HOST, home: str | Path | None = None, timeout_s: float = 120.0,
                 log_path: str | Path | None = None) -> subprocess.Popen:
    """Start `prefect server start` detached from this process and wait until it answers.

    `home` gives the server its own PREFECT_HOME (and so its own database), as tests do.
    Raises ServerError with the log's tail when it exits or does not answer within timeout_s.
    """
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    if home is not None:
        env["PREFECT_HOME"] = str(home)
    log_path = Path(log_path or (Path(home) if home else _home()) / f"hanflow-server-{port}.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    prefect = Path(sys.executable).with_name("prefect")
    cmd = [str(prefect) if prefect.exists() else sys.executable, *([] if prefect.exists() else ["-m", "prefect"]),
           "server", "start", "--host", host, "--port", str(port)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, start_new_session=True)
    url, deadline = api_url(port, host), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if healthy(url):
            return process
        if process.poll() is not None:
            if healthy(url):  # another run started it first: use that one
                return process
            raise ServerError(f"`{' '.join(cmd)}` exited with {process.returncode}:\n{_tail(log_path)}")
        time.sleep(0.5)
    stop_process(process.pid)
    raise ServerError(f"the Prefect server on {url} did not answer within {timeout_s:.0f}s (log {log_path}):\n"
                      f"{_tail(log_path)}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop_process(pid: int, timeout_s: float = 10.0) -> None:
    """SIGTERM the server's process group (uvicorn and its children), SIGKILL if it lingers."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # stdout stays the commands' JSON lines


def ensure_server(port: int | None = None, timeout_s: float = 120.0, log=_stderr) -> str:
    """The API URL this run uses: PREFECT_API_URL if configured, else a local server started or reused."""
    configured = configured_api_url()
    if configured and port is None:
        local = any(h in configured for h in ("://127.0.0.1", "://localhost", "://[::1]"))
        if local and not healthy(configured, timeout=5.0):
            raise ServerError(f"PREFECT_API_URL={configured} does not answer: start that server "
                              "(`hanflow dashboard`) or unset PREFECT_API_URL")
        return configured
    port = port or DEFAULT_PORT
    url = api_url(port)
    if healthy(url):
        return url
    log(f"starting the Prefect server on http://{HOST}:{port} (once; later runs reuse it; "
        "`hanflow dashboard --stop` stops it)")
    started = time.monotonic()
    process = start_server(port, timeout_s=timeout_s)
    info = {"pid": process.pid, "url": url, "ui": url.removesuffix("/api"),
            "log": str(_home() / f"hanflow-server-{port}.log"), "started": time.time()}
    state_file(port).write_text(json.dumps(info), encoding="utf-8")
    log(f"Prefect server ready in {time.monotonic() - started:.1f}s: {info['ui']}")
    return url


def stop_server(port: int | None = None) -> bool:
    """Stop the server `ensure_server` started on this port; False when there was none."""
    path = state_file(port or DEFAULT_PORT)
    if not path.exists():
        return False
    info = json.loads(path.read_text(encoding="utf-8"))
    stop_process(int(info["pid"]))
    path.unlink(missing_ok=True)
    return True


@contextmanager
def use_api(url: str) -> Iterator[str]:
    """Point this process (Prefect settings) and the processes it starts (environment) at `url`."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


@contextmanager
def prefect_api(port: int | None = None) -> Iterator[str]:
    """ensure_server + use_api: the one API this run and its children talk to."""
    with use_api(ensure_server(port)) as url:
        yield url
