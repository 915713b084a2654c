"""N2M ingest: a dialogue file (params n2m.data) -> the canonical table of question/answer pairs.

One row per pair: id, question, answer, label (the Chatbot file's 0/1/2, null where a file has none), split,
source_file, source_row. Splits are a seeded hash of the question, so every copy of a repeated question
(Chatbot_data repeats questions with different answers) lands in one split and no test question was seen in
training. Identical pairs are quarantined, like unreadable records, so every input row is accounted for.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from tasks.splits import SPLITS, assign_splits, refuse_all_quarantined, same_text_key

CANONICAL = pa.schema(
    [
        ("id", pa.string()),
        ("question", pa.string()),
        ("answer", pa.string()),
        ("label", pa.string()),
        ("split", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
    ]
)
QUARANTINE = pa.schema(
    [("source_file", pa.string()), ("source_row", pa.int64()), ("raw", pa.string()), ("reason", pa.string())]
)


def norm(text: str) -> str:
    """Whitespace runs as one space, ends trimmed: how two questions (or answers) count as the same text."""
    return " ".join(text.split())


def column_mapping(columns: dict | None) -> dict | None:
    """params data.columns -> read_pairs' columns: null entries mean the format's default name."""
    chosen = {k: v for k, v in (columns or {}).items() if v is not None}
    return chosen or None


def pairs_table(rows: list[dict], split_cfg: dict) -> pa.Table:
    """Canonical rows -> the canonical table, with splits hashed on the (whitespace-normalized) question.

    With split.block_rows > 0 the hash is of the row's block of that many source rows instead: files that
    list paraphrases next to each other (Chatbot_data) then keep each neighbourhood in one split, as a
    held-back block of the file would; a question hash scatters paraphrases and flatters retrieval.
    """
    block = int(split_cfg["block_rows"])
    keys = [f"block {int(r['source_row']) // block}" if block > 0 else norm(r["question"]) for r in rows]
    splits = assign_splits(keys, float(split_cfg["dev"]), float(split_cfg["test"]), int(split_cfg["seed"]))
    if block > 0:
        splits = one_split_per_question([r["question"] for r in rows], splits)
    return pa.table(
        {
            "id": [str(r["id"]) for r in rows],
            "question": [r["question"] for r in rows],
            "answer": [r["answer"] for r in rows],
            "label": [r.get("label") for r in rows],
            "split": splits,
            "source_file": [str(r["source_file"]) for r in rows],
            "source_row": [int(r["source_row"]) for r in rows],
        },
        schema=CANONICAL,
    )


def one_split_per_question(questions: list[str], splits: list[str]) -> list[str]:
    """Blocks hold paraphrases, but the same question can recur in blocks far apart: all its rows take the
    most training-side split any of them has (train, then dev), so no test question is one train has seen."""
    rank = {name: i for i, name in enumerate(SPLITS)}
    first: dict[str, str] = {}
    for question, split in zip(questions, splits):
        key = same_text_key(question)
        if key not in first or rank[split] < rank[first[key]]:
            first[key] = split
    return [first[same_text_key(q)] for q in questions]


def dedupe_pairs(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Keep the first copy of each identical (question, answer) pair; the others go to quarantine."""
    first: dict[tuple[str, str], dict] = {}
    kept, dropped = [], []
    for row in rows:
        key = (norm(row["question"]), norm(row["answer"]))
        if key in first:
            dropped.append(
                {
                    "source_file": row["source_file"],
                    "source_row": row["source_row"],
                    "raw": f"{row['question']}\t{row['answer']}"[:2000],
                    "reason": f"duplicate pair: same question and answer as line {first[key]['source_row']}",
                }
            )
            continue
        first[key] = row
        kept.append(row)
    return kept, dropped


def read_pairs_cfg(data_cfg: dict) -> tuple[list[dict], list[dict]]:
    """params `data` (path, format, columns, encoding, header) -> read_pairs' (rows, quarantined rows)."""
    from tasks.n2m.formats import read_pairs

    return read_pairs(
        data_cfg["path"],
        data_cfg["format"],
        column_mapping(data_cfg["columns"]),
        data_cfg["encoding"],
        header=bool(data_cfg["header"]),
    )


def ingest_pairs(data_cfg: dict) -> tuple[pa.Table, pa.Table, dict]:
    """The ingest stage: params `data` -> (kept pairs, quarantined records, report)."""
    from tasks.n2m.formats import last_read_notes

    rows, quarantined = read_pairs_cfg(data_cfg)
    if data_cfg["drop_duplicate_pairs"]:
        rows, duplicates = dedupe_pairs(rows)
        quarantined = quarantined + duplicates
    table = pairs_table(rows, data_cfg["split"])
    quarantine = pa.Table.from_pylist([{k: q[k] for k in QUARANTINE.names} for q in quarantined], schema=QUARANTINE)
    splits = Counter(table.column("split").to_pylist())
    report = {
        "rows_in": table.num_rows + quarantine.num_rows,
        "rows_kept": table.num_rows,
        "rows_quarantined": quarantine.num_rows,
        # "record at FILE line N: answer ('A') is empty ..." -> "answer ('A') is empty ..."
        "quarantine_reasons": dict(Counter(_reason_kind(q["reason"]) for q in quarantined)),
        "splits": {s: splits.get(s, 0) for s in SPLITS},
        "questions": len({norm(q) for q in table.column("question").to_pylist()}),
        "answers": len({norm(a) for a in table.column("answer").to_pylist()}),
        "source": str(data_cfg["path"]),
        **dict(last_read_notes),  # e.g. label_spellings_normalized: '2   ' and 2.0 read as '2'
    }
    refuse_all_quarantined(report, quarantine)
    if report["splits"]["train"] == 0:
        raise ValueError(
            f"{data_cfg['path']}: no training pairs after splitting ({table.num_rows} kept, "
            f"{quarantine.num_rows} quarantined); check n2m.data.split, n2m.data.format and "
            "n2m.data.columns"
        )
    return table, quarantine, report


def _reason_kind(reason: str) -> str:
    text = reason.split(": ", 1)[1] if reason.startswith("record at ") and ": " in reason else reason
    return text.split(";")[0].split(":")[0][:80]
