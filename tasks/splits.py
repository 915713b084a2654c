"""Splits and the ingest checks every problem type shares.

SPLITS is the one list of split names. Splits are assigned by a seeded hash of each text's
same_text_key, so duplicate texts share a split. Every reader (N21 tables, NER, treebank, dialogue)
accounts for each row as kept or quarantined; `refuse_all_quarantined` and `check_quarantine_share`
stop a run whose data is mostly unusable, naming why. `truncation_report` counts the train rows a
training stage's max_len cuts.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter

import pyarrow as pa

from tasks.textfile import reason_kind

SPLITS = ("train", "dev", "test")


class IngestError(ValueError):
    pass


class QuarantineError(IngestError):
    """More rows went to quarantine than params `data.max_quarantine_share` allows, or all of them did.

    An ingest function that quarantined every row raises it with its report and quarantine table, so
    the ingest stage can still write the quarantine file and name it (flows/stages.py)."""

    def __init__(self, message: str, report: dict | None = None, quarantine: pa.Table | None = None):
        super().__init__(message)
        self.report, self.quarantine = report, quarantine


def same_text_key(text: str) -> str:
    """What two texts must share to be the same text: NFC, whitespace runs collapsed, case folded. Splits are
    assigned by it and leakage between splits is checked by it, so "good" and "Good " never straddle train and test."""
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


def assign_splits(texts: list[str], dev: float, test: float, seed: int) -> list[str]:
    """Deterministic split from a seeded hash of the text (its same_text_key: case, spacing and Unicode form aside).

    Hashing the text (not shuffling rows) keeps duplicate texts in one split, so a generic
    review like "최고" (or "good" and "Good") cannot leak from train into test, and a row keeps its
    split when new rows are appended later.
    """
    if not 0 <= dev < 1 or not 0 <= test < 1 or dev + test >= 1:
        raise IngestError(f"data.split: dev={dev} and test={test} must be fractions summing to less than 1")
    out = []
    for text in texts:
        digest = hashlib.blake2b(f"{seed}\x00{same_text_key(text)}".encode(), digest_size=8).digest()
        u = int.from_bytes(digest, "big") / 2**64
        out.append("test" if u < test else "dev" if u < test + dev else "train")
    return out


def _top_reasons(quarantine: pa.Table) -> str:
    top = Counter(map(reason_kind, quarantine.column("reason").to_pylist())).most_common(3)
    return "; ".join(f"{reason} ({n})" for reason, n in top)


def _where(quarantine_path: str | None) -> str:
    return (
        f"Each row, with its file, line and reason, is in {quarantine_path}. "
        if quarantine_path
        else "Each row's file, line and reason is in the quarantine table. "
    )


def refuse_all_quarantined(
    report: dict, quarantine: pa.Table, quarantine_path: str | None = None, source: str | None = None
) -> None:
    """Raise QuarantineError (carrying the report and the table) when rows were read but none was kept:
    what to fix is why they were quarantined, not the split."""
    rows_in = int(report["rows_in"])
    if rows_in == 0 or int(report["rows_kept"]) > 0:
        return
    sources = source or report.get("source") or ", ".join(str(s.get("path")) for s in report.get("sources", []))
    raise QuarantineError(
        f"{sources}: all {rows_in} rows were quarantined, none is left to train on. Top reasons: "
        f"{_top_reasons(quarantine)}. {_where(quarantine_path)}Fix the data (or data.format, data.columns, "
        "data.header, data.encoding).",
        report,
        quarantine,
    )


def check_quarantine_share(
    report: dict, quarantine: pa.Table, data_cfg: dict, quarantine_path: str, problem: str | None = None
) -> dict:
    """Fail the flow when more than `data.max_quarantine_share` of the rows went to quarantine.

    Every ingest report must satisfy rows_in = rows_kept + rows_quarantined (nothing dropped
    silently); the report gains `quarantine_share`. The error names the source, the counts, the
    share, the commonest reasons, the quarantine file and the params key to change; when every row
    was quarantined it says so, whatever the limit.
    """
    key = f"{problem + '.' if problem else ''}data.max_quarantine_share"
    rows_in, kept, quarantined = (int(report[k]) for k in ("rows_in", "rows_kept", "rows_quarantined"))
    if rows_in != kept + quarantined or quarantined != quarantine.num_rows:
        raise IngestError(
            f"ingest report does not add up: rows_in {rows_in} != rows_kept {kept} + rows_quarantined "
            f"{quarantined} (quarantine table: {quarantine.num_rows} rows); this is a bug, please report"
        )
    share = quarantined / rows_in if rows_in else 0.0
    report["quarantine_share"] = round(share, 4)
    sources = (
        report.get("source")
        or ", ".join(str(s.get("path")) for s in report.get("sources", []))
        or str(data_cfg.get("path"))
    )
    refuse_all_quarantined(report, quarantine, quarantine_path, sources)
    limit = data_cfg.get("max_quarantine_share")
    if limit is None or share <= float(limit):
        return report
    raise QuarantineError(
        f"{sources}: {quarantined} of {rows_in} rows ({share:.1%}) were quarantined, over {key} = {limit}. "
        f"Top reasons: {_top_reasons(quarantine)}. {_where(quarantine_path)}Fix the data (or "
        f"data.format, data.columns, data.encoding), or raise {key}."
    )


def truncation_report(table: pa.Table, column: str, max_len: int | None) -> dict:
    """What a training stage's max_len does to the train split: every row is used, and the ones longer
    than max_len are cut (counted here, so a stage report says so instead of cutting silently)."""
    import pyarrow.compute as pc

    train = table.filter(pc.equal(table.column("split"), "train"))
    lengths = pc.list_value_length(train.column(column))
    cut = int(pc.sum(pc.greater(lengths, int(max_len))).as_py() or 0) if max_len else 0
    return {"train_rows": train.num_rows, "train_rows_truncated_at_max_len": cut}
