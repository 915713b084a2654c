"""The Prefect flow: every stage of a problem type, in one process, as thin tasks.

The stages come from flows/stages.py — the same list dvc.yaml is generated from. Prefect is imported
only where a flow runs: `hanflow stage` (each DVC stage) would otherwise pay ~1.8 s to import it.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from flows.stages import Stage, report_path, resolve, stages_for
from tasks import io


def _run_and_report(stage: Stage, section: dict) -> dict:
    """Run a stage and write its report (row counts, duration) next to its outputs."""
    started = time.perf_counter()
    report = stage.run(section)
    report["seconds"] = round(time.perf_counter() - started, 3)
    io.write_json(report, resolve(report_path(stage), section))
    return report


def _stage_task(problem: str, stage: Stage):
    from prefect import get_run_logger, task
    from prefect.cache_policies import NO_CACHE

    def run(section: dict) -> dict:
        logger = get_run_logger()
        logger.info("%s.%s: start", problem, stage.name)
        try:
            report = _run_and_report(stage, section)
        except Exception as err:
            # A failed validation still publishes its report and Data Docs links before failing the flow.
            if stage.publish and isinstance(getattr(err, "report", None), dict):
                try:
                    stage.publish(err.report, section)
                except Exception as publish_err:  # never hide the validation failure itself
                    logger.warning("%s.%s: could not publish artifacts: %s", problem, stage.name, publish_err)
            raise
        counts = {k: report[k] for k in ("rows_in", "rows_kept", "rows_quarantined") if k in report}
        logger.info("%s.%s: done in %.1fs %s", problem, stage.name, report["seconds"], counts or "")
        from flows.artifacts import publish_counts

        publish_counts(problem, stage.name, report)
        if stage.publish:
            stage.publish(report, section)
        from flows.dashboard import publish_stage_extras

        publish_stage_extras(problem, stage, section)  # learning curve, confusion image
        return report

    # Inputs are whole params sections and outputs live in files: no Prefect result caching.
    return task(run, name=f"{problem}.{stage.name}", cache_policy=NO_CACHE, persist_result=False)


def data_version(section: dict) -> str:
    """Short content hash of the input file and the problem's params, for flow-run names."""
    h = hashlib.sha256(json.dumps(section, sort_keys=True, default=str).encode())
    data = Path(str(section.get("data", {}).get("path", "")))
    if data.is_file():
        h.update(data.read_bytes())
    return h.hexdigest()[:8]


def run_problem_flow(problem: str, section: dict) -> dict:
    """Run one problem type's stages under a flow run named after the problem and data version."""
    from prefect import flow

    stages = stages_for(problem)

    @flow(name=f"hanflow-{problem}", flow_run_name=f"{problem}-{data_version(section)}", log_prints=True)
    def problem_flow(section: dict) -> dict:
        reports = {}
        for stage in stages:
            reports[stage.name] = _stage_task(problem, stage)(section)
        from flows.dashboard import publish_dvc_outputs

        publish_dvc_outputs(problem, stages, section)
        return reports

    from prefect import tags

    from flows.lock import run_lock
    from flows.runs import mark_crashed_runs, process_tag
    from flows.server import _stderr, prefect_api

    # One writer per work folder and model folder; one Prefect API per run (configured, or a local server started once).
    with run_lock(problem, section, what=f"hanflow run {problem}"), prefect_api():
        mark_crashed_runs(_stderr)  # runs a killed process left RUNNING
        with tags(process_tag()):  # which process runs it, for that check in the next run
            return problem_flow(section)


def run_stage(problem: str, name: str, section: dict) -> dict:
    """One stage without Prefect — what each DVC stage runs (`hanflow stage`), under the same folder checks
    and locks as a whole run (flows/lock.py)."""
    from flows.lock import run_lock

    for stage in stages_for(problem):
        if stage.name == name:
            with run_lock(problem, section, what=f"hanflow stage {problem} {name}"):
                return _run_and_report(stage, section)
    raise KeyError(f"{problem} has no stage {name!r}; stages: {[s.name for s in stages_for(problem)]}")
