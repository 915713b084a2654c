"""Great Expectations suite for N2M: every pair must be usable for teacher forcing.

Token counts and the answer/question length ratio become numeric columns that GX checks
against the bounds in params (n2m.validate), so a failure names the rows by id in the same
report as the built-in checks (unique ids, known splits).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from tasks.validate import SPLITS, ValidationFailed, _describe, run_suite

CFG_KEYS = ("min_tokens", "max_src_tokens", "max_tgt_tokens", "min_length_ratio", "max_length_ratio")
PREFIX = "n2m.validate"
HINTS = {
    "n_src": f"or change {PREFIX}.min_tokens / {PREFIX}.max_src_tokens",
    "n_tgt": f"or change {PREFIX}.min_tokens / {PREFIX}.max_tgt_tokens",
    "length_ratio": f"or change {PREFIX}.min_length_ratio / {PREFIX}.max_length_ratio",
}


def frame(table: pa.Table):
    """id, split, question, answer plus token counts (answer without <bos>/<eos>) and their ratio."""
    n_src = pc.fill_null(pc.list_value_length(table.column("src_ids")), 0).to_numpy(zero_copy_only=False)
    n_tgt = pc.fill_null(pc.list_value_length(table.column("tgt_ids")), 2).to_numpy(zero_copy_only=False) - 2
    df = table.select(["id", "split", "question", "answer"]).to_pandas()
    df["n_src"] = n_src.astype("int64")
    df["n_tgt"] = n_tgt.astype("int64")
    # An empty question counts as one token here; n_src's own bound reports it.
    df["length_ratio"] = df["n_tgt"] / df["n_src"].clip(lower=1)
    return df


def _cfg(cfg: dict) -> dict:
    missing = [k for k in CFG_KEYS if cfg.get(k) is None]
    if missing:
        raise KeyError(f"validation settings missing: set {', '.join(f'{PREFIX}.{k}' for k in missing)} in params.yaml")
    out = {k: (float(cfg[k]) if "ratio" in k else int(cfg[k])) for k in CFG_KEYS}
    if out["min_length_ratio"] > out["max_length_ratio"]:
        raise ValueError(f"{PREFIX}.min_length_ratio ({out['min_length_ratio']}) is greater than "
                         f"{PREFIX}.max_length_ratio ({out['max_length_ratio']})")
    return out


def validate_n2m(table: pa.Table, cfg: dict) -> dict:
    """Run the N2M suite on the encoded table; a JSON-able report (never raises on bad data)."""
    import great_expectations.expectations as gxe

    c = _cfg(cfg)
    df = frame(table)
    exps = [gxe.ExpectColumnValuesToNotBeNull(column=col) for col in ("id", "question", "answer")]
    exps += [
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)),
        # Both sides non-empty and within the lengths the model is sized for.
        gxe.ExpectColumnValuesToBeBetween(column="n_src", min_value=c["min_tokens"], max_value=c["max_src_tokens"]),
        gxe.ExpectColumnValuesToBeBetween(column="n_tgt", min_value=c["min_tokens"], max_value=c["max_tgt_tokens"]),
        # An answer 30x its question (or a tenth of it) is usually two records merged or a truncated one.
        gxe.ExpectColumnValuesToBeBetween(column="length_ratio", min_value=c["min_length_ratio"],
                                          max_value=c["max_length_ratio"]),
    ]
    return run_suite(df, exps, "n2m", rows=int(table.num_rows))


def failure_message(report: dict, source: str) -> str:
    failed = [e for e in report["expectations"] if not e["success"]]
    lines = [f"Data validation failed for {source} ({report['rows']} pairs): "
             f"{len(failed)} of {len(report['expectations'])} expectations failed."]
    for entry in failed:
        text = _describe(entry)
        hint = HINTS.get(entry["column"], "in the source data")
        lines.append(text.rsplit("\n", 1)[0] + f"\n      fix: correct those rows {hint}")
    lines.append(f"What to do: fix the pairs in the source file and rerun, or, if a rule is too strict, change the "
                 f"{PREFIX} key named above.")
    return "\n".join(lines)


def check(report: dict, source: str) -> None:
    if not report["success"]:
        raise ValidationFailed(failure_message(report, source), report)
