"""`dvc repro` in a temporary copy of the repo: builds everything, then does nothing, then
reruns only the stages that read a changed param; an edit to one problem type's code changes only its stages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import ROOT


def _sh(*cmd: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
    }
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


def test_dvc_repro_builds_then_noop_then_only_changed(tmp_path):
    repo = tmp_path / "repo"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked + [".dvc/config", ".dvcignore"]:
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    # A short training keeps this test about the pipeline graph, not the model.
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    params["n21"]["train"]["epochs"] = 2
    params["n2n"]["train"].update(epochs=2, num_layers=1, hidden_dim=32)
    params["n2path"]["train"].update(epochs=2, num_layers=1, hidden_dim=32, arc_mlp=64, rel_mlp=32)
    params["n2m"]["train"].update(epochs=2, emb_dim=32, hidden_dim=32, threads=1)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    _sh("git", "init", "-q", cwd=repo)

    first = _sh("dvc", "repro", cwd=repo)
    assert _ran(first) == {
        f"{p}-{s}"
        for p in ("n21", "n2n", "n2m", "n2path")
        for s in ("ingest", "tokenize", "encode", "validate", "class_design", "train", "evaluate")
    } | {f"{p}-{s}" for p in ("n21", "n2n") for s in ("vectors", "label_review")}
    assert (repo / "data/n21/eval/metrics.json").is_file()
    for problem in ("n2n", "n2m", "n2path"):
        assert (repo / f"data/{problem}/eval/metrics.json").is_file()
    assert (repo / "dvc.lock").is_file()
    _check_metrics_fit_a_terminal(_sh("dvc", "metrics", "show", cwd=repo))

    assert _ran(_sh("dvc", "repro", cwd=repo)) == set()

    params["n21"]["evaluate"]["batch_size"] = 64
    (repo / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert _ran(_sh("dvc", "repro", cwd=repo)) == {"n21-evaluate"}

    _check_each_problem_types_code_reaches_its_own_stages_only(repo)


def _changed(status: str) -> set[str]:
    """Stage names `dvc status` lists as changed ("n21-train:" lines, unindented)."""
    return {line[:-1] for line in status.splitlines() if line.endswith(":") and not line[0].isspace()}


def _check_each_problem_types_code_reaches_its_own_stages_only(repo: Path) -> None:
    """Editing one problem type's model and encode code leaves every other problem type's stages up to date."""
    assert _changed(_sh("dvc", "status", cwd=repo)) == set()
    for problem in ("n21", "n2n", "n2m", "n2path"):
        edited = [repo / f"models/{problem}.py", repo / f"tasks/{problem}/encode.py"]
        before = [path.read_bytes() for path in edited]
        for path in edited:
            path.write_text(path.read_text(encoding="utf-8") + "\n# an edit\n", encoding="utf-8")
        changed = _changed(_sh("dvc", "status", cwd=repo))
        assert {f"{problem}-encode", f"{problem}-train"} <= changed, changed
        assert all(name.startswith(f"{problem}-") for name in changed), changed
        for path, content in zip(edited, before):
            path.write_bytes(content)


def _check_metrics_fit_a_terminal(shown: str) -> None:
    """`dvc metrics show`: each problem's headline figures, in lines a terminal can show."""
    lines = [line for line in shown.splitlines() if line.strip()]
    assert max(map(len, lines)) <= 200, "\n".join(lines)
    for problem in ("n21", "n2n", "n2m", "n2path"):
        rows = [line for line in lines if line.startswith(f"data/{problem}/")]
        assert 1 <= len(rows) <= 10, (problem, rows)
        assert any(line.startswith(f"data/{problem}/eval/headline.json") for line in rows), rows
    header = lines[0].split()
    for figure in ("accuracy", "macro_f1", "f1", "chrf", "uas", "las", "baseline", "rows"):
        assert figure in header, header
