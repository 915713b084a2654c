"""One writer at a time: advisory file locks around runs that write a work folder, a model folder or the repo.

DVC's own repo lock makes a second concurrent `dvc repro` fail with "Unable to acquire lock";
this lock is taken first and says who holds it. `wait_s=0` refuses at once; `wait_s>0` queues
for that long. The lock is released when the holder exits, even when it is killed.

A run (`hanflow run`, `hanflow stage`, a retraining run) holds `run_lock`: the lock of its work dir
and the lock of its model dir, taken in one fixed order (by lock file path), so two runs that share
either folder never both write it and never wait on each other in a cycle. The model dir is
replaced as a whole on every save, so its lock file sits beside it (`.<name>.hanflow.lock`), not in it.
The token cache is not locked per run: it takes concurrent writers (tasks/token_cache.py).

A process started by a lock holder (a retraining run's `dvc repro` runs `hanflow stage`) inherits its
locks: the holder lists them in HELD_ENV, and a descendant finds the holder's pid in the lock file.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".hanflow.lock"
HELD_ENV = "HANFLOW_HELD_LOCKS"  # {lock file: pid of the holder}, for the holder's child processes


class LockedError(RuntimeError):
    """Another run holds the lock."""


def lock_path(folder: str | Path) -> Path:
    """The lock file for a folder: the repo's .dvc/tmp/ when the folder is a DVC repo, else the folder itself."""
    folder = Path(folder)
    if (folder / ".dvc").is_dir():
        return folder / ".dvc" / "tmp" / "hanflow-writer.lock"
    return folder / LOCK_NAME


def beside_lock_path(folder: str | Path) -> Path:
    """The lock file of a folder that is replaced as a whole: next to it, so it outlives each swap."""
    folder = Path(folder)
    return folder.parent / f".{folder.name}{LOCK_NAME}"


def holder(path: str | Path) -> dict:
    """Who holds (or last held) the lock, as written by the holder."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def _held_by_ancestor(path: Path) -> bool:
    """True when the lock holder that started this process holds the lock on `path` (within one process, a
    second hold of the same lock is another run and is refused)."""
    try:
        pid = json.loads(os.environ.get(HELD_ENV) or "{}").get(str(path.resolve()))
    except (ValueError, AttributeError):
        return False
    from tasks.io import alive

    return isinstance(pid, int) and pid != os.getpid() and holder(path).get("pid") == pid and alive(pid)


@contextmanager
def _advertised(path: Path) -> Iterator[None]:
    before = os.environ.get(HELD_ENV)
    held = json.loads(before or "{}")
    os.environ[HELD_ENV] = json.dumps({**held, str(path.resolve()): os.getpid()})
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(HELD_ENV, None)
        else:
            os.environ[HELD_ENV] = before


@contextmanager
def writer_lock(
    folder: str | Path, what: str, wait_s: float = 0.0, poll_s: float = 0.5, path: str | Path | None = None
) -> Iterator[Path]:
    """Hold the writer lock of `folder` (its lock file `path`, else lock_path(folder)) while the block runs;
    raise LockedError if another run holds it."""
    path = Path(path) if path is not None else lock_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    if _held_by_ancestor(path):
        yield path
        return
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
                    who = (
                        f"{info.get('what', 'another run')} (pid {info.get('pid', '?')} on {info.get('host', '?')}, "
                        f"since {info.get('since', '?')})"
                    )
                    waited = f" after waiting {wait_s:.0f}s" if wait_s > 0 else ""
                    raise LockedError(
                        f"{folder} is being written by {who}: this run refuses{waited}. "
                        f"Try again when it ends, or queue with a wait (lock file {path})."
                    ) from None
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.pwrite(
            fd,
            json.dumps(
                {
                    "what": what,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                }
            ).encode(),
            0,
        )
        with _advertised(path):
            yield path
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def work_dir_artifacts() -> set[str]:
    """Name patterns of what the stage graph writes into a work dir (its first path component)."""
    from flows.stages import REGISTRY, load_all, report_path

    load_all()
    names = set()
    for problem in REGISTRY.values():
        for stage in problem.stages:
            templates = [
                *stage.deps,
                *stage.outs,
                *stage.reports,
                *stage.metrics,
                report_path(stage),
                *(path for plot in stage.plots for path in plot),
            ]
            names.update(t.split("/")[1] for t in templates if t.startswith("${work_dir}/"))
    return names


def check_folders(problem: str, section: dict) -> tuple[Path, Path | None]:
    """The work dir and model dir (None in a params file without one) a run of `problem` writes, if hanflow
    may write them (tasks/folders.py); else FolderError naming the params key. Called before any stage runs."""
    from tasks.folders import check_apart, check_model_dir, check_work_dir
    from tasks.token_cache import stage_settings

    work = check_work_dir(section["work_dir"], work_dir_artifacts(), key=f"{problem}.work_dir")
    if not section.get("model_dir"):
        return work, None
    cache = stage_settings(section).get("cache_dir") if section.get("tokenize", {}).get("cache") else None
    check_apart(work, section["model_dir"], cache, prefix=f"{problem}.")
    return work, check_model_dir(section["model_dir"], key=f"{problem}.model_dir")


@contextmanager
def run_lock(problem: str, section: dict, what: str) -> Iterator[None]:
    """Check the folders a run writes, then hold the locks of its work dir and model dir, in a fixed order.

    Under torchrun only rank 0 writes (tasks/distributed.py), so only it checks and locks: the other
    ranks of the same command would otherwise find rank 0's locks taken."""
    if os.environ.get("RANK", "0") != "0":
        yield
        return
    from tasks.folders import mark

    work, model = check_folders(problem, section)
    locks = sorted(
        {(lock_path(work).resolve(), work), *([(beside_lock_path(model).resolve(), model)] if model else [])}
    )
    with ExitStack() as stack:
        for path, folder in locks:
            stack.enter_context(writer_lock(folder, what=what, path=path))
        mark(work, "work")
        yield
