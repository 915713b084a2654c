"""The folders a run writes: hanflow never replaces or fills a folder it did not create.

A model directory is replaced as a whole on every save (a complete new folder swapped in, the old
one deleted), and a work dir gets artifacts, and whole artifact folders, replaced inside it. So
before a run writes either, and again where a model directory is replaced, the folder is checked:

- never the file system root, the home directory (or a folder holding it), a folder holding the
  current directory, a project root (a folder holding params.yaml, dvc.yaml or .git), or a
  project's source folders (SOURCE_FOLDERS) and anything inside them;
- a folder that exists and is not empty must be hanflow's: it holds the marker file MARKER, written
  into every model and work dir hanflow creates (`{"kind": "model"}` or `{"kind": "work"}`; an empty
  marker a user made counts for either kind). Folders from before the marker are recognised by
  their contents: a model dir with model_config.json and weights.pt whose every file is one
  hanflow writes (the manifest's list), and a work dir holding only hanflow's artifacts.

Anything else is refused with one line naming the params key, the folder and what to do.
"""

from __future__ import annotations

import json
import os
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterable

MARKER = ".hanflow"
MARKER_VERSION = 1
PROJECT_FILES = ("params.yaml", "dvc.yaml", ".git")
SOURCE_FOLDERS = (
    "flows",
    "tasks",
    "models",
    "tests",
    "bench",
    "docs",
    "data/sample",
    "data/schema",
    ".git",
    ".dvc",
    ".venv",
)
# What hanflow itself puts into a work dir besides the stage graph's artifacts.
WORK_EXTRAS = (
    "token_cache",
    "model",
    "class_history.json",
    "perf_prepared.json",
    "eval-*",
    ".gitignore",
    MARKER,
    ".hanflow.lock",
    ".*.hanflow.lock",
)
MODEL_FILES = ("weights.pt", "*.json", "*.skops", "*.npz")


class FolderError(ValueError):
    """A folder hanflow must not write or replace."""


def protected(path: str | Path) -> str | None:
    """Why no run may write or replace `path`, or None."""
    target = Path(path).resolve()
    home = Path.home().resolve()
    if target == Path(target.anchor):
        return "is the file system root"
    if target == home or target in home.parents:
        return "is (or holds) your home directory"
    if any(os.path.lexists(target / name) for name in PROJECT_FILES):
        return f"is a project folder (it holds {', '.join(n for n in PROJECT_FILES if os.path.lexists(target / n))})"
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        return "holds the current directory"
    root = project_root(target.parent)
    if root is not None:
        inside = target.relative_to(root).as_posix()
        for source in SOURCE_FOLDERS:
            if inside == source or inside.startswith(source + "/"):
                return f"is {'' if inside == source else 'inside '}the project's source folder {source}/ (in {root})"
    return None


def project_root(folder: Path) -> Path | None:
    """The nearest folder at or above `folder` that holds params.yaml, dvc.yaml or .git."""
    for candidate in (folder, *folder.parents):
        if any(os.path.lexists(candidate / name) for name in PROJECT_FILES):
            return candidate
    return None


def marker_kind(folder: Path) -> str | None:
    """The kind a folder's marker names ("" for an empty or unreadable marker), None without a marker."""
    marker = folder / MARKER
    if not marker.is_file():
        return None
    try:
        return str(json.loads(marker.read_text(encoding="utf-8") or "{}").get("kind") or "")
    except (OSError, ValueError, AttributeError):
        return ""


def mark(folder: str | Path, kind: str) -> None:
    """Write the marker that says hanflow made `folder` (kept as it is when there is one)."""
    from tasks.io import write_json

    folder = Path(folder)
    if marker_kind(folder) is None:
        write_json({"kind": kind, "by": "hanflow", "version": MARKER_VERSION}, folder / MARKER)


def check_model_dir(path: str | Path, key: str = "model_dir") -> Path:
    """`path` if hanflow may replace it with a new model directory; else FolderError."""
    path = Path(path)
    _refuse_protected(path, key)
    if path.is_symlink():
        raise FolderError(
            f"{key} {path} is a symbolic link: hanflow replaces the model folder as a whole and would "
            "remove the link; set it to the folder the link points at"
        )
    entries = _entries(path, key)
    if not entries:
        return path
    kind = marker_kind(path)
    if kind in ("model", ""):
        return path
    if kind is not None:
        raise FolderError(
            f"{key} {path} is a hanflow {kind} dir, not a model dir: hanflow would replace it as a "
            "whole; set it to a new folder (e.g. <work_dir>/model)"
        )
    if _legacy_model(path, entries):
        return path
    raise FolderError(
        f"{key} {path} already holds files hanflow did not write ({_some(entries)}): hanflow replaces "
        "the model folder as a whole and never deletes a folder it did not create; set it to a new or "
        f"empty folder, or move those files out (a model dir of an older hanflow: add an empty {MARKER} "
        "file to it)"
    )


def check_work_dir(path: str | Path, known: Iterable[str], key: str = "work_dir") -> Path:
    """`path` if a run may write its artifacts there; else FolderError. `known`: name patterns of the artifacts
    a work dir holds (the stage graph's), besides WORK_EXTRAS."""
    path = Path(path)
    _refuse_protected(path, key)
    entries = _entries(path, key)
    kind = marker_kind(path)
    if not entries or kind in ("work", ""):
        return path
    if kind is not None:
        raise FolderError(f"{key} {path} is a hanflow {kind} dir, not a work dir; set {key} to a new folder")
    patterns = [*known, *WORK_EXTRAS]
    unknown = [e for e in entries if not _known_entry(e, patterns)]
    if unknown:
        raise FolderError(
            f"{key} {path} already holds files hanflow did not write ({_some(unknown)}): a run writes "
            "and replaces its artifacts there and never touches a folder it did not create; set it to "
            "a new or empty folder, or move those files out (a work dir of an older hanflow: add an "
            f"empty {MARKER} file to it)"
        )
    return path


def check_apart(work_dir: str | Path, model_dir: str | Path, cache_dir: str | Path | None, prefix: str = "") -> None:
    """The model dir is replaced as a whole: it must not be, or hold, the work dir or the token cache."""
    model = Path(model_dir).resolve()
    for key, other in ((f"{prefix}work_dir", work_dir), (f"{prefix}tokenize.cache_dir", cache_dir)):
        if other is None:
            continue
        other_path = Path(other).resolve()
        if other_path == model or model in other_path.parents:
            raise FolderError(
                f"{prefix}model_dir {model_dir} holds {key} {other}: the model folder is replaced as a "
                f"whole on every save; give it a folder of its own (e.g. <work_dir>/model)"
            )


def _refuse_protected(path: Path, key: str) -> None:
    reason = protected(path)
    if reason:
        raise FolderError(
            f"{key} {path} {reason}: hanflow never writes there; set {key} to a folder of its own (e.g. data/<problem>)"
        )


def _entries(path: Path, key: str) -> list[str]:
    if not os.path.lexists(path):
        return []
    if not path.is_dir():
        raise FolderError(f"{key} {path} is a file, not a folder; set {key} to a folder")
    return sorted(entry.name for entry in path.iterdir())


def _legacy_model(path: Path, entries: list[str]) -> bool:
    """A model dir written before the marker: model_config.json, weights.pt and only files hanflow writes there."""
    if not {"model_config.json", "weights.pt"} <= set(entries) or not all((path / e).is_file() for e in entries):
        return False
    try:
        listed = set(json.loads((path / "manifest.json").read_text(encoding="utf-8"))["files"]) | {"manifest.json"}
    except (OSError, ValueError, KeyError, TypeError):
        return all(any(fnmatchcase(e, p) for p in MODEL_FILES) for e in entries)
    return set(entries) <= listed


def _known_entry(name: str, patterns: list[str]) -> bool:
    if any(fnmatchcase(name, p) for p in patterns):
        return True
    # A temporary file or folder of a known artifact, left by a killed run: `.<name>.<pid>.*`, `.<name>.tmp-*`.
    return name.startswith(".") and any(fnmatchcase(name[1:], f"{p}.*") for p in patterns if not p.startswith("."))


def _some(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
