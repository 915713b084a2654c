"""Folders a run writes: never one hanflow did not create, the model follows the work dir, and every folder a
run writes is locked (tasks/folders.py, flows/lock.py). Model dirs here are built by hand: no training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from flows.cli import app
from flows.lock import HELD_ENV, LockedError, run_lock
from flows.pipeline import run_stage
from tasks.folders import MARKER, FolderError, check_model_dir, check_work_dir
from tasks.model_dir import save_model_dir
from tasks.params import load_params
from tests.conftest import ROOT, SAMPLE

runner = CliRunner()
HANFLOW = [sys.executable, "-c", "from flows.cli import app; app()"]


def tiny_model_dir(folder: Path) -> Path:
    """What save_model_dir writes, for a two-weight model."""
    return save_model_dir(folder, torch.nn.Linear(1, 1), {"architecture": "test.Linear"}, {"vocab.json": {"itos": []}})


def section(tmp_path: Path, **paths) -> dict:
    work = paths.get("work", tmp_path / "work")
    from tasks.params import load_defaults, load_schema, with_defaults

    given = {
        "work_dir": str(work),
        "model_dir": str(paths.get("model", work / "model")),
        "data": {
            "path": str(SAMPLE),
            "format": "tsv",
            "encoding": "utf-8",
            "max_quarantine_share": 0.1,
            "columns": {"id": "id", "text": "text", "label": "label", "split": None},
            "split": {"dev": 0.1, "test": 0.15, "seed": 13},
        },
        "tokenize": {"cache": False},
    }
    return with_defaults({"n21": given}, load_defaults(), load_schema())["n21"]  # the rest as params.yaml says


# ---------------------------------------------------------------- never delete a folder hanflow did not create


def test_a_users_folder_as_model_dir_is_refused_and_kept(tmp_path):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.docx").write_bytes(b"years of work")
    with pytest.raises(FolderError, match=r"thesis already holds files hanflow did not write \(chapter1\.docx\)"):
        tiny_model_dir(mine)
    assert (mine / "chapter1.docx").read_bytes() == b"years of work"


def test_the_projects_own_folders_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    for folder, reason in (
        (ROOT / "models", "source folder models/"),
        (ROOT / "tasks" / "x", "inside the project's source folder tasks/"),
        (ROOT / "data" / "sample", "source folder data/sample/"),
        (ROOT, "is a project folder"),
        (Path("."), "is a project folder"),
        (Path("/"), "file system root"),
        (Path.home(), "home directory"),
        (ROOT.parent, "holds the current directory"),
    ):
        with pytest.raises(FolderError, match=reason):
            check_model_dir(folder, key="n21.model_dir")
        with pytest.raises(FolderError, match=reason):
            check_work_dir(folder, [], key="n21.work_dir")
    assert (ROOT / "models" / "n21.py").is_file()


def test_hanflow_model_dirs_are_replaced_and_marked(tmp_path):
    model = tiny_model_dir(tmp_path / "model")
    assert json.loads((model / MARKER).read_text())["kind"] == "model"
    tiny_model_dir(model)  # its own folder: replaced
    legacy = tmp_path / "old"  # written before the marker: recognised by its files and manifest
    tiny_model_dir(legacy)
    (legacy / MARKER).unlink()
    assert check_model_dir(legacy) == legacy
    (legacy / "notes.txt").write_text("mine")  # not in the manifest: not hanflow's any more
    with pytest.raises(FolderError, match="notes.txt"):
        check_model_dir(legacy)
    (legacy / MARKER).write_text("")  # a user's empty marker vouches for it
    assert check_model_dir(legacy) == legacy
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_model_dir(empty) == empty and check_model_dir(tmp_path / "new") == tmp_path / "new"


def test_model_dir_that_is_a_work_dir_a_file_or_a_link_is_refused(tmp_path):
    work = tmp_path / "work"
    with run_lock("n21", section(tmp_path), "test"):  # marks the work dir
        pass
    with pytest.raises(FolderError, match="is a hanflow work dir, not a model dir"):
        check_model_dir(work)
    with pytest.raises(FolderError, match="n21.model_dir .* holds n21.work_dir"):
        run_stage("n21", "ingest", section(tmp_path, model=tmp_path))
    (tmp_path / "file").write_text("x")
    with pytest.raises(FolderError, match="is a file"):
        check_model_dir(tmp_path / "file")
    target = tiny_model_dir(tmp_path / "real")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(FolderError, match="symbolic link"):
        check_model_dir(tmp_path / "link")


def test_work_dir_of_foreign_files_is_refused_and_one_of_hanflows_artifacts_accepted(tmp_path):
    foreign = tmp_path / "downloads"
    foreign.mkdir()
    (foreign / "taxes.pdf").write_bytes(b"%PDF")
    with pytest.raises(FolderError, match=r"downloads already holds files hanflow did not write \(taxes\.pdf\)"):
        run_stage("n21", "ingest", section(tmp_path, work=foreign))
    assert sorted(p.name for p in foreign.iterdir()) == ["taxes.pdf"]  # refused before any stage wrote
    older = tmp_path / "older"  # a work dir of an earlier version: hanflow's artifacts only
    (older / "reports").mkdir(parents=True)
    (older / "ingested.parquet").write_bytes(b"")
    (older / ".tokens.parquet.99999.x").mkdir()  # a killed run's temporary folder
    run_stage("n21", "ingest", section(tmp_path, work=older))
    assert json.loads((older / MARKER).read_text())["kind"] == "work"


def test_run_refuses_the_projects_models_folder_before_any_stage(tmp_path):
    before = sorted(p.name for p in (ROOT / "models").iterdir())
    result = runner.invoke(
        app,
        [
            "run",
            "--params",
            str(ROOT / "params.yaml"),
            "--set",
            f"n21.model_dir={ROOT / 'models'}",
            "--set",
            f"n21.work_dir={tmp_path / 'w'}",
        ],
    )
    assert result.exit_code == 2
    assert "n21.model_dir" in result.output and "source folder models/" in result.output
    assert len(result.output.strip().splitlines()) == 1  # one line, no traceback
    assert sorted(p.name for p in (ROOT / "models").iterdir()) == before
    assert not (tmp_path / "w").exists()  # no stage ran


# ---------------------------------------------------------------- the model follows the work dir


def test_model_dir_follows_an_overridden_work_dir(tmp_path):
    params = load_params(
        ROOT / "params.yaml",
        [f"n21.work_dir={tmp_path / 'x'}", f"n2n.work_dir={tmp_path / 'y'}", f"n2n.model_dir={tmp_path / 'mine'}"],
    )
    assert params["n21"]["model_dir"] == str(tmp_path / "x" / "model")
    assert params["n2n"]["model_dir"] == str(tmp_path / "mine")  # set explicitly: kept
    assert params["n2m"]["model_dir"] == "data/n2m/model"  # untouched section
    custom = tmp_path / "params.yaml"  # a model_dir that is not <work_dir>/model stays where the file puts it
    custom.write_text("n21:\n  work_dir: data/a\n  model_dir: models_store/n21\n", encoding="utf-8")
    assert load_params(custom, ["n21.work_dir=data/b"])["n21"]["model_dir"] == "models_store/n21"


def test_a_run_with_only_work_dir_set_writes_its_model_there(tmp_path, monkeypatch):
    import tasks.model_dir
    import tasks.n21.train

    work = tmp_path / "x"
    params = load_params(
        ROOT / "params.yaml", [f"n21.work_dir={work}", f"n21.data.path={SAMPLE}", "n21.train.epochs=1"]
    )
    p = params["n21"]
    # Training itself is not the point: an untrained model is saved as the trained one would be.
    monkeypatch.setattr(
        tasks.n21.train,
        "train_classifier",
        lambda encoded, config, cfg, **_: (tasks.model_dir.build_model(config), {"best_epoch": 1, "epochs": []}),
    )
    repo_model = ROOT / "data" / "n21" / "model"
    before = (repo_model / "weights.pt").stat().st_mtime_ns if (repo_model / "weights.pt").exists() else None
    for stage in ("ingest", "tokenize", "encode", "vectors", "class_design", "train"):
        run_stage("n21", stage, p)
    assert (work / "model" / "weights.pt").is_file() and (work / "model" / MARKER).is_file()
    after = (repo_model / "weights.pt").stat().st_mtime_ns if (repo_model / "weights.pt").exists() else None
    assert after == before  # the repo's model is untouched


# ---------------------------------------------------------------- locks: every folder a run writes


def test_two_runs_sharing_a_model_dir_exclude_each_other(tmp_path):
    shared = tmp_path / "shared_model"
    first, second = (
        section(tmp_path, work=tmp_path / "a", model=shared),
        section(tmp_path, work=tmp_path / "b", model=shared),
    )
    with run_lock("n21", first, "hanflow run n21"):
        with pytest.raises(LockedError, match=r"shared_model is being written by hanflow run n21 \(pid"):
            with run_lock("n21", second, "hanflow run n21"):
                pass
        with pytest.raises(LockedError, match="a is being written"):  # and the other way: same work dir
            with run_lock("n21", section(tmp_path, work=tmp_path / "a", model=tmp_path / "other"), "x"):
                pass
    with run_lock("n21", second, "hanflow run n21"):  # released when the first run ends
        pass


def _params_file(tmp_path: Path, sec: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(json.dumps({"n21": sec}), encoding="utf-8")  # JSON is YAML
    return path


def test_hanflow_stage_takes_the_lock_and_a_holders_child_inherits_it(tmp_path):
    work = tmp_path / "work"
    sec = section(tmp_path, work=work, model=tmp_path / "shared_model")
    params = _params_file(tmp_path, sec)
    other = section(tmp_path, work=tmp_path / "other", model=tmp_path / "shared_model")
    command = [*HANFLOW, "stage", "n21", "ingest", "--params", str(params)]
    with run_lock("n21", other, "hanflow run n21"):
        unrelated = {k: v for k, v in os.environ.items() if k != HELD_ENV}  # not started by the holder
        done = subprocess.run(command, cwd=ROOT, env=unrelated, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "shared_model is being written by hanflow run n21" in done.stderr
        assert not (work / "ingested.parquet").exists()
        # A retraining run's `dvc repro` runs `hanflow stage` as its descendant: that one may write.
        child = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert child.returncode == 0, child.stderr[-2000:]
    assert (work / "ingested.parquet").exists()


def test_only_rank_zero_of_torchrun_locks(tmp_path, monkeypatch):
    sec = section(tmp_path)
    with run_lock("n21", sec, "rank 0"):
        monkeypatch.setenv("RANK", "1")
        with run_lock("n21", sec, "rank 1"):  # the same command's other rank: writes nothing, locks nothing
            pass
