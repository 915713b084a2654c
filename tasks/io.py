"""Reading and writing stage artifacts.

Every write goes to a temporary file in the target's folder and is renamed into
place, so a run killed mid-stage never leaves a half-written artifact behind.
Parquet with list columns is written and read through pyarrow directly:
pandas 3 cannot read list<int32> columns back (pandas#57411).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq


_UMASK = os.umask(0o022)  # read once (umask can only be read by setting it), then put back
os.umask(_UMASK)


@contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to `target`; rename it onto `target` on success.

    The temporary name is hidden and carries this process's id (`.<name>.<pid>.<random><suffix>`):
    a run killed mid-write leaves at most such a file, never a half-written `target`, and the next
    write to the same target removes the leftovers of processes that no longer run.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=suffix or ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; an artifact gets the usual mode
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def swap_in(new: Path, target: Path) -> None:
    """Rename the finished `new` (a folder or file) onto `target`; an existing `target` steps aside first (a
    non-empty folder cannot be renamed over another) and comes back if the rename fails, else it is deleted.

    Callers check first that `target` is theirs to replace (tasks/folders.py); a protected folder (the
    root, home, a project root or source folder) is refused here whatever the caller checked."""
    from tasks.folders import FolderError, protected

    target = Path(target)
    reason = protected(target)
    if reason:
        raise FolderError(f"refusing to replace {target}: it {reason}")
    old = None
    if os.path.lexists(target):
        old = Path(tempfile.mkdtemp(prefix=f"{temp_prefix(target)}old.", dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


def temp_prefix(target: str | Path) -> str:
    """The name prefix of this process's temporary files (or folders) for `target`."""
    return f".{Path(target).name}.{os.getpid()}."


def remove_stale_temps(target: str | Path) -> list[Path]:
    """Delete temporary files and folders for `target` left by processes that were killed."""
    target = Path(target)
    removed = []
    if not target.parent.is_dir():
        return removed
    prefix = f".{target.name}."
    for leftover in target.parent.iterdir():
        pid = leftover.name[len(prefix) :].split(".", 1)[0] if leftover.name.startswith(prefix) else ""
        if not pid.isdigit() or int(pid) == os.getpid() or alive(int(pid)):
            continue
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed


def alive(pid: int) -> bool:
    """Whether a process with this id runs (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def write_table(table: pa.Table, path: str | Path, compression: str = "zstd") -> Path:
    """Parquet, atomically. zstd by default (small DVC cache); lz4 for big id tables that a stage writes on
    every run (encode: 0.9 s against 1.2 s on 127k rows, 15% larger)."""
    with atomic_path(path, ".parquet") as tmp:
        pq.write_table(table, tmp, compression=compression)
    return Path(path)


def read_table(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: run the stage that writes it first (`hanflow run` or `dvc repro`)."
        )
    return pq.read_table(path, columns=columns)


def write_json(obj: Any, path: str | Path) -> Path:
    with atomic_path(path, ".json") as tmp:
        tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    return Path(path)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_text(text: str, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays appear in metrics; JSON wants plain Python."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
