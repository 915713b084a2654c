"""Reports and Data Docs over HTTP on loopback, for the links in Prefect artifacts.

A browser refuses file:// links on a web page ("Not allowed to load local resource"), so `ensure_server`
(`hanflow dashboard`, and every run that starts or reuses hanflow's Prefect server) runs this small
read-only file server beside the Prefect server, on its own port of 127.0.0.1, and artifact links point
at it. It serves only the folders runs registered (a work dir: its Data Docs, reports, evaluation
outputs, validation.json), and in them only report files (SERVED suffixes, no hidden names): never data
tables or model weights, never a path outside a registered folder (symlinks included), and only to
requests addressed to 127.0.0.1 or localhost (a web page cannot reach it through a rebinding domain).
With HANFLOW_PREFECT_AUTH=user:password it asks for the same password as the Prefect server.
Without a hanflow file server (a test harness, a PREFECT_API_URL elsewhere) links stay file:// paths.

    python -m flows.files --port P --registry FILE    (what ensure_file_server starts, detached)
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import hmac
import html
import json
import mimetypes
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

HOST = "127.0.0.1"
SERVED = frozenset({".html", ".htm", ".css", ".json", ".md", ".png", ".svg", ".jpg", ".jpeg", ".txt"})
URL_ENV, REGISTRY_ENV = "HANFLOW_FILES_URL", "HANFLOW_FILES_REGISTRY"
SERVICE = "hanflow-files"
FILES_PORT_OFFSET = 1000  # Prefect on 4200: reports on 5200 (a free port if that one is taken), kept across restarts
MAX_LISTED = 500


# ---- the registry: key -> folder, shared by the runs (writers) and the file server (reader)


def root_key(root: Path) -> str:
    """A stable URL segment for a folder: its name and a hash of its absolute path."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", root.name).strip("-") or "root"
    return f"{name}-{hashlib.sha256(str(root).encode()).hexdigest()[:8]}"


def read_registry(registry: Path) -> dict[str, Path]:
    try:
        roots = json.loads(Path(registry).read_text(encoding="utf-8")).get("roots", {})
    except (OSError, ValueError):
        return {}
    return {key: Path(path) for key, path in roots.items()}


def register(registry: Path, root: Path) -> str:
    """Add a folder to the registry (under a lock, replaced atomically); returns its key."""
    root, registry = Path(root).resolve(), Path(registry)
    key = root_key(root)
    registry.parent.mkdir(parents=True, exist_ok=True)
    with open(registry.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        roots = {k: str(v) for k, v in read_registry(registry).items()}
        if roots.get(key) != str(root):
            roots[key] = str(root)
            tmp = registry.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps({"roots": roots}, indent=1), encoding="utf-8")
            os.replace(tmp, registry)
    return key


def servable(root: Path, path: Path) -> bool:
    """A report file inside `root`: a SERVED suffix, no hidden part, symlinks resolved first."""
    root, path = Path(root).resolve(), Path(path).resolve()
    if not path.is_relative_to(root) or not path.is_file() or path.suffix.lower() not in SERVED:
        return False
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def serving() -> bool:
    """Does this run publish links to hanflow's file server (prefect_api found one)?"""
    return bool(os.environ.get(URL_ENV) and os.environ.get(REGISTRY_ENV))


def link(path: str | Path, root: str | Path | None = None) -> str:
    """The URL a browser on the dashboard opens for a report file: http://127.0.0.1:P/<key>/<path in root>
    from hanflow's file server (registering `root`, default the file's folder), else its file:// URI."""
    path = Path(path).resolve()
    root = Path(root).resolve() if root else path.parent
    if not serving() or not servable(root, path):
        return path.as_uri()
    key = register(Path(os.environ[REGISTRY_ENV]), root)
    return f"{os.environ[URL_ENV].rstrip('/')}/{key}/{quote(path.relative_to(root).as_posix())}"


# ---- lifecycle, beside the Prefect server (flows/server.py)


def stop_file_server(prefect_port: int) -> tuple[bool, str]:
    """Stop this Prefect port's file server if it is still the process hanflow started. Its port is kept in
    the state file, so the next one serves the same links."""
    from flows.server import stop_recorded

    path = files_state(prefect_port)
    try:
        port = json.loads(path.read_text(encoding="utf-8")).get("port")
    except (OSError, ValueError):
        port = None
    result = stop_recorded(path, "report file server", ("flows.files",))
    if port:
        path.write_text(json.dumps({"port": port}), encoding="utf-8")
    return result


def files_state(prefect_port: int) -> Path:
    from flows.server import _home

    return _home() / f"hanflow-files-{prefect_port}.json"


def registry_file(prefect_port: int) -> Path:
    from flows.server import _home

    return _home() / f"hanflow-files-{prefect_port}-registry.json"


def answers(url: str, registry: Path, timeout: float = 2.0) -> bool:
    """Is `url` a hanflow file server serving this registry?"""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            info = json.loads(response.read())
    except (OSError, ValueError):
        return False
    return info.get("service") == SERVICE and info.get("registry") == str(Path(registry).resolve())


def _free(port: int | None) -> int:
    """`port` when it can be bound on loopback, else a free one."""
    for candidate in ([port] if port else []) + [0]:
        with socket.socket() as s:
            try:
                s.bind((HOST, candidate))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError("no free port on 127.0.0.1")


def ensure_file_server(prefect_port: int, timeout_s: float = 20.0, log=print) -> str | None:
    """The URL of this Prefect port's file server, started detached when none answers; None (and a logged
    line) when it cannot start: links then stay file:// paths, the run goes on."""
    from flows.server import auth_string, process_identity

    state, registry = files_state(prefect_port), registry_file(prefect_port).resolve()
    try:
        info = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    if info.get("url") and answers(info["url"], registry):
        return info["url"]
    port = _free(
        info.get("port") or (prefect_port + FILES_PORT_OFFSET if prefect_port + FILES_PORT_OFFSET < 65536 else None)
    )
    url, log_path = f"http://{HOST}:{port}", state.with_suffix(".log")
    env = {key: value for key, value in os.environ.items() if key != "HANFLOW_PREFECT_AUTH"}
    auth = auth_string()
    if auth:  # in the environment, not on the command line other users can read
        env["HANFLOW_PREFECT_AUTH"] = auth
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")]))
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "flows.files", "--port", str(port), "--registry", str(registry)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while not answers(url, registry):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            log(f"the report file server did not start (log {log_path}): artifact links stay file:// paths")
            return None
        time.sleep(0.1)
    state.write_text(
        json.dumps(
            {
                "pid": process.pid,
                "process": process_identity(process.pid),
                "url": url,
                "port": port,
                "registry": str(registry),
                "log": str(log_path),
                "started": time.time(),
            }
        ),
        encoding="utf-8",
    )
    log(f"reports and Data Docs linked from the dashboard: {url}/")
    return url


def file_server_env(api_url: str) -> dict[str, str]:
    """HANFLOW_FILES_URL/REGISTRY for a run on `api_url` when hanflow's file server for that port answers."""
    match = re.match(r"http://(?:127\.0\.0\.1|localhost):(\d+)/api$", api_url or "")
    if not match:
        return {}
    port = int(match.group(1))
    try:
        info = json.loads(files_state(port).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    registry = registry_file(port).resolve()
    if not info.get("url") or not answers(info["url"], registry):
        return {}
    return {URL_ENV: info["url"], REGISTRY_ENV: str(registry)}


# ---- the server


class ReportHandler(BaseHTTPRequestHandler):
    registry: Path
    auth: str | None
    hosts: frozenset[str]
    server_version = "hanflow-files"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")

    def do_HEAD(self) -> None:
        self.do_GET(body=False)

    def do_GET(self, body: bool = True) -> None:
        if self.headers.get("Host", "") not in self.hosts:
            return self._send(403, b"wrong Host: open this server as http://127.0.0.1:PORT/\n", "text/plain", body)
        path = unquote(urlsplit(self.path).path)
        if path == "/health":
            info = {"service": SERVICE, "registry": str(self.registry)}
            return self._send(200, json.dumps(info).encode(), "application/json", body)
        if self.auth and not self._authorized():
            return self._send(
                401, b"password required\n", "text/plain", body, {"WWW-Authenticate": 'Basic realm="hanflow reports"'}
            )
        roots = read_registry(self.registry)
        key, _, rel = path.lstrip("/").partition("/")
        if not key:
            items = [(f"/{k}/", str(v)) for k, v in sorted(roots.items())]
            return self._send(200, _listing("hanflow reports", items), "text/html; charset=utf-8", body)
        if key not in roots or "\0" in rel:
            return self._not_found(body)
        root = roots[key].resolve()
        target = (root / rel).resolve()
        if not target.is_relative_to(root) or any(p.startswith(".") for p in target.relative_to(root).parts):
            return self._not_found(body)
        if target.is_dir():
            if (target / "index.html").is_file() and servable(root, target / "index.html"):
                target = target / "index.html"
            else:
                files = sorted(p for p in target.rglob("*") if servable(root, p))[:MAX_LISTED]
                items = [
                    (f"/{key}/{quote(p.relative_to(root).as_posix())}", p.relative_to(target).as_posix()) for p in files
                ]
                return self._send(200, _listing(f"{roots[key]}/{rel}", items), "text/html; charset=utf-8", body)
        if not servable(root, target):
            return self._not_found(body)
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("json"):
            kind += "; charset=utf-8"
        self._send(200, target.read_bytes(), kind, body)

    def _authorized(self) -> bool:
        from flows.server import auth_headers

        return hmac.compare_digest(self.headers.get("Authorization", ""), auth_headers(self.auth)["Authorization"])

    def _not_found(self, body: bool) -> None:
        self._send(404, b"not found (only report files of registered work folders are served)\n", "text/plain", body)

    def _send(self, code: int, data: bytes, kind: str, body: bool = True, headers: dict | None = None) -> None:
        self.send_response(code)
        for name, value in {
            "Content-Type": kind,
            "Content-Length": str(len(data)),
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "script-src 'none'",
            **(headers or {}),
        }.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(data)


def _listing(title: str, items: list[tuple[str, str]]) -> bytes:
    rows = "".join(f'<li><a href="{html.escape(href)}">{html.escape(text)}</a></li>' for href, text in items)
    return (
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><ul>{rows or '<li>nothing registered yet</li>'}</ul>"
    ).encode()


def make_server(port: int, registry: Path, auth: str | None = None) -> ThreadingHTTPServer:
    """The file server bound to 127.0.0.1:port (0: any free port); call serve_forever() on it."""
    server = ThreadingHTTPServer((HOST, port), ReportHandler)
    bound = server.server_address[1]
    handler = type(
        "BoundReportHandler",
        (ReportHandler,),
        {
            "registry": Path(registry).resolve(),
            "auth": auth,
            "hosts": frozenset({f"{HOST}:{bound}", f"localhost:{bound}"}),
        },
    )
    server.RequestHandlerClass = handler
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="hanflow's read-only report file server (loopback only)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--registry", type=Path, required=True)
    args = parser.parse_args(argv)
    make_server(args.port, args.registry, os.environ.get("HANFLOW_PREFECT_AUTH") or None).serve_forever()


if __name__ == "__main__":
    main()
