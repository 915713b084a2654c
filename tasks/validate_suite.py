"""Suites declared in files: tasks/<problem>/suite.yaml, run with Great Expectations 1.x.

A suite file lists, per table the runner builds (`rows`, and `classes` where the data has labels),
expectations by their GX type name with kwargs. Bounds that live in params.yaml are GX suite
parameters, `{$PARAMETER: name}`, resolved here from the problem's `validate` section (or passed by
the runner for values such as the label schema) and handed to GX with `expectation_parameters=`.
Each expectation may carry `fix:`, the sentence a failure message ends with; without it, the
sentence names the params keys of the parameters the expectation uses.

The runner computes the helper columns (token counts, Hangul share, ...) in Python; the files only
say what must hold for them.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

SUITES_DIR = Path(__file__).parent  # a problem type's suite is tasks/<problem>/suite.yaml, beside its validate.py
_PARTIAL_UNEXPECTED = 20  # GX keeps this many unexpected rows; reports dedupe them down to a few


def suite_path(name: str) -> Path:
    return SUITES_DIR / name / "suite.yaml"


@lru_cache(maxsize=32)
def _read(path: str, mtime_ns: int) -> dict:  # mtime in the key: a served flow sees an edited suite
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def load_suite(name: str) -> dict:
    """The suite file of `name`, checked for shape (expectation types are checked when built)."""
    path = suite_path(name)
    if not path.is_file():
        known = sorted(p.parent.name for p in SUITES_DIR.glob("*/suite.yaml"))
        raise FileNotFoundError(f"no suite file {path}; suites: {', '.join(known)}")
    suite = _read(str(path), path.stat().st_mtime_ns)
    if not isinstance(suite, dict) or not isinstance(suite.get("tables"), dict):
        raise ValueError(f"{path}: a suite file needs a `tables:` mapping")
    params = suite.get("parameters") or {}
    for pname, spec in params.items():
        if not spec.get("runtime") and not str(spec.get("params", "")).startswith(f"{name}.validate."):
            raise ValueError(
                f"{path}: parameter {pname!r} must come from a {name}.validate key "
                "(or be `runtime: true`, passed by the runner)"
            )
    for table, spec in suite["tables"].items():
        for i, exp in enumerate(spec.get("expectations") or []):
            if "type" not in exp:
                raise ValueError(f"{path}: tables.{table}.expectations[{i}] has no `type`")
            for name_ in _parameters_used(exp.get("kwargs") or {}):
                if name_ not in params:
                    raise ValueError(
                        f"{path}: tables.{table}.expectations[{i}] uses suite parameter "
                        f"{name_!r}, which `parameters:` does not declare"
                    )
    return {**suite, "name": name, "path": str(path), "parameters": params}


def _parameters_used(kwargs: dict) -> list[str]:
    return [v["$PARAMETER"] for v in kwargs.values() if isinstance(v, dict) and "$PARAMETER" in v]


def resolve_parameters(suite: dict, cfg: dict, runtime: dict | None = None) -> dict[str, Any]:
    """Suite parameter values: runtime ones from the runner, the others from the problem's
    `validate` section (cfg), falling back to the file's default; a missing value names its key."""
    runtime = runtime or {}
    values: dict[str, Any] = {}
    missing: list[str] = []
    for name, spec in suite["parameters"].items():
        key = spec["params"]
        if spec.get("runtime"):
            values[name] = runtime.get(name)
            continue
        value = cfg.get(key.rsplit(".", 1)[-1])
        if value is None:
            value = spec.get("default")
        if value is None:
            missing.append(key)
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key} must be a number, not {value!r}")
        values[name] = value
    if missing:
        raise KeyError(f"validation settings missing: set {', '.join(missing)} in params.yaml")
    for name, spec in suite["parameters"].items():
        share = spec.get("share")
        if share and not 0 <= values[name] <= 1:
            raise ValueError(f"{spec['params']} ({values[name]}) must be between 0 and 1")
    for lo, hi in suite.get("ordered") or []:
        if values[lo] > values[hi]:
            p = suite["parameters"]
            raise ValueError(f"{p[lo]['params']} ({values[lo]}) is greater than {p[hi]['params']} ({values[hi]})")
    return values


def expectations(suite: dict, table: str) -> list:
    """GX expectation objects for one table of the suite (`columns: [...]` expands to one per column)."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    out = []
    for exp in suite["tables"][table].get("expectations") or []:
        kwargs = dict(exp.get("kwargs") or {})
        columns = exp.get("columns") or [kwargs.get("column")]
        keys = [suite["parameters"][n]["params"] for n in _parameters_used(kwargs)]
        fix = exp.get("fix") or (
            "correct those rows or change " + " / ".join(keys) if keys else "correct those rows in the source data"
        )
        for column in columns:
            if column is not None:
                kwargs["column"] = column
            config = ExpectationConfiguration(
                type=exp["type"], kwargs=dict(kwargs), notes=fix, meta={"fix": fix, "params_keys": keys, "table": table}
            )
            out.append(config.to_domain_obj())
    return out


def _quiet_gx() -> None:
    # GX logs warnings about config and usage that say nothing about the data;
    # leave the level alone if someone configured it on purpose.
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.ERROR)


def _remove_empty_local_site(ctx) -> None:
    # Each ephemeral context makes an empty temporary folder for its `local_site`, which hanflow never
    # builds (validate_docs uses its own site): remove it rather than leave one per run in /tmp.
    try:
        site = ctx.get_config().data_docs_sites.get("local_site") or {}
        Path(site["store_backend"]["base_directory"]).rmdir()
    except (AttributeError, KeyError, OSError, TypeError):
        pass


def run_tables(
    name: str,
    tables: list[tuple],
    parameters: dict | None = None,
    docs_dir: str | Path | None = None,
    docs_title: str | None = None,
) -> dict:
    """Validate each (table_name, pandas frame, expectations, index_column) in one ephemeral GX
    context; a JSON-able report. With docs_dir, also GX Data Docs readable offline (validate_docs)."""
    from tasks.validation import entry_from_result

    _quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    _remove_empty_local_site(ctx)
    # tqdm bars would land in Prefect's captured logs as noise.
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = ctx.data_sources.add_pandas(f"hanflow_{name}")
    entries: list[dict] = []
    success = True
    for table, df, exps, index in tables:
        batch_def = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("all_rows")
        suite = ctx.suites.add(gx.ExpectationSuite(name=f"{name}_{table}", expectations=exps))
        vd = ctx.validation_definitions.add(
            gx.ValidationDefinition(name=f"{name}_{table}_validation", data=batch_def, suite=suite)
        )
        result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": _PARTIAL_UNEXPECTED}
        if index and index in df.columns:
            # Lets a failure name the offending rows by id (or classes by label), not by pandas index.
            result_format["unexpected_index_column_names"] = [index]
        result = vd.run(
            batch_parameters={"dataframe": df}, expectation_parameters=parameters or None, result_format=result_format
        )
        found = [entry_from_result(r, table=table, index=index) for r in result.results]
        success = success and bool(result.success) and all(e["success"] for e in found)
        entries += found
    report: dict[str, Any] = {"success": success, "expectations": entries}
    if docs_dir is not None:
        from tasks.validate_docs import build_data_docs

        report["data_docs"] = str(build_data_docs(ctx, Path(docs_dir), {**report, "title": docs_title or name}))
    return report


def run_suite_file(
    name: str, frames: dict, cfg: dict, runtime: dict | None = None, *, rows: int, docs_dir: str | Path | None = None
) -> dict:
    """Run suite file `name` on `frames` ({table: pandas frame}); tables without a frame are skipped."""
    suite = load_suite(name)
    values = resolve_parameters(suite, cfg, runtime)
    tables = [
        (t, frames[t], expectations(suite, t), spec.get("index")) for t, spec in suite["tables"].items() if t in frames
    ]
    title = f"{name} validation ({rows} rows)"
    report = run_tables(name, tables, values, docs_dir=docs_dir, docs_title=title)
    report = {"success": report["success"], "rows": rows, **report}
    report["suite"] = f"tasks/{name}/suite.yaml"
    report["parameters"] = {k: v for k, v in values.items() if not isinstance(v, list) or len(v) <= 50}
    report["skipped_tables"] = [t for t in suite["tables"] if t not in frames]
    return report
