"""Data validation for N21 (sentence -> one class) with Great Expectations 1.x.

Pure functions, no Prefect: the flow wraps them. great_expectations is imported
inside the functions because its import costs ~2 s and the other stages must
not pay it just by importing this module.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

REQUIRED_COLUMNS = ("id", "text", "label", "split")
SPLITS = ("train", "dev", "test")
CFG_KEYS = ("min_tokens", "max_tokens", "min_chars", "max_chars")
PARAMS_PREFIX = "n21.validate"
LABELS_PARAMS_KEY = "n21.class_design.labels"
MAX_EXAMPLES = 5
# GX keeps this many unexpected rows; we dedupe them down to MAX_EXAMPLES, so
# ask for more than that or a duplicated value would crowd out the others.
_PARTIAL_UNEXPECTED = 20
_MAX_EXAMPLE_CHARS = 200


class ValidationFailed(Exception):
    """The data broke at least one expectation; the message says which and what to do."""

    def __init__(self, message: str, report: dict | None = None):
        super().__init__(message)
        self.report = report


def frame_for_validation(table: pa.Table):
    """Scalar columns plus `n_tokens` as pandas.

    List columns stay in Arrow: converting them to Python objects is slow and
    pandas 3 handles list<int32> poorly (pandas#57411); GX only needs lengths.
    """
    scalar = [f.name for f in table.schema if not pa.types.is_nested(f.type)]
    out = table.select(scalar)
    if "tokens" in table.column_names:
        # A row without tokens counts as zero tokens so min_tokens catches it
        # (GX skips nulls in range checks).
        n_tokens = pc.fill_null(pc.list_value_length(table.column("tokens")), 0)
        out = out.append_column("n_tokens", pc.cast(n_tokens, pa.int64()))
    return out.to_pandas()


def _check_cfg(cfg: dict) -> dict:
    missing = [k for k in CFG_KEYS if cfg.get(k) is None]
    if missing:
        keys = ", ".join(f"{PARAMS_PREFIX}.{k}" for k in missing)
        raise KeyError(f"validation settings missing: set {keys} in params.yaml")
    for lo, hi in (("min_tokens", "max_tokens"), ("min_chars", "max_chars")):
        if cfg[lo] > cfg[hi]:
            raise ValueError(
                f"{PARAMS_PREFIX}.{lo} ({cfg[lo]}) is greater than {PARAMS_PREFIX}.{hi} ({cfg[hi]})"
            )
    return {k: int(cfg[k]) for k in CFG_KEYS}


def _expectations(label_values: list[str], cfg: dict) -> list:
    import great_expectations.expectations as gxe

    exps: list = [gxe.ExpectColumnToExist(column=c) for c in REQUIRED_COLUMNS]
    exps += [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("id", "text", "label")]
    exps += [
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToBeInSet(column="label", value_set=list(label_values)),
        gxe.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)),
        gxe.ExpectColumnValuesToBeBetween(
            column="n_tokens", min_value=cfg["min_tokens"], max_value=cfg["max_tokens"]
        ),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="text", min_value=cfg["min_chars"], max_value=cfg["max_chars"]
        ),
    ]
    return exps


def _quiet_gx() -> None:
    # GX logs warnings about config and usage that say nothing about the data;
    # leave the level alone if someone configured it on purpose.
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.ERROR)


def validate_n21(table: pa.Table, label_values: list[str], cfg: dict) -> dict:
    """Run the N21 suite on `table`; return a JSON-able report (never raises on bad data)."""
    cfg = _check_cfg(cfg)
    label_values = [str(v) for v in label_values]
    if not label_values:
        raise ValueError(
            f"no label values to validate against: list them in {LABELS_PARAMS_KEY} "
            "or make sure the train split has labels"
        )
    df = frame_for_validation(table)
    return run_suite(df, _expectations(label_values, cfg), "n21", rows=int(table.num_rows))


def run_suite(df, expectations: list, name: str, rows: int) -> dict:
    """Run GX expectations on a pandas frame in an ephemeral context; a JSON-able report."""
    _quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    # tqdm bars would land in Prefect's captured logs as noise.
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch_def = (
        ctx.data_sources.add_pandas(f"hanflow_{name}")
        .add_dataframe_asset(f"{name}_rows")
        .add_batch_definition_whole_dataframe("all_rows")
    )
    suite = ctx.suites.add(gx.ExpectationSuite(name=f"{name}_suite"))
    for exp in expectations:
        suite.add_expectation(exp)
    vd = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=f"{name}_validation", data=batch_def, suite=suite)
    )
    result_format: dict[str, Any] = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": _PARTIAL_UNEXPECTED,
    }
    if "id" in df.columns:
        # Lets a failure name the offending rows by id, not by pandas index.
        result_format["unexpected_index_column_names"] = ["id"]
    result = vd.run(batch_parameters={"dataframe": df}, result_format=result_format)

    entries = [_entry(r) for r in result.results]
    return {
        "success": bool(result.success) and all(e["success"] for e in entries),
        "rows": rows,
        "expectations": entries,
    }


def _entry(r) -> dict:
    cfg = r.expectation_config
    res = r.result or {}
    entry: dict[str, Any] = {
        "expectation": cfg.type,
        "column": cfg.kwargs.get("column"),
        "success": bool(r.success),
        "unexpected_count": int(res.get("unexpected_count") or 0),
        "unexpected_examples": _distinct(res.get("partial_unexpected_list") or []),
    }
    for k in ("min_value", "max_value", "value_set"):
        if cfg.kwargs.get(k) is not None:
            value = _plain(cfg.kwargs[k])
            # GX stores bounds as floats; params hold ints, and "1..6" reads better.
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            entry[k] = value
    ids = _example_ids(res.get("partial_unexpected_index_list") or [])
    if ids:
        entry["example_ids"] = ids
    error = _error(r.exception_info)
    if error:
        entry["success"] = False
        entry["error"] = error
    return entry


def _plain(value: Any) -> Any:
    """JSON-able copy: numpy scalars to Python, NaN to None, long strings cut."""
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and len(value) > _MAX_EXAMPLE_CHARS:
        return value[:_MAX_EXAMPLE_CHARS] + "…"
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _distinct(values: list) -> list:
    out: list = []
    for v in values:
        v = _plain(v)
        if v not in out:
            out.append(v)
        if len(out) == MAX_EXAMPLES:
            break
    return out


def _example_ids(index_list: list) -> list:
    ids = [row.get("id") if isinstance(row, dict) else row for row in index_list]
    return _distinct(ids)


def _error(info: Any) -> str | None:
    # exception_info is either one dict or a dict of dicts keyed by metric.
    if not isinstance(info, dict):
        return None
    infos = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for i in infos:
        if i.get("raised_exception"):
            return str(i.get("exception_message") or "expectation raised an exception")
    return None


def _hint(entry: dict) -> str:
    col, exp = entry["column"], entry["expectation"]
    if col == "n_tokens":
        return f"or change {PARAMS_PREFIX}.min_tokens / {PARAMS_PREFIX}.max_tokens"
    if col == "text" and exp == "expect_column_value_lengths_to_be_between":
        return f"or change {PARAMS_PREFIX}.min_chars / {PARAMS_PREFIX}.max_chars"
    if col == "label" and exp == "expect_column_values_to_be_in_set":
        return f"or add the label to {LABELS_PARAMS_KEY}"
    return "in the source data"


def _describe(entry: dict) -> str:
    col = entry["column"]
    head = f"  - {entry['expectation']}" + (f" on column '{col}'" if col else "")
    if "min_value" in entry or "max_value" in entry:
        head += f" (allowed {entry.get('min_value')}..{entry.get('max_value')})"
    elif "value_set" in entry:
        shown = entry["value_set"][:10]
        more = ", …" if len(entry["value_set"]) > 10 else ""
        head += f" (allowed: {', '.join(map(repr, shown))}{more})"
    lines = [head]
    if entry.get("error"):
        lines.append(f"      could not run: {entry['error'].splitlines()[0][:200]}")
    else:
        n = entry["unexpected_count"]
        row_s = "row" if n == 1 else "rows"
        examples = ", ".join(_short(v) for v in entry["unexpected_examples"])
        lines.append(f"      {n} {row_s} unexpected" + (f"; e.g. {examples}" if examples else ""))
        if entry.get("example_ids") and entry["example_ids"] != entry["unexpected_examples"]:
            lines.append(f"      ids: {', '.join(map(str, entry['example_ids']))}")
    lines.append(f"      fix: correct those rows {_hint(entry)}")
    return "\n".join(lines)


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def failure_message(report: dict, source: str) -> str:
    failed = [e for e in report["expectations"] if not e["success"]]
    lines = [
        f"Data validation failed for {source} ({report['rows']} rows): "
        f"{len(failed)} of {len(report['expectations'])} expectations failed.",
        *(_describe(e) for e in failed),
        "What to do: fix the data in the source file and rerun, or, if the rule is too strict, "
        f"change the params key named above ({PARAMS_PREFIX}.<min|max>_<tokens|chars>, "
        f"{LABELS_PARAMS_KEY}).",
    ]
    return "\n".join(lines)


def check(report: dict, source: str) -> None:
    """Raise ValidationFailed (naming `source`) when the report did not succeed."""
    if not report["success"]:
        raise ValidationFailed(failure_message(report, source), report)
