"""The measurements behind `hanflow bench --perf` (bench/perf.py runs them and writes the report)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from bench.perf import ROOT, section, stage_times, timed


def okt_loop(texts: list[str], sample: int) -> dict:
    from konlpy.tag import Okt

    subset = texts if sample <= 0 or sample >= len(texts) else texts[:: max(1, len(texts) // sample)][:sample]
    started = time.perf_counter()
    okt = Okt()
    okt.pos(subset[0])  # JVM start and Okt's first-call cost, paid once by any loop
    startup = time.perf_counter() - started
    _, loop = timed(lambda: [okt.pos(t) for t in subset])
    seconds = startup + loop * len(texts) / len(subset)
    return {
        "sentences": len(texts),
        "measured": len(subset),
        "startup_s": round(startup, 2),
        "loop_s": round(loop, 2),
        "sentences_per_s": round(len(subset) / loop),
        "seconds": round(seconds, 2),
        "extrapolated": len(subset) < len(texts),
    }


def mecab_loop(texts: list[str]) -> dict:
    from tasks.tokenize import make_tagger

    (pos,), startup = timed(lambda: [make_tagger("mecab")])
    _, loop = timed(lambda: [pos(t) for t in texts])
    return {
        "sentences": len(texts),
        "startup_s": round(startup, 3),
        "seconds": round(loop + startup, 3),
        "sentences_per_s": round(len(texts) / loop),
    }


def prefect_vs_direct(params_file: Path, tmp: Path, data: Path, server: dict, say) -> dict:
    """The whole N21 pipeline (1 epoch) as the stage functions called directly and as the Prefect flow on a
    running server (`server`, from private_prefect), in the order direct, Prefect, Prefect, direct: a load
    that drifts during the part hits both sides alike. Medians of two."""
    from flows.pipeline import run_problem_flow
    from flows.stages import stages_for

    tiny = ("n21.train.epochs=1",)
    runs: dict[str, list[float]] = {"direct": [], "prefect": []}
    for i, how in enumerate(("direct", "prefect", "prefect", "direct")):
        sec = section(params_file, tmp / f"{how}{i}", data, *tiny)
        if how == "direct":
            seconds = sum(stage_times(sec, [s.name for s in stages_for("n21")]).values())
        else:
            seconds = timed(run_problem_flow, "n21", sec)[1]
        runs[how].append(round(seconds, 2))
        say(f"  {how}: {seconds:.1f} s")
    return {
        "direct_s": round(sum(runs["direct"]) / 2, 2),
        "prefect_s": round(sum(runs["prefect"]) / 2, 2),
        "runs": runs,
        "server_start_s": server["start_s"],
        "rows": len(data.read_text(encoding="utf-8").splitlines()) - 1,
    }


@contextmanager
def private_prefect(home: Path) -> Iterator[dict]:
    """A Prefect server of this run's own (own PREFECT_HOME, free port), this process and its children
    pointed at it; yields {"url", "start_s"}. Nothing lands in the user's Prefect database."""
    import socket
    import urllib.request

    from prefect.settings import PREFECT_API_URL, temporary_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    started = time.perf_counter()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    previous = os.environ.get("PREFECT_API_URL")
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.perf_counter() - started > 300:
                    raise RuntimeError("prefect server did not start within 5 minutes") from None
                time.sleep(0.5)
        info = {"url": url, "start_s": round(time.perf_counter() - started, 2)}
        os.environ["PREFECT_API_URL"] = url
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield info
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
        server.terminate()
        server.wait(timeout=60)


def repo_copy(target: Path) -> Path:
    """The working tree's code, params and embedded data (no stage outputs, no other data)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in [n for n in listed if n] + [".dvc/config", ".dvcignore"]:
        src = ROOT / name
        if (name.startswith("data/") and not name.startswith(("data/sample/", "data/schema/"))) or not src.is_file():
            continue
        if src.stat().st_size < 5_000_000:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / name)
    return target


def dvc_noop(tmp: Path, say) -> dict:
    import yaml

    repo = repo_copy(tmp / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    params["n21"]["train"]["epochs"] = 1
    params["n2n"]["train"].update(epochs=1, num_layers=1, hidden_dim=32)
    params["n2path"]["train"].update(epochs=1, num_layers=1, hidden_dim=32, arc_mlp=64, rel_mlp=32)
    params["n2m"]["train"].update(epochs=1, emb_dim=32, hidden_dim=32)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }

    def sh(*cmd: str) -> tuple[str, float]:
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=3600)
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        return done.stdout + done.stderr, time.perf_counter() - started

    sh("git", "init", "-q")
    say("  dvc repro (first build, all four problem types, 1 training epoch) …")
    _, build = sh("dvc", "repro")
    runs = []
    for _ in range(3):
        output, seconds = sh("dvc", "repro")
        if "Running stage" in output:
            raise RuntimeError(f"a second dvc repro reran stages:\n{output[-2000:]}")
        runs.append(round(seconds, 2))
    return {
        "first_build_s": round(build, 1),
        "noop_runs_s": runs,
        "noop_s": sorted(runs)[1],
        "stages": len(yaml.safe_load((repo / "dvc.yaml").read_text(encoding="utf-8"))["stages"]),
    }


RSS_SNIPPET = """
import json, resource, sys, time
from flows.n21 import tokenize
section = json.loads(sys.argv[1])
started = time.perf_counter()
report = tokenize(section)
try:  # this process's own high-water mark (ru_maxrss would include the parent's size at fork time)
    peak_kb = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
except (OSError, StopIteration):
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": time.perf_counter() - started, "report": report, "self_mb": peak_kb / 1024}))
"""


def tokenize_rss(sec: dict) -> dict:
    """The N21 tokenize stage as its own process: the stage process's peak RSS (VmHWM), and sampled every
    0.2 s, the largest worker's and the whole process tree's."""
    proc = subprocess.Popen(
        [sys.executable, "-c", RSS_SNIPPET, json.dumps(sec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tree_peak, per_process = 0.0, {}
    try:
        import psutil

        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                sizes = {p.pid: p.memory_info().rss / 2**20 for p in [root, *root.children(recursive=True)]}
            except psutil.Error:
                sizes = {}
            tree_peak = max(tree_peak, sum(sizes.values()))
            for pid, mb in sizes.items():
                per_process[pid] = max(per_process.get(pid, 0.0), mb)
            time.sleep(0.2)
    except ImportError:
        pass
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"tokenize stage failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    workers = [mb for pid, mb in per_process.items() if pid != proc.pid]
    return {
        "rows": result["report"]["rows_in"],
        "seconds": round(result["seconds"], 1),
        "workers": result["report"]["workers"],
        "stage_process_peak_mb": round(result["self_mb"]),
        "largest_worker_peak_mb_sampled": round(max(workers, default=0)),
        "process_tree_peak_mb_sampled": round(tree_peak) or None,
    }


def dask_vs_process(params_file: Path, tmp: Path, data: Path) -> dict:
    out = {}
    for kind in ("process", "dask"):
        work = tmp / f"runner_{kind}"
        work.mkdir()
        shutil.copy2(tmp / "pipe/ingested.parquet", work / "ingested.parquet")
        sec = section(params_file, work, data, f"n21.tokenize.runner.kind={kind}", "n21.tokenize.workers=2")
        out[f"{kind}_s"] = stage_times(sec, ["tokenize"])["tokenize"]
    return out


def rss_parts(params_file: Path, tmp: Path, texts: list[str], labels: list[str], rows: int) -> dict:
    import pyarrow as pa

    from bench.perf import take, variants
    from tasks import io

    big, big_labels = take(variants(texts, labels, set()), rows)
    out = {}
    for name, n in (("small", rows // 10), ("large", rows)):
        work = tmp / f"rss_{name}"
        io.write_table(
            pa.table(
                {"id": [f"r{i}" for i in range(n)], "text": big[:n], "label": big_labels[:n], "split": ["train"] * n}
            ),
            work / "ingested.parquet",
        )
        # 2 workers at both sizes (auto would give the small one 1): the same process tree, rows x10
        out[name] = tokenize_rss(section(params_file, work, tmp / "unused.tsv", "n21.tokenize.workers=2"))
    return out
