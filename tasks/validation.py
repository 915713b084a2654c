"""Data validation with Great Expectations 1.x: the report format and failure messages shared by
every problem type.

The expectations are declared in tasks/<problem>/suite.yaml (tasks/validate_suite.py runs them);
this module turns GX results into a JSON report and a message that names the file, expectation,
column, example ids and the params key to change. Pure functions, no Prefect: the flow wraps them.
great_expectations is not imported here: its import costs ~2 s, which the other stages must not pay
just by importing this module.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

MAX_EXAMPLES = 5
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


def entry_from_result(r, table: str = "rows", index: str | None = "id") -> dict:
    """One GX expectation result as a JSON-able entry: what, where, how many, which rows, how to fix."""
    cfg = r.expectation_config
    res = r.result or {}
    meta = cfg.meta or {}
    entry: dict[str, Any] = {
        "expectation": cfg.type,
        "column": cfg.kwargs.get("column"),
        "table": table,
        "success": bool(r.success),
        "unexpected_count": int(res.get("unexpected_count") or 0),
        "unexpected_examples": _distinct(res.get("partial_unexpected_list") or []),
    }
    for k in ("min_value", "max_value", "value_set", "mostly"):
        if cfg.kwargs.get(k) is not None:
            value = _plain(cfg.kwargs[k])
            # GX stores bounds as floats; params hold ints, and "1..6" reads better.
            if isinstance(value, float) and value.is_integer() and k != "mostly":
                value = int(value)
            entry[k] = value
    ids = _example_ids(res.get("partial_unexpected_index_list") or [], index)
    if ids:
        entry["example_ids"] = ids
        entry["index_column"] = index
    if meta.get("fix"):
        entry["fix"] = meta["fix"]
        entry["params_keys"] = list(meta.get("params_keys") or [])
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


def _example_ids(index_list: list, index: str | None = "id") -> list:
    ids = [row.get(index) if isinstance(row, dict) else row for row in index_list]
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
    """The fix sentence: the suite file's `fix:`, else the params keys its bounds come from."""
    if entry.get("fix"):
        return entry["fix"]
    return "correct those rows in the source data"


def _describe(entry: dict) -> str:
    col = entry["column"]
    head = f"  - {entry['expectation']}" + (f" on column '{col}'" if col else "")
    if entry.get("table", "rows") != "rows":
        head += f" of table '{entry['table']}'"
    if "min_value" in entry or "max_value" in entry:
        head += f" (allowed {bounds(entry)}"
        head += f", for at least {entry['mostly']:.0%} of rows)" if entry.get("mostly", 1) < 1 else ")"
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
            what = "ids" if entry.get("index_column", "id") == "id" else f"{entry['index_column']} values"
            lines.append(f"      {what}: {', '.join(map(str, entry['example_ids']))}")
    lines.append(f"      fix: {_hint(entry)}")
    return "\n".join(lines)


def bounds(entry: dict) -> str:
    lo, hi = entry.get("min_value"), entry.get("max_value")
    if lo is None:
        return f"at most {hi}"
    return f"at least {lo}" if hi is None else f"{lo}..{hi}"


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def failure_message(report: dict, source: str, unit: str = "rows") -> str:
    """What failed, on which column, example values and ids, and the params keys that set the bounds."""
    failed = [e for e in report["expectations"] if not e["success"]]
    keys = sorted({k for e in failed for k in e.get("params_keys", [])})
    lines = [
        f"Data validation failed for {source} ({report['rows']} {unit}): "
        f"{len(failed)} of {len(report['expectations'])} expectations failed.",
        *(_describe(e) for e in failed),
        "What to do: fix the data in the source file and rerun"
        + (f", or, if a rule is too strict, change the params key named above ({', '.join(keys)})." if keys else "."),
    ]
    if report.get("suite"):
        lines.append(f"The expectations are declared in {report['suite']}.")
    if report.get("data_docs"):
        lines.append(f"Data Docs: {report['data_docs']}")
    return "\n".join(lines)


def check(report: dict, source: str, unit: str = "rows") -> None:
    """Raise ValidationFailed (naming `source`) when the report did not succeed."""
    if not report["success"]:
        raise ValidationFailed(failure_message(report, source, unit), report)
