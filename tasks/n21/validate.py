"""N21 (sentence -> one class) data validation: builds the frames tasks/n21/suite.yaml checks.

The report format and failure messages are tasks/validation.py's. great_expectations is imported
inside the function because its import costs ~2 s and the other stages must not pay it just by
importing this module.
"""

from __future__ import annotations

import pyarrow as pa

from tasks.validation import frame_for_validation

LABELS_PARAMS_KEY = "n21.class_design.schema"


def validate_n21(table: pa.Table, label_values: list[str], cfg: dict, docs_dir=None) -> dict:
    """Run tasks/n21/suite.yaml on `table`; a JSON-able report (never raises on bad data).

    With `docs_dir`, GX Data Docs for the run are written there (readable offline).
    """
    from tasks.validate_suite import run_suite_file
    from tasks.validate_text import add_text_columns, class_counts

    label_values = [str(v) for v in label_values]
    if not label_values:
        raise ValueError(
            f"no label values to validate against: list them in the schema file {LABELS_PARAMS_KEY} names "
            "or make sure the train split has labels"
        )
    df = frame_for_validation(table)
    frames = {"rows": df}
    if "text" in df.columns:
        splits = df["split"].tolist() if "split" in df.columns else [None] * len(df)
        add_text_columns(df, "text", splits=splits)
    if "label" in df.columns and "split" in df.columns:
        frames["classes"] = class_counts(df["label"].tolist(), df["split"].tolist(), label_values)
    return run_suite_file("n21", frames, cfg, {"labels": label_values}, rows=int(table.num_rows), docs_dir=docs_dir)
