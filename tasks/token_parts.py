"""The streamed tokens table as a folder of parquet parts (10k input rows each), reused across runs.

Why: after rows are appended, a rerun tags only the new texts (tasks/token_cache.py), but writing the
whole tokens table again still cost ~0.25 s of a 0.4 s rerun on 127k rows. The output is therefore a
folder (`tokens.parquet/part-000000.parquet`, ...; pyarrow and pandas read it as one table, in part
order), and each part is also kept in the token cache, in the tagger namespace's folder, under a key:
sha256 of its input rows' Arrow IPC bytes (schema and every column), join_pos and PART_FORMAT. Appended
rows change only the last part's key, so a rerun links the unchanged parts back (a hard link: no bytes
copied) and writes one or two. Equal keys mean equal input bytes, so a reused part is exactly what
tagging would write again; rows that merely look the same but serialize differently only cost a miss.

DVC removes a stage's outputs before it reruns it, which is why the parts live in the cache folder
(`<cache_dir>/tokens/<namespace>/parts/`) and not only in the output. A run keeps the parts it used
and deletes the rest, so the store holds one output's worth.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pyarrow as pa

from tasks import io, token_cache

PART_FORMAT = 1  # bump when the tokens table a batch produces changes for the same input and tagger


def part_name(index: int) -> str:
    return f"part-{index:06d}.parquet"


class PartStore:
    """Tokens parts by key, next to the token cache's segments (None root: nothing stored)."""

    def __init__(self, root: Path | None, cfg: dict):
        self.dir = token_cache.store_dir(root, cfg) / "parts" if root else None
        # The folder is the tagger namespace's already; the key adds what else shapes a part.
        self._salt = json.dumps({"format": PART_FORMAT, "join_pos": bool(cfg.get("join_pos"))}).encode()
        self.used: set[str] = set()

    def key(self, batch: pa.RecordBatch) -> str | None:
        if self.dir is None:
            return None
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        digest = hashlib.sha256(self._salt)
        digest.update(sink.getvalue())
        return digest.hexdigest()[:32]

    def get(self, key: str | None) -> tuple[Path, dict] | None:
        """The stored part and its counts, or None."""
        if key is None:
            return None
        part, counts = self.dir / f"{key}.parquet", self.dir / f"{key}.json"
        try:
            found = part, json.loads(counts.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not part.is_file():
            return None
        self.used.add(key)
        return found

    def put(self, key: str | None, written: Path, counts: dict) -> None:
        """Keep a part just written into the output (linked, so no bytes are copied)."""
        if key is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        io.write_json(counts, self.dir / f"{key}.json")  # first: a part on disk always has its counts
        with io.atomic_path(self.dir / f"{key}.parquet", ".parquet") as tmp:
            tmp.unlink()
            link_or_copy(written, tmp)
        self.used.add(key)

    def prune(self) -> None:
        """After a successful run: drop the parts this run did not use."""
        if self.dir is None or not self.dir.is_dir():
            return
        for entry in self.dir.iterdir():
            if entry.suffix in (".parquet", ".json") and entry.stem not in self.used:
                entry.unlink(missing_ok=True)


def link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copyfile(source, target)


@contextmanager
def part_folder(target: str | Path) -> Iterator[Path]:
    """A temporary folder next to `target` to write parts into; it replaces `target` (a folder or an
    older single file) on success, and a failed or killed run leaves the old `target` in place."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    io.remove_stale_temps(target)
    tmp = Path(tempfile.mkdtemp(prefix=io.temp_prefix(target), dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        io.swap_in(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
