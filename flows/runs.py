"""What the Prefect run list says about hanflow's runs: which process ran each one, crashed runs, decisions.

- Each hanflow flow run carries a tag `hanflow-pid:<host>:<pid>` naming the process that runs it.
- A run killed with its process (kill -9, a reboot) would stay RUNNING forever: `mark_crashed_runs`, called
  when hanflow starts a run, sets every still-RUNNING/PENDING hanflow run of this host whose process is gone
  to Crashed, with a message saying so (and its unfinished task runs with it). Runs of other hosts and runs
  without the tag are left alone: their process cannot be checked from here.
- A retraining run ends in a Completed state named after its decision (Promoted, Refused, Kept) with the
  reasons as its message, and tags `decision:<decision>` and `<problem>:<decision>`; a failed one is Failed
  (tagged `decision:failed`).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone
from typing import Callable

PID_TAG = "hanflow-pid:"
NOT_DONE = ("RUNNING", "PENDING")
# The run's state name when its problems decided differently: the most consequential decision wins.
DECISION_ORDER = ("promoted", "refused", "kept")


def process_tag(pid: int | None = None, host: str | None = None) -> str:
    return f"{PID_TAG}{host or socket.gethostname()}:{pid or os.getpid()}"


def recorded_process(tags: list[str]) -> tuple[str, int] | None:
    """(host, pid) from a run's `hanflow-pid:` tag, None when it has none."""
    for tag in tags or []:
        if tag.startswith(PID_TAG):
            host, _, pid = tag[len(PID_TAG) :].rpartition(":")
            if pid.isdigit():
                return host, int(pid)
    return None


def tag_current_run(*tags: str) -> None:
    """Add tags to the flow run this code runs in (no-op outside one). A tag that cannot be written is
    logged, never raised: the run's work is done or still to do either way."""
    from prefect import get_run_logger
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    if not flow_run.id:
        return
    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(flow_run.id)
            client.update_flow_run(run.id, tags=sorted(set(run.tags) | set(tags)))
    except Exception as err:
        get_run_logger().warning("could not tag this flow run %s: %s", list(tags), err)


def mark_crashed_runs(log: Callable[[str], None] = print) -> list[str]:
    """Set hanflow flow runs left RUNNING/PENDING by a process of this host that no longer exists to Crashed.

    Returns the names of the runs marked. Never raises: a dashboard that cannot be tidied must not stop a run.
    """
    try:
        return _mark_crashed_runs(log)
    except Exception as err:
        log(f"could not check for crashed runs: {err}")
        return []


def _mark_crashed_runs(log) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    from tasks.io import alive

    host, me, marked = socket.gethostname(), os.getpid(), []
    not_done = [StateType(s) for s in NOT_DONE]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(like_="hanflow-")),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=not_done))),
            limit=200,
        )
        for run in runs:
            recorded = recorded_process(run.tags)
            if recorded is None or recorded[0] != host or recorded[1] == me or alive(recorded[1]):
                continue
            when = datetime.now(timezone.utc).isoformat(timespec="seconds")
            message = (
                f"process {recorded[1]} on {host} that ran this flow no longer exists (killed, or the "
                f"machine stopped); marked crashed by the next hanflow run at {when}"
            )
            client.set_flow_run_state(run.id, Crashed(message=message), force=True)
            tasks = client.read_task_runs(
                task_run_filter=TaskRunFilter(
                    flow_run_id=TaskRunFilterFlowRunId(any_=[run.id]),
                    state=TaskRunFilterState(type=TaskRunFilterStateType(any_=not_done)),
                )
            )
            for task_run in tasks:
                client.set_task_run_state(task_run.id, Crashed(message=message), force=True)
            marked.append(run.name)
            log(f"flow run {run.name} ({run.id}) was left {run.state_type.value} by a killed process: marked Crashed")
    return marked


def decision_state(results: dict[str, dict]):
    """The retraining run's final state: Completed, named after the decision, the reasons as its message."""
    from prefect.states import Completed

    decisions = {problem: str(d.get("decision") or "done") for problem, d in results.items()}
    name = next((d for d in DECISION_ORDER if d in decisions.values()), None)
    message = "; ".join(f"{p} {d}: {results[p].get('reason') or ''}".strip() for p, d in decisions.items())
    return Completed(name=name.title() if name else "Completed", message=message[:2000], data=results)


def decision_tags(decisions: dict[str, str]) -> list[str]:
    return sorted({f"decision:{d}" for d in decisions.values()} | {f"{p}:{d}" for p, d in decisions.items()})
