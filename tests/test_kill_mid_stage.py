"""A stage killed mid-write (SIGKILL: no cleanup runs) leaves no half-written artifact, and the next run completes.

Writes go to a hidden temporary file next to the target, named with the writer's pid, and are renamed
into place (tasks/io.py atomic_path); the next write to the same target removes leftovers of dead
processes. Model folders are built beside the target and swapped in (tasks/model_dir.py save_model_dir).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tasks import io

ROWS = 100_000
HANFLOW = [sys.executable, "-c", "from flows.cli import app; app()"]
ROOT = Path(__file__).resolve().parents[1]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def big_n21(tmp_path: Path) -> Path:
    """A params file whose n21 ingest reads ROWS rows: long enough to catch it writing its table."""
    data = tmp_path / "big.tsv"
    words = ["배송", "포장", "가격", "품질", "디자인", "색상", "크기", "만족", "실망", "추천"]
    with open(data, "w", encoding="utf-8") as f:
        f.write("id\ttext\tlabel\n")
        for i in range(ROWS):
            text = f"{words[i % 10]} {words[i * 7 % 10]} {words[i * 3 % 10]} 후기 {i}"
            f.write(f"{i}\t{text}\t{'positive' if i % 2 else 'negative'}\n")
    params = tmp_path / "params.yaml"
    params.write_text(
        f"n21:\n  work_dir: {tmp_path / 'work'}\n  model_dir: {tmp_path / 'work' / 'model'}\n"
        f"  data:\n    path: {data}\n    format: tsv\n    encoding: utf-8\n    max_quarantine_share: 0.1\n"
        "    columns: {id: id, text: text, label: label, split: null}\n"
        "    split: {dev: 0.1, test: 0.1, seed: 13}\n",
        encoding="utf-8",
    )
    return params


def test_stage_killed_mid_write_leaves_no_half_written_artifact_and_the_rerun_completes(big_n21: Path):
    work = big_n21.parent / "work"
    target = work / "ingested.parquet"
    command = [*HANFLOW, "stage", "n21", "ingest", "--params", str(big_n21)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    temps: list[Path] = []
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        temps = list(work.glob(".ingested.parquet.*")) if work.is_dir() else []
        if temps:  # the stage is writing its table right now
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.001)
    proc.wait()
    assert temps, f"the stage ended before it was caught writing (rc {proc.returncode}): {proc.stderr.read()[-2000:]}"
    assert proc.returncode == -signal.SIGKILL
    proc.stderr.close()

    leftovers = list(work.glob(".ingested.parquet.*"))
    if target.exists():  # killed in the instant after the rename: then the table is whole
        assert pq.read_metadata(target).num_rows == ROWS
    else:  # killed mid-write: only the hidden temporary file is there, named with the dead writer's pid
        assert [p.name.split(".")[3] for p in leftovers] == [str(proc.pid)]
    assert not (work / "reports" / "ingest.json").exists()

    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert pq.read_metadata(target).num_rows == ROWS
    assert pq.read_table(work / "quarantine.parquet").num_rows == 0
    assert list(work.glob(".ingested.parquet.*")) == []  # the dead run's temporary file is cleaned up
    assert (work / "reports" / "ingest.json").exists()


def test_failed_write_leaves_the_old_artifact_and_no_temporary_file(tmp_path: Path):
    target = io.write_text("old\n", tmp_path / "a.md")
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half", encoding="utf-8")
            raise RuntimeError("killed")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.md"]
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # artifacts get the usual mode, not mkstemp's


def test_leftovers_of_dead_writers_are_removed_and_live_ones_kept(tmp_path: Path):
    target = tmp_path / "ingested.parquet"
    dead, live = dead_pid(), os.getppid()
    stale = tmp_path / f".ingested.parquet.{dead}.x1.parquet"
    stale_dir = tmp_path / f".ingested.parquet.{dead}.new.x2"
    running = tmp_path / f".ingested.parquet.{live}.x3.parquet"
    other = tmp_path / ".ingested.parquet.notapid"
    for p in (stale, running, other):
        p.write_bytes(b"PAR1 half")
    stale_dir.mkdir()
    assert sorted(io.remove_stale_temps(target)) == sorted([stale, stale_dir])
    assert running.exists() and other.exists()


def test_model_dir_save_cleans_a_killed_save_and_swaps_in_whole(tmp_path: Path):
    import torch

    from tasks.model_dir import save_model_dir

    model_dir = tmp_path / "model"
    dead = dead_pid()
    half = tmp_path / f".model.{dead}.new.abc"  # what a save killed mid-write leaves
    half.mkdir()
    (half / "weights.pt").write_bytes(b"half")
    model = torch.nn.Linear(2, 2)
    save_model_dir(model_dir, model, {"architecture": "test.Linear"}, {"vocab.json": {"itos": ["a"]}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert sorted(p.name for p in model_dir.iterdir()) == [
        ".hanflow",
        "manifest.json",
        "model_config.json",
        "vocab.json",
        "weights.pt",
    ]
    state = torch.load(model_dir / "weights.pt", weights_only=True)
    assert torch.equal(state["weight"], model.weight.detach())


POOL_SCRIPT = """
import os, sys, time
sys.path.insert(0, {root!r})
from tasks import partition


def pid_of(part, cfg):
    time.sleep(0.2)  # long enough that both workers take a partition
    return os.getpid()


if __name__ == "__main__":
    cfg = {{"workers": 2, "runner": {{"kind": "process"}}}}

    def body(map_fn):
        print(" ".join(map(str, sorted(set(map_fn([0, 1, 2, 3]))))), flush=True)
        time.sleep(600)  # the stage goes on; it is killed here

    partition.run(cfg, pid_of, body)
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has exited; only its entry waits for a reaper


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_pool_workers_die_with_a_killed_stage(tmp_path: Path):
    """kill -9 runs no shutdown: the workers, blocked on a queue whose pipe they hold themselves, must notice."""
    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT.format(root=str(ROOT)), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    workers = [int(pid) for pid in proc.stdout.readline().split()]
    assert workers and all(_running(pid) for pid in workers), workers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if _running(pid)]
    for pid in left:  # do not leave them behind even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived their killed parent"
