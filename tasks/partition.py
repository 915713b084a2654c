"""Partitions: run a function over chunks of rows in workers chosen by params, results in chunk order.

Used by tokenize (params `tokenize.workers` (1: in this process), `tokenize.chunk_size` (rows per
partition), `tokenize.runner`) and by every encode stage (`encode.workers/chunk_size/runner`, through
`map_rows`; N21 on threads by default, as its Arrow and numpy work releases the GIL). Runners:

- `kind: process` (default): a spawn-based process pool (the JVM does not survive fork); each worker
  builds its tagger once, in the pool's initializer, and keeps it for every partition it gets; it
  exits within a second of its parent's end, however the parent ended (`start_worker`).
- `kind: thread`: a thread pool in this process, one tagger per thread (Mecab holds the GIL, so this
  only helps taggers that release it; kept for the JVM taggers' tests and odd platforms).
- `kind: dask`: a Prefect flow whose task runner is prefect-dask's DaskTaskRunner, one Prefect task
  per partition (`.map`), visible in the dashboard. `address: null` starts a LocalCluster of
  `workers` single-threaded worker processes (spawned, so a JVM per worker is safe); an address
  (tcp://host:8786) uses an existing cluster, whose workers need hanflow installed.
  Needs `pip install 'hanflow[dask]'`.

`run(cfg, body)` calls `body(map_fn)` with `map_fn(chunks) -> [fn(chunk, cfg) ...]`, so one pool
(or one Prefect flow and cluster) serves every batch of a streamed stage.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from typing import Any, Callable, Iterable

KINDS = ("process", "thread", "dask")
MapFn = Callable[..., list[Any]]  # map_fn(parts, done=None): `done(result)` as each partition finishes, in order


def collect(results: Iterable[Any], done: Callable[[Any], None] | None) -> list[Any]:
    """The results in order, telling `done` (a progress bar) about each as it arrives."""
    out = []
    for result in results:
        out.append(result)
        if done is not None:
            done(result)
    return out


def settings(cfg: dict) -> tuple[str, int, str | None]:
    runner = cfg.get("runner") or {}
    if isinstance(runner, str):
        runner = {"kind": runner}
    kind = runner.get("kind") or "process"
    if kind not in KINDS:
        raise ValueError(
            f"runner.kind is {kind!r} (tokenize.runner or encode.runner in params.yaml); "
            f"choose one of {', '.join(KINDS)}"
        )
    return kind, max(1, int(cfg.get("workers", 1))), runner.get("address")  # 0 (auto): resolved by the caller


def chunk_rows(cfg: dict, rows: int) -> int:
    """Rows per partition: `chunk_size`; on Dask at least rows / (2 x workers), since a Prefect task costs
    ~0.1-0.5 s of API calls and transfers (measured: 2,000-row tasks made Dask 4x slower than the pool)."""
    size = max(1, int(cfg.get("chunk_size", 2000)))
    kind, workers, _ = settings(cfg)
    return max(size, -(-rows // (2 * workers))) if kind == "dask" else size


def chunks(items: list, size: int) -> list[list]:
    size = max(1, int(size))
    return [items[i : i + size] for i in range(0, len(items), size)]


def run(
    cfg: dict,
    fn: Callable[[Any, dict], Any],
    body: Callable[[MapFn], Any],
    warm: Callable[[dict], None] | None = None,
    name: str = "tokenize-partition",
) -> Any:
    """body(map_fn): map_fn runs fn(chunk, cfg) for each chunk on the runner cfg names.

    A serial map_fn is used when one worker is asked for. `warm(cfg)` runs once per worker process
    before any chunk (builds the tagger)."""
    kind, workers, address = settings(cfg)
    if workers == 1 and not (kind == "dask" and address):
        return body(lambda parts, done=None: collect((fn(part, cfg) for part in parts), done))
    if kind == "dask":
        return _dask(cfg, fn, body, workers, address, name)
    pool = None  # started on the first map: a batch that needs no tagging never pays for the workers' start

    def map_fn(parts: list, done: Callable[[Any], None] | None = None) -> list:
        nonlocal pool
        if pool is None:
            if kind == "thread":
                pool = ThreadPoolExecutor(workers)
            else:
                pool = ProcessPoolExecutor(
                    workers,
                    mp_context=get_context("spawn"),
                    initializer=start_worker,
                    initargs=(os.getpid(), warm, cfg),
                )
        return collect(pool.map(fn, parts, [cfg] * len(parts)), done)

    try:
        return body(map_fn)
    finally:
        if pool is not None:
            pool.shutdown()


def start_worker(parent: int, warm: Callable[[dict], None] | None, cfg: dict) -> None:
    """A pool worker's initializer: die with the parent, then `warm(cfg)` (build the tagger).

    A worker blocks on its task queue, whose pipe it holds open itself, so a parent killed with SIGKILL
    (no shutdown runs) would leave it waiting forever with its tagger (~230 MB for Mecab, a JVM for the
    others): a daemon thread checks every WATCH_S seconds that the parent still is the parent."""
    threading.Thread(target=_exit_with_parent, args=(parent,), name="hanflow-parent-watch", daemon=True).start()
    if warm is not None:
        warm(cfg)


WATCH_S = 0.5


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_S)
    os._exit(1)  # the parent is gone: nobody will read a result


def _dask(cfg: dict, fn: Callable, body: Callable[[MapFn], Any], workers: int, address: str | None, name: str) -> Any:
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as err:
        raise ImportError("tokenize.runner.kind=dask needs prefect-dask: pip install 'hanflow[dask]'") from err
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    if address:
        runner = DaskTaskRunner(address=address)  # its workers need PREFECT_API_URL set themselves
    else:
        from prefect.client.orchestration import get_client

        # The workers report task runs to this process's API (a temporary server when PREFECT_API_URL is
        # unset): without it each worker would start a temporary server of its own (~8 s, ~300 MB each).
        with get_client(sync_client=True) as client:
            api_url = str(client.api_url)
        # Worker processes, one thread each: one tagger (and one JVM) per worker. Spawned, not forked.
        # Scheduler and dashboard on loopback (":0" alone binds every interface); HANFLOW_DASK_DASHBOARD
        # (e.g. 0.0.0.0:8787) opens the dashboard wider on purpose.
        runner = DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={
                "n_workers": workers,
                "threads_per_worker": 1,
                "processes": True,
                "host": "127.0.0.1",
                "dashboard_address": os.environ.get("HANFLOW_DASK_DASHBOARD", "127.0.0.1:0"),
                "env": {"PREFECT_API_URL": api_url},
            },
        )
    token = uuid.uuid4().hex
    _RUNS[token] = (task(fn, name=name, cache_policy=NO_CACHE, persist_result=False), cfg, body)
    try:
        # A module-level function: Prefect ships the flow run's context (the flow included) to the Dask
        # workers, and a closure would drag the stage's open files along.
        return flow(
            _partitions, name="hanflow-partitions", task_runner=runner, validate_parameters=False, persist_result=False
        )(token)
    finally:
        del _RUNS[token]


_RUNS: dict[str, tuple] = {}  # token -> (Prefect task, cfg, body) of a running Dask flow, in this process


def _partitions(token: str) -> Any:
    """The Dask flow's body: run the stage's `body` with a map that makes a Prefect task per partition."""
    from prefect import unmapped

    partition, cfg, body = _RUNS[token]

    def map_fn(parts: list, done: Callable[[Any], None] | None = None) -> list:
        futures = partition.map(parts, unmapped(cfg))
        return collect((f.result() for f in futures), done)

    return body(map_fn)


def stage_settings(cfg: dict, rows: int, default_kind: str = "thread") -> dict:
    """An encode stage's `workers/chunk_size/runner` with `workers: 0` (auto) resolved: one per CPU once there
    are two partitions (a missing `workers` means 1: here, no pool)."""
    settings = {
        "workers": int(cfg.get("workers", 1)),
        "chunk_size": int(cfg.get("chunk_size", 50_000)),
        "runner": cfg.get("runner") or {"kind": default_kind},
    }
    if settings["workers"] <= 0:
        parts = -(-rows // max(1, settings["chunk_size"]))
        settings["workers"] = max(1, min(os.cpu_count() or 1, parts))
    return settings


def map_rows(
    table, fn: Callable[[Any, dict], Any], spec: dict, settings: dict | None, name: str = "encode-partition"
) -> tuple[Any, int]:
    """`fn(rows, spec)` over slices of an Arrow table on the runner `settings` names (None: the whole table,
    here); the results concatenated in row order, and how many partitions there were. `fn` must be a
    module-level function (process and Dask runners pickle it) that depends on nothing but `spec`."""
    import pyarrow as pa

    if settings is None:
        return fn(table, spec), 1
    size = chunk_rows(settings, table.num_rows)
    parts = [table.slice(start, size) for start in range(0, table.num_rows, size)] or [table]
    results = run({**settings, **spec}, fn, lambda map_fn: map_fn(parts), name=name)
    return pa.concat_tables(results), len(parts)
