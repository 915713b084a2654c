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
and deletes the rest, so the store holds one output's worth (when no other run uses the store at the
same time: then it keeps everything, for the other run may need it).

What is reused is verified: a part's record holds its size and blake2b digest, taken when it was
stored, and a reused part is checked against them after it is linked into the output (hashing a part
costs ~1 ms per MB, tagging it ~100x more). An output part edited in place edits the stored part too
(they are one file): the check fails, the entry is dropped and the rows are tagged again. A store
deleted mid-run (the cache may be deleted at any time) only costs misses.
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
        self.dropped = 0  # entries found damaged (or half gone) this run, and recomputed
        self._lock = None
        if self.dir is not None:  # shared while this run may use the store; prune wants it alone
            self.dir.parent.mkdir(parents=True, exist_ok=True)
            self._lock = token_cache.Lock(self.dir.parent / ".lock")
            self._lock.shared()

    def key(self, batch: pa.RecordBatch) -> str | None:
        if self.dir is None:
            return None
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        digest = hashlib.sha256(self._salt)
        digest.update(sink.getvalue())
        return digest.hexdigest()[:32]

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.dir / f"{key}.parquet", self.dir / f"{key}.json"

    def reuse(self, key: str | None, target: Path) -> dict | None:
        """Link the stored part for `key` to `target` and return its counts, if it is there and intact; else
        None (a damaged entry is dropped, so the caller computes the part again)."""
        if key is None:
            return None
        part, record_path = self._paths(key)
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            size, digest, counts = int(record["bytes"]), str(record["blake2b"]), dict(record["counts"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):  # unreadable, or from before the digests
            self._drop(key)
            return None
        try:
            link_or_copy(part, target)
        except FileNotFoundError:  # deleted meanwhile
            self._drop(key)
            return None
        if target.stat().st_size != size or file_digest(target) != digest:
            target.unlink()
            self._drop(key)
            return None
        self.used.add(key)
        return counts

    def put(self, key: str | None, written: Path, counts: dict) -> None:
        """Keep a part just written into the output (linked, so no bytes are copied), with its size and digest.
        Storing is best effort: a store deleted meanwhile is made again once, then the part is not kept."""
        if key is None:
            return
        part, record_path = self._paths(key)
        record = {"bytes": written.stat().st_size, "blake2b": file_digest(written), "counts": counts}
        for attempt in range(2):
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
                io.write_json(record, record_path)  # first: a part on disk always has its record
                with io.atomic_path(part, ".parquet") as tmp:
                    tmp.unlink()
                    link_or_copy(written, tmp)
                break
            except FileNotFoundError:
                if attempt:
                    return
        self.used.add(key)

    def _drop(self, key: str) -> None:
        self.dropped += 1
        for path in self._paths(key):
            path.unlink(missing_ok=True)

    def prune(self) -> None:
        """After a successful run: drop the parts this run did not use, unless another run uses the store too."""
        if self.dir is None:
            return
        try:
            if self._lock.exclusive():
                for entry in list(self.dir.iterdir()):
                    if entry.suffix in (".parquet", ".json") and entry.stem not in self.used:
                        entry.unlink(missing_ok=True)
        except FileNotFoundError:  # the store was deleted: nothing to prune
            pass
        finally:
            self.close()

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()


def file_digest(path: Path) -> str:
    """blake2b of a file's bytes, read in chunks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "blake2b").hexdigest()


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
