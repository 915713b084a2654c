"""N21's tokenize stage: the ingested table, streamed through the shared tagger (tasks/tokenize.py).

Batches of STREAM_ROWS rows are tagged together over one worker pool (or Dask flow), so memory stays flat
however many rows come in, and written as parquet parts of PART_ROWS rows that a rerun reuses while their
input rows are unchanged (tasks/token_parts.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tasks import partition, progress, token_cache, token_parts
from tasks import tokenize as tagging

STREAM_ROWS = 50_000  # rows tagged together (one map over the workers)
PART_ROWS = 10_000  # rows per output part: what appending rows makes a rerun rewrite


def tokenize_file(source, target, cfg: dict, batch_rows: int = STREAM_ROWS, part_rows: int = PART_ROWS) -> dict:
    """The tokenize stage, streamed: up to `batch_rows` rows at a time from parquet are tagged over one worker
    pool (or Dask flow) and written as parts of `part_rows` rows (tasks/token_parts.py). With the cache on, a part
    whose input rows are unchanged since the last run is linked back as it was, and the rest look up texts
    already tagged: appending rows rewrites the last part or two."""
    source_file = pq.ParquetFile(source)
    cfg = tagging.with_workers(cfg, source_file.metadata.num_rows)
    root = token_cache.cache_dir(cfg)
    parts = token_parts.PartStore(root, cfg)
    sessions: list[token_cache.TokenCache] = []  # opened by the first part that is not reused
    totals: dict = {}

    def cache() -> token_cache.TokenCache | None:
        if root and not sessions:
            sessions.append(token_cache.TokenCache(root, cfg))
        return sessions[0] if sessions else None

    def add(counts: dict) -> None:
        for key, value in counts.items():
            peak = key in ("tokens_per_row_max", "worker_processes", "taggers_built")
            totals[key] = max(totals.get(key, 0), value) if peak else totals.get(key, 0) + value

    def write(out: pa.Table, part: Path, key: str | None) -> None:
        writer = _writer(part, out.schema)
        writer.write_table(out)
        writer.close()
        parts.put(key, part, tagging.content_counts(out))

    def stream(map_fn: partition.MapFn) -> None:
        # Queued parts are tagged together once they hold batch_rows rows, then written (Arrow's C++ writer, no
        # GIL) while the next ones are tagged: at most two batches in memory.
        rows = source_file.metadata.num_rows
        with (
            token_parts.part_folder(target) as folder,
            ThreadPoolExecutor(1) as background,
            progress.bar(rows, "rows", f"tokenize ({cfg['tagger']})") as rows_bar,
        ):
            pending, queued = [], []

            def flush() -> None:
                if not queued:
                    return
                out, counts = tagging.tokenized(
                    pa.Table.from_batches([b for _, b, _ in queued]), cfg, map_fn, cache(), rows_bar
                )
                add(counts)
                offset = 0
                for index, batch, key in queued:
                    piece = out.slice(offset, batch.num_rows)
                    offset += batch.num_rows
                    pending.append(background.submit(write, piece, folder / token_parts.part_name(index), key))
                queued.clear()

            index = -1
            for index, batch in enumerate(source_file.iter_batches(batch_size=min(part_rows, batch_rows))):
                key = parts.key(batch)
                stored = parts.reuse(key, folder / token_parts.part_name(index))  # verified, else None
                if stored is None:
                    queued.append((index, batch, key))
                    if sum(b.num_rows for _, b, _ in queued) >= batch_rows:
                        flush()
                    continue
                add({**stored, "cache_hits": batch.num_rows, "parts_reused": 1})
                rows_bar.update(batch.num_rows)
            flush()
            if index < 0:  # no rows: one empty part with the stage's schema
                out, counts = tagging.tokenized(source_file.schema_arrow.empty_table(), cfg, map_fn, None)
                add(counts)
                write(out, folder / token_parts.part_name(0), None)
            for done in pending:
                done.result()

    try:
        partition.run(cfg, tagging.tag_partition, stream, warm=tagging.warm)
    except BaseException:
        parts.close()
        raise
    finally:
        for session in sessions:
            session.close()
    parts.prune()
    return tagging.stage_report(
        cfg,
        {
            "cache_hits": 0,
            "tagged": 0,
            "parts_reused": 0,
            **totals,
            **({"parts_dropped": parts.dropped} if parts.dropped else {}),
        },
    )


def _writer(path, schema: pa.Schema):
    """Parquet writer for the tokens table: LZ4, no statistics, dictionaries except for the (unique) text
    and id columns — a third faster to write than the defaults, which matters most to incremental reruns."""
    dictionary = [
        f"{f.name}.list.element" if pa.types.is_list(f.type) else f.name
        for f in schema
        if f.name not in ("text", "id") and (pa.types.is_list(f.type) or not pa.types.is_nested(f.type))
    ]
    return pq.ParquetWriter(path, schema, compression="lz4", write_statistics=False, use_dictionary=dictionary)
