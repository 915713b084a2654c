"""Great Expectations suite for N2M (tasks/n2m/suite.yaml): every pair must be usable for teacher forcing.

Token counts and the answer/question length ratio become numeric columns that the suite checks
against the bounds in params (n2m.validate), so a failure names the rows by id in the same
report as the built-in checks (unique ids, known splits); tasks/validate_text.py adds the
Korean-text columns for both sides (Hangul share, control characters) and question leakage.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.validation import ValidationFailed
from tasks.validation import failure_message as _failure_message
from tasks.validate_suite import run_suite_file
from tasks.validate_text import add_text_columns, class_counts


def frame(table: pa.Table):
    """id, split, question, answer plus token counts (answer without <bos>/<eos>) and their ratio."""
    n_src = pc.fill_null(pc.list_value_length(table.column("src_ids")), 0).to_numpy(zero_copy_only=False)
    if "retrieved_answer" in table.column_names:
        # Retrieve and refine appends "<sep> answer" candidates: the bounds are about the question itself.
        from tasks.n2m.retrieval import SEP

        n_src = np.array([t.index(SEP) if SEP in t else len(t) for t in table.column("src_tokens").to_pylist()])
    n_tgt = pc.fill_null(pc.list_value_length(table.column("tgt_ids")), 2).to_numpy(zero_copy_only=False) - 2
    df = table.select(["id", "split", "question", "answer"]).to_pandas()
    df["n_src"] = n_src.astype("int64")
    df["n_tgt"] = n_tgt.astype("int64")
    # An empty question counts as one token here; n_src's own bound reports it.
    df["length_ratio"] = df["n_tgt"] / df["n_src"].clip(lower=1)
    return df


def label_values(table: pa.Table, labels: list | None) -> list[str]:
    """The label schema: the classes of n2m.class_design.schema, else the labels of the train split."""
    if labels:
        return [str(entry["value"]) if isinstance(entry, dict) else str(entry) for entry in labels]
    values = table.column("label").to_pylist() if "label" in table.column_names else []
    splits = table.column("split").to_pylist()
    return sorted({str(v) for v, s in zip(values, splits) if v is not None and s == "train"})


def validate_n2m(table: pa.Table, cfg: dict, labels: list | None = None, docs_dir=None) -> dict:
    """Run tasks/n2m/suite.yaml on the encoded table; a JSON-able report (never raises on bad data).

    `labels` are the classes of n2m.class_design.schema; labels are optional in N2M data, so the label checks
    (in the schema, enough train pairs per label) only run when some pair has one.
    """
    df = frame(table)
    splits = df["split"].tolist()
    add_text_columns(df, "question", prefix="question_", splits=splits)
    add_text_columns(df, "answer", prefix="answer_")
    frames = {"rows": df}
    schema = label_values(table, labels)
    has_labels = "label" in table.column_names and table.column("label").null_count < table.num_rows
    # Without labels the column is all null, which the label-in-schema expectation skips.
    df["label"] = table.column("label").to_pylist() if has_labels else [None] * len(df)
    if has_labels:
        frames["classes"] = class_counts(df["label"].tolist(), splits, schema)
    return run_suite_file("n2m", frames, cfg, {"labels": schema}, rows=int(table.num_rows), docs_dir=docs_dir)


def failure_message(report: dict, source: str) -> str:
    return _failure_message(report, source, unit="pairs")


def check(report: dict, source: str) -> None:
    if not report["success"]:
        raise ValidationFailed(failure_message(report, source), report)
