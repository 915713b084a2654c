"""One writer at a time: an advisory file lock around runs that write a work folder or the repo.

DVC's own repo lock makes a second concurrent `dvc repro` fail with "Unable to acquire lock";
this lock is taken first and says who holds it. `wait_s=0` refuses at once; `wait_s>0` queues
for that long. The lock is released when the holder exits, even when it is killed.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".hanflow.lock"


class LockedError(RuntimeError):
    """Another run holds the lock."""


def lock_path(folder: str | Path) -> Path:
    """The lock file for a folder: the repo's .dvc/tmp/ when the folder is a DVC repo, else the folder itself."""
    folder = Path(folder)
    if (folder / ".dvc").is_dir():
        return folder / ".dvc" / "tmp" / "hanflow-writer.lock"
    return folder / LOCK_NAME


def holder(path: str | Path) -> dict:
    """Who holds (or last held) the lock, as written by the holder."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


@contextmanager
def writer_lock(folder: str | Path, what: str, wait_s: float = 0.0, poll_s: float = 0.5) -> Iterator[Path]:
    """Hold the writer lock of `folder` while the block runs; raise LockedError if another run holds it."""
    path = lock_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + max(wait_s, 0.0)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    info = holder(path)
                    who = (f"{info.get('what', 'another run')} (pid {info.get('pid', '?')} on {info.get('host', '?')}, "
                           f"since {info.get('since', '?')})")
                    waited = f" after waiting {wait_s:.0f}s" if wait_s > 0 else ""
                    raise LockedError(f"{folder} is being written by {who}: this run refuses{waited}. "
                                      f"Try again when it ends, or queue with a wait (lock file {path}).") from None
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"what": what, "pid": os.getpid(), "host": socket.gethostname(),
                                  "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}).encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the flock
