"""What `hanflow predict` writes: rows predicted in batches, written as they come.

Predictions go out batch by batch (pyarrow's ParquetWriter, or one JSON/CoNLL-U block at a time) to a
temporary file renamed onto `--out` when the last batch is written, so the output is never half a file.
A row that cannot be predicted (an empty text, an overlong one, a malformed record) is written with its
`error` and no prediction, and counted.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Iterator

from tasks.predict import EMPTY, Predictor
from tasks.predict_read import Item, PredictInputError

OUTPUTS = (".parquet", ".jsonl", ".conllu")


def parquet_schema(predictor: Predictor):
    import pyarrow as pa

    s = pa.string()
    return pa.schema([("id", s), (predictor.text_key, s), *predictor.parquet_fields(), ("error", s)])


class Writer:
    """Rows to `path` (.parquet, .jsonl, .conllu: a predictor that writes CoNLL-U) or to stdout (path None: JSON
    lines, or CoNLL-U)."""

    def __init__(self, predictor: Predictor, path: Path | None, conllu: bool = False, plain: bool = False):
        # plain: stdout's JSON lines without id and error (texts given as arguments or on stdin)
        self.predictor, self.path, self.plain = predictor, path, plain and path is None
        self.kind = path.suffix.lower() if path is not None else (".conllu" if conllu else ".jsonl")
        if self.kind not in OUTPUTS or (self.kind == ".conllu" and not predictor.conllu):
            raise PredictInputError(
                f"--out {path}: write .parquet or .jsonl" + (" (or .conllu)" if predictor.conllu else "")
            )
        self._parquet = self._file = None
        self._tmp_context = self._tmp = None

    def __enter__(self) -> "Writer":
        if self.path is not None:
            from tasks.io import atomic_path

            self._tmp_context = atomic_path(self.path, self.kind)
            self._tmp = self._tmp_context.__enter__()
            if self.kind == ".parquet":
                import pyarrow.parquet as pq

                self._parquet = pq.ParquetWriter(self._tmp, parquet_schema(self.predictor), compression="zstd")
            else:
                self._file = open(self._tmp, "w", encoding="utf-8")
        return self

    def write(self, rows: list[dict]) -> None:
        if self._parquet is not None:
            import pyarrow as pa

            self._parquet.write_table(pa.Table.from_pylist(rows, schema=self._parquet.schema))
            return
        out = self._file or sys.stdout
        if self.kind == ".conllu":
            out.write("".join(r["conllu"] for r in rows if r.get("conllu")))
        else:
            drop = ("id", "error") if self.plain else ()
            out.write(
                "".join(
                    json.dumps({k: v for k, v in r.items() if k not in drop}, ensure_ascii=False) + "\n" for r in rows
                )
            )
        out.flush()

    def __exit__(self, *exc) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._file is not None:
            self._file.close()
        if self._tmp_context is not None:  # renamed onto --out only when every batch was written
            self._tmp_context.__exit__(*exc)


def _reason_kind(reason: str) -> str:
    """A flagged row's reason without its numbers (line, length), so the counts stay few."""
    import re

    return re.sub(r"\d[\d,]*(-\d[\d,]*)?", "N", reason)


def predict_items(
    predictor: Predictor,
    items: Iterator[Item],
    writer: Writer,
    batch_rows: int = 256,
    bar=None,
    refuse: str | None = None,
) -> dict:
    """Predict every item in batches of batch_rows and write the rows; returns the counts (errors by reason).

    refuse: a text that cannot be predicted stops the run (PredictInputError) before its batch is predicted,
    named by this template over the item's row (e.g. "text {row}"); else its row is written flagged."""
    counts: Counter[str] = Counter()
    rows = 0

    def flush(batch: list[Item]) -> None:
        for item in batch if refuse else ():
            error = item.error or predictor.check(item.text, item.words)
            if error:
                raise PredictInputError(
                    f"{refuse.format(row=item.row)}: {error}; give every text some words "
                    "(a blank line between texts is an empty text)"
                    if error == EMPTY
                    else f"{refuse.format(row=item.row)}: {error}"
                )
        predicted = predictor.predict([i.text for i in batch], [i.words for i in batch], [i.id for i in batch])
        out = []
        for item, row in zip(batch, predicted):
            if item.error:
                row = predictor.failed(item.text, item.error)
            counts[_reason_kind(row["error"]) if row["error"] else ""] += 1
            out.append({"id": item.id, **row})
        writer.write(out)
        if bar is not None:
            bar.update(len(batch))

    batch: list[Item] = []
    for item in items:
        batch.append(item)
        rows += 1
        if len(batch) >= batch_rows:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    errors = {reason: n for reason, n in counts.items() if reason}
    return {"rows": rows, "predicted": counts[""], "flagged": sum(errors.values()), "errors": errors}


def predict_to(
    predictor: Predictor,
    items: Iterator[Item],
    out: Path | None,
    *,
    conllu: bool = False,
    batch_rows: int = 256,
    refuse: str | None = None,
    progress: bool = False,
) -> dict:
    """predict_items into `out` (None: stdout; refuse set: texts from arguments or stdin, printed without id and
    error), with a progress bar over the rows on a terminal when `progress`."""
    from tasks.progress import on_terminal

    bar = None
    if progress and on_terminal():
        from tqdm.auto import tqdm

        bar = tqdm(unit=" rows", desc=f"predict {predictor.problem}", leave=False, dynamic_ncols=True)
    try:
        with Writer(predictor, out, conllu=conllu, plain=refuse is not None) as writer:
            return predict_items(predictor, items, writer, batch_rows, bar, refuse)
    finally:
        if bar is not None:
            bar.close()
