"""One Prefect API per run: the configured PREFECT_API_URL, else one local server, started once and reused.

Without an API URL every Prefect process starts its own temporary server (~8 s, ~700 MB here).
`ensure_server` starts `prefect server start --host 127.0.0.1 --port N` in the background the
first time (its pid, process identity, PREFECT_HOME, URL and log go to PREFECT_HOME/hanflow-server-N.json),
beside it the report file server of flows/files.py, and later runs find it answering and reuse it, but
only when the server says it runs on this run's PREFECT_HOME (its own database): a server of another
checkout or user on that port is refused, never silently shared. `stop_server` stops only a process
that is still the one it started. `use_api` points this process and its children at the API.
DVC stage processes (`hanflow stage`) never talk to Prefect at all.

The server answers cross-origin requests only from its own UI's origin, and with HANFLOW_PREFECT_AUTH=
user:password it requires that password (HTTP basic auth) from every API client, hanflow's included.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

HOST = "127.0.0.1"
DEFAULT_PORT = int(os.environ.get("HANFLOW_PREFECT_PORT", "4200"))
AUTH_ENV = "HANFLOW_PREFECT_AUTH"


class ServerError(RuntimeError):
    pass


def configured_api_url() -> str | None:
    """PREFECT_API_URL from the environment, the active Prefect profile or a test harness; None when unset."""
    from prefect.settings import PREFECT_API_URL

    # The settings context first (a test harness or `use_api`), then the environment as it is now.
    return PREFECT_API_URL.value() or os.environ.get("PREFECT_API_URL") or None


def api_url(port: int = DEFAULT_PORT, host: str = HOST) -> str:
    return f"http://{host}:{port}/api"


def auth_string() -> str | None:
    """`user:password` for HTTP basic auth: HANFLOW_PREFECT_AUTH, else Prefect's PREFECT_API_AUTH_STRING; None: off."""
    value = os.environ.get(AUTH_ENV)
    if not value:
        from prefect.settings import PREFECT_API_AUTH_STRING

        secret = PREFECT_API_AUTH_STRING.value()
        value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else secret
    if value and ":" not in value:
        raise ServerError(f"{AUTH_ENV} must be user:password (got no ':')")
    return value or None


def auth_headers(auth: str | None) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}


def ui_origins(port: int, host: str = HOST) -> list[str]:
    """The origins a browser shows the UI under: only these may make cross-origin API requests."""
    names = [host, "localhost"] if host == HOST else [host]
    return [f"http://{name}:{port}" for name in names]


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


def server_env(port: int, host: str = HOST, home: str | Path | None = None, auth: str | None = None) -> dict:
    """The server's environment: its UI talks to this port (`server start --port` alone leaves the UI on
    PREFECT_SERVER_API_PORT, 4200), its links name it, CORS admits only its UI, auth when given."""
    base = f"http://{host}:{port}"
    env = {
        **os.environ,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": f"{base}/api",
        "PREFECT_UI_URL": base,
        "PREFECT_SERVER_CORS_ALLOWED_ORIGINS": ",".join(ui_origins(port, host)),
    }
    env.pop("PREFECT_API_URL", None)
    if home is not None:
        env["PREFECT_HOME"] = str(home)
    if auth:
        env["PREFECT_SERVER_API_AUTH_STRING"] = auth
    else:
        env.pop("PREFECT_SERVER_API_AUTH_STRING", None)
    return env


def start_server(
    port: int,
    host: str = HOST,
    home: str | Path | None = None,
    timeout_s: float = 120.0,
    log_path: str | Path | None = None,
    auth: str | None = None,
) -> subprocess.Popen:
    """Start `prefect server start` detached from this process and wait until it answers.

    `home` gives the server its own PREFECT_HOME (and so its own database), as tests do.
    Raises ServerError with the log's tail when it exits or does not answer within timeout_s.
    """
    env = server_env(port, host, home, auth)
    log_path = Path(log_path or (Path(home) if home else _home()) / f"hanflow-server-{port}.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    prefect = Path(sys.executable).with_name("prefect")
    cmd = [
        str(prefect) if prefect.exists() else sys.executable,
        *([] if prefect.exists() else ["-m", "prefect"]),
        "server",
        "start",
        "--host",
        host,
        "--port",
        str(port),
    ]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    url, deadline = api_url(port, host), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if healthy(url):
            return process
        if process.poll() is not None:
            if healthy(url):  # another run started it first: the caller checks whose it is
                return process
            raise ServerError(f"`{' '.join(cmd)}` exited with {process.returncode}:\n{_tail(log_path)}")
        time.sleep(0.5)
    stop_process(process.pid)
    raise ServerError(
        f"the Prefect server on {url} did not answer within {timeout_s:.0f}s (log {log_path}):\n{_tail(log_path)}"
    )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def process_identity(pid: int) -> str | None:
    """The process's start time and command line, None when no such process: a pid alone may be reused."""
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").is_dir():
        try:
            started = (proc / "stat").read_text().rsplit(")", 1)[1].split()[19]  # field 22: start time in ticks
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError):
            return None
        return f"{started} {cmdline}"
    try:  # no /proc (macOS): POSIX ps
        done = subprocess.run(
            ["ps", "-o", "lstart=", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return " ".join(done.stdout.split()) or None


def owned_process(info: dict, expect: tuple[str, ...]) -> tuple[bool, str]:
    """Is the process a state file names still the one hanflow started? (yes/no, why not)."""
    pid = int(info.get("pid") or 0)
    now = process_identity(pid) if pid > 0 else None
    if now is None:
        return False, f"pid {pid} is no longer running"
    if info.get("process"):
        if now != info["process"]:
            return False, f"pid {pid} now belongs to another process ({now[:120]})"
    elif not all(word in now.split() for word in expect):  # a state file without the identity: check the command
        return False, f"pid {pid} is not {' '.join(expect)} ({now[:120]})"
    return True, ""


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


def stop_recorded(path: Path, what: str, expect: tuple[str, ...]) -> tuple[bool, str]:
    """Stop the process the state file `path` names if it is still the one hanflow started; drop the file."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    if not info.get("pid"):
        return False, f"no {what} started by hanflow here (no pid in {path})"
    owned, why = owned_process(info, expect)
    path.unlink(missing_ok=True)
    if not owned:
        return False, f"the {what} hanflow started is gone ({why}): nothing stopped, {path.name} removed"
    stop_process(int(info["pid"]))
    return True, f"stopped the {what} on {info.get('ui') or info.get('url')} (pid {info['pid']})"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # stdout stays the commands' JSON lines


def server_home(url: str, auth: str | None = None, timeout: float = 5.0) -> str | None:
    """The PREFECT_HOME the server at `url` runs on (its /admin/settings), None when it does not say."""
    request = urllib.request.Request(f"{url.rstrip('/')}/admin/settings", headers=auth_headers(auth))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read()).get("home")
    except urllib.error.HTTPError as err:
        if err.code == 401:
            said = (
                f"refuses the user:password {AUTH_ENV} gives"
                if auth
                else f"requires a password and {AUTH_ENV} is unset"
            )
            raise ServerError(
                f"the Prefect server on {url.removesuffix('/api')} {said}: set {AUTH_ENV}=user:password "
                "to the one it was started with"
            ) from None
        return None
    except (OSError, ValueError):
        return None


def check_owner(url: str, port: int, auth: str | None) -> None:
    """Refuse a server on our port that runs on another PREFECT_HOME: its runs would land in another database."""
    home, mine = server_home(url, auth), _home().resolve()
    if home is not None and Path(home).resolve() == mine:
        return
    raise ServerError(
        f"a Prefect server already answers on http://{HOST}:{port} but it is not this hanflow's "
        f"(it runs on PREFECT_HOME {home or 'unknown'}, this run on {mine}): hanflow does not reuse it. "
        f"Start your own on another port (HANFLOW_PREFECT_PORT={port + 1} or `hanflow dashboard "
        f"--port {port + 1}`), or set PREFECT_API_URL={url} to use that server deliberately"
    )


def ensure_server(port: int | None = None, timeout_s: float = 120.0, log=_stderr) -> str:
    """The API URL this run uses: PREFECT_API_URL if configured, else a local server started or reused."""
    configured = configured_api_url()
    if configured and port is None:
        local = any(h in configured for h in ("://127.0.0.1", "://localhost", "://[::1]"))
        if local and not healthy(configured, timeout=5.0):
            raise ServerError(
                f"PREFECT_API_URL={configured} does not answer: start that server "
                "(`hanflow dashboard`) or unset PREFECT_API_URL"
            )
        return configured
    port = port or DEFAULT_PORT
    url, auth = api_url(port), auth_string()
    if not healthy(url):
        log(
            f"starting the Prefect server on http://{HOST}:{port} (once; later runs reuse it; "
            "`hanflow dashboard --stop` stops it)"
        )
        started = time.monotonic()
        process = start_server(port, home=_home(), timeout_s=timeout_s, auth=auth)  # the home this run sees
        if process.poll() is None:  # ours (it exited when another run's server took the port first)
            info = {
                "pid": process.pid,
                "process": process_identity(process.pid),
                "url": url,
                "ui": url.removesuffix("/api"),
                "home": str(_home().resolve()),
                "log": str(_home() / f"hanflow-server-{port}.log"),
                "started": time.time(),
            }
            state_file(port).write_text(json.dumps(info), encoding="utf-8")
            log(f"Prefect server ready in {time.monotonic() - started:.1f}s: {info['ui']}")
    check_owner(url, port, auth)
    from flows.files import ensure_file_server

    ensure_file_server(port, log=log)
    return url


def stop_server(port: int | None = None) -> tuple[bool, list[str]]:
    """Stop the Prefect server and the file server `ensure_server` started on this port, each only if it is
    still the process hanflow started. (anything stopped, one line per server)."""
    from flows.files import stop_file_server

    port = port or DEFAULT_PORT
    results = [
        stop_recorded(state_file(port), "Prefect server", ("server", "start", str(port))),
        stop_file_server(port),
    ]
    return any(stopped for stopped, _ in results), [line for _, line in results]


@contextmanager
def use_api(url: str, auth: str | None = None, files: dict | None = None) -> Iterator[str]:
    """Point this process (Prefect settings) and the processes it starts (environment) at `url`: its UI
    links, its basic-auth string and the report file server (`files`: flows/files.py) included."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    env = {"PREFECT_API_URL": url}
    updates = {PREFECT_API_URL: url}
    if url.endswith("/api"):  # a self-hosted server: its "View at" links are the UI on the same port
        env["PREFECT_UI_URL"] = url.removesuffix("/api")
        updates[PREFECT_UI_URL] = env["PREFECT_UI_URL"]
    if auth:
        env["PREFECT_API_AUTH_STRING"] = auth
        updates[PREFECT_API_AUTH_STRING] = auth
    env.update(files or {})
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        with temporary_settings(updates=updates):
            yield url
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def prefect_api(port: int | None = None) -> Iterator[str]:
    """ensure_server + use_api: the one API this run and its children talk to."""
    from flows.files import file_server_env

    url = ensure_server(port)
    with use_api(url, auth_string(), file_server_env(url)) as active:
        yield active
