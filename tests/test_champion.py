"""Champion/challenger: the comparison, the promotion record, the atomic swap, rollback and failures.

Models here are stand-in folders whose `score.json` a fake evaluator reads: these tests are about the
decision and the store, not about training (tests/test_schedule.py runs the real thing through DVC).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

# `hanflow promote` imports Prefect; imported first inside CliRunner, Prefect's console log handler would
# keep CliRunner's stderr, which is closed after the call, and every later flow's logging would fail.
import flows.schedule  # noqa: F401,E402
from flows.champion import (
    ChampionError,
    ChampionStore,
    content_hash,
    decide,
    export_eval_set,
    is_better,
    promote_settings,
)
from flows.schedule import commit_champion


def test_is_better_direction_ties_and_missing_scores():
    assert is_better(0.80, 0.79) and is_better(0.80, 0.80)  # at least the champion's: a tie promotes
    assert not is_better(0.78, 0.79)
    assert is_better(0.5, None)  # no champion yet
    assert not is_better(None, 0.5) and not is_better(math.nan, 0.5)
    assert is_better(1.6, 1.7, higher_is_better=False) and not is_better(1.8, 1.7, higher_is_better=False)
    assert not is_better(0.805, 0.80, min_gain=0.01) and is_better(0.81, 0.80, min_gain=0.01)
    assert not is_better(1.65, 1.70, higher_is_better=False, min_gain=0.1)


def test_promote_settings_defaults_per_problem_and_direction():
    assert promote_settings("n2path", {})["metric"] == "las"
    assert promote_settings("n2m", {})["metric"] == "chrf"
    lower = promote_settings("n2m", {"promote": {"metric": "perplexity"}})
    assert lower["higher_is_better"] is False
    cfg = promote_settings("n21", {"promote": {"metric": "macro_f1", "min_gain": 0.01, "champion_dir": "x"}})
    assert cfg == {
        "metric": "macro_f1",
        "higher_is_better": True,
        "min_gain": 0.01,
        "champion_dir": "x",
        "git_commit": True,
    }
    assert promote_settings("n21", {"promote": {"git_commit": False}})["git_commit"] is False


def _model(root: Path, name: str, score: float) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "weights.pt").write_bytes(name.encode() * 100)
    (folder / "score.json").write_text(json.dumps({"accuracy": score}))
    return folder


def _fake_evaluate(calls: list):
    def evaluate(problem, model_dir, eval_set, out_dir):
        calls.append((Path(model_dir).name, eval_set["version"]))
        score = json.loads((Path(model_dir) / "score.json").read_text())["accuracy"]
        return {"accuracy": score, "macro_f1": score, "rows": eval_set["rows"], "split": eval_set["split"]}

    return evaluate


@pytest.fixture()
def n21_work(tmp_path) -> dict:
    from tasks import io

    rows = [
        {
            "id": f"r{i}",
            "text": f"문장 {i}",
            "label": "positive" if i % 2 else "negative",
            "split": "test" if i < 6 else "train",
        }
        for i in range(20)
    ]
    io.write_table(pa.Table.from_pylist(rows), tmp_path / "work" / "ingested.parquet")
    return {
        "work_dir": str(tmp_path / "work"),
        "evaluate": {"split": "test"},
        "promote": {"metric": "accuracy", "champion_dir": str(tmp_path / "champions" / "n21")},
    }


def test_worse_challenger_refused_better_promoted_every_decision_recorded(n21_work, tmp_path):
    store, calls = ChampionStore(n21_work["promote"]["champion_dir"]), []
    evaluate = _fake_evaluate(calls)
    first, worse, better = (
        _model(tmp_path / "m", n, s) for n, s in (("first", 0.70), ("worse", 0.65), ("better", 0.80))
    )

    d1 = decide("n21", n21_work, first, store, {"data_version": "d1"}, evaluate=evaluate)
    assert d1["decision"] == "promoted" and d1["champion_score"] is None and "no champion yet" in d1["reason"]
    assert content_hash(store.current) == content_hash(first)

    d2 = decide("n21", n21_work, worse, store, {"data_version": "d2"}, evaluate=evaluate)
    assert d2["decision"] == "refused" and (d2["challenger_score"], d2["champion_score"]) == (0.65, 0.70)
    assert content_hash(store.current) == content_hash(first), "a refused challenger must not touch the champion"
    # Both models were scored on the same evaluation set (same content version).
    assert calls[-2][0] == "worse" and calls[-1][0] == "current" and calls[-2][1] == calls[-1][1]

    d3 = decide("n21", n21_work, better, store, {"data_version": "d3"}, evaluate=evaluate)
    assert d3["decision"] == "promoted" and "0.8000 >= champion 0.7000" in d3["reason"]
    assert content_hash(store.current) == content_hash(better)
    assert content_hash(store.previous) == content_hash(first)

    d4 = decide("n21", n21_work, better, store, {"data_version": "d3"}, evaluate=evaluate)
    assert d4["decision"] == "kept"  # the challenger is the champion: nothing to evaluate

    history = store.history()
    assert [e["decision"] for e in history] == ["promoted", "refused", "promoted", "kept"]
    for entry in history[:3]:
        assert entry["metric"] == "accuracy" and entry["eval_set"]["rows"] == 6 and entry["eval_set"]["split"] == "test"
        assert entry["data_version"] and entry["challenger_version"] and entry["champion_version"] and entry["time"]
    assert history[2]["champion_metrics"]["accuracy"] == 0.80
    assert not list(Path(store.root).glob(".incoming.*")) and not list(Path(store.root).glob(".swap.*"))


def test_lower_is_better_metric(n21_work, tmp_path):
    n21_work["promote"] = {**n21_work["promote"], "metric": "accuracy", "higher_is_better": False}
    store = ChampionStore(n21_work["promote"]["champion_dir"])
    evaluate = _fake_evaluate([])
    decide("n21", n21_work, _model(tmp_path / "m", "a", 2.0), store, evaluate=evaluate)
    assert decide("n21", n21_work, _model(tmp_path / "m", "b", 2.5), store, evaluate=evaluate)["decision"] == "refused"
    assert decide("n21", n21_work, _model(tmp_path / "m", "c", 1.5), store, evaluate=evaluate)["decision"] == "promoted"


def test_rollback_restores_previous_champion_and_is_recorded(n21_work, tmp_path):
    store = ChampionStore(n21_work["promote"]["champion_dir"])
    with pytest.raises(ChampionError, match="nothing to roll back"):
        store.rollback()
    evaluate = _fake_evaluate([])
    first, second = _model(tmp_path / "m", "first", 0.7), _model(tmp_path / "m", "second", 0.9)
    decide("n21", n21_work, first, store, evaluate=evaluate)
    decide("n21", n21_work, second, store, evaluate=evaluate)
    entry = store.rollback()
    assert entry["decision"] == "rollback"
    assert entry["champion_version"] == content_hash(first) == content_hash(store.current)
    assert entry["replaced_version"] == content_hash(second) == content_hash(store.previous)
    assert entry["metrics"]["accuracy"] == 0.7
    assert store.history()[-1]["decision"] == "rollback"


def test_failed_evaluation_leaves_champion_untouched(n21_work, tmp_path):
    store = ChampionStore(n21_work["promote"]["champion_dir"])
    decide("n21", n21_work, _model(tmp_path / "m", "first", 0.7), store, evaluate=_fake_evaluate([]))
    before = content_hash(store.current)

    def broken(problem, model_dir, eval_set, out_dir):
        raise RuntimeError("evaluation crashed")

    with pytest.raises(RuntimeError, match="evaluation crashed"):
        decide("n21", n21_work, _model(tmp_path / "m", "second", 0.99), store, evaluate=broken)
    with pytest.raises(ChampionError, match="no challenger model"):
        decide("n21", n21_work, tmp_path / "m" / "missing", store, evaluate=broken)
    assert content_hash(store.current) == before and not store.previous.exists()
    assert [e["decision"] for e in store.history()] == ["promoted", "failed", "failed"]
    assert "evaluation crashed" in store.history()[1]["reason"]


def test_missing_metric_is_a_clear_failure(n21_work, tmp_path):
    n21_work["promote"]["metric"] = "las"
    store = ChampionStore(n21_work["promote"]["champion_dir"])
    with pytest.raises(ChampionError, match="no 'las'.*n21.promote.metric"):
        decide("n21", n21_work, _model(tmp_path / "m", "a", 0.5), store, evaluate=_fake_evaluate([]))
    assert store.champion() is None


@pytest.mark.parametrize("problem", ["n21", "n2n", "n2m", "n2path"])
def test_eval_set_export_reads_back_with_the_problem_reader(problem, tmp_path):
    """The evaluation split written out is read by the same readers `hanflow evaluate` uses, row for row."""
    from tests import conftest

    make = {
        "n21": conftest.sample_section,
        "n2n": conftest.n2n_section,
        "n2m": conftest.n2m_section,
        "n2path": conftest.n2path_section,
    }[problem]
    section = make(tmp_path / "work")
    from flows.stages import stages_for

    next(s for s in stages_for(problem) if s.name == "ingest").run(section)
    eval_set = export_eval_set(problem, section, tmp_path / "eval")
    assert eval_set["rows"] > 5 and eval_set["split"] == "test"
    path, fmt = eval_set["path"], eval_set["format"]
    if problem == "n21":
        from tasks.n21.ingest import ingest

        kept, quarantined, _ = ingest(
            {
                **conftest.n21_defaults()["data"],
                "path": path,
                "format": fmt,
                "encoding": "utf-8",
                "columns": {**eval_set["mapping"], "split": None},
                "split": {"dev": 0.0, "test": 0.0, "seed": 0},
            }
        )
        read = kept.num_rows
    elif problem == "n2n":
        from tasks.n2n.formats import read_ner

        records, quarantined = read_ner(path, fmt)
        read = len(records)
    elif problem == "n2m":
        from tasks.n2m.formats import read_pairs
        from tasks.n2m.ingest import column_mapping

        records, quarantined = read_pairs(path, fmt, column_mapping(eval_set["mapping"]))
        read = len(records)
    else:
        from tasks.n2path.ingest import read_treebank

        records, quarantined = read_treebank(path, fmt)
        read = len(records)
    assert read == eval_set["rows"] and not len(quarantined)


def test_promote_command_rollback_and_history(tmp_path):
    """`hanflow promote --rollback` on a repo without DVC: swaps the folders, prints and records the decision."""
    import shutil

    from flows.cli import app
    from tests.conftest import ROOT

    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "params.yaml", repo / "params.yaml")
    store = ChampionStore(repo / "champions" / "n21")
    store.install(_model(tmp_path / "m", "old", 0.7))
    store.install(_model(tmp_path / "m", "new", 0.6))
    runner = CliRunner()
    result = runner.invoke(app, ["promote", "--problem", "n21", "--repo", str(repo), "--rollback"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["decision"] == "rollback"
    assert json.loads((store.current / "score.json").read_text())["accuracy"] == 0.7
    result = runner.invoke(app, ["promote", "--problem", "n21", "--repo", str(repo), "--history"])
    assert [json.loads(line)["decision"] for line in result.stdout.splitlines()] == ["rollback"]


# ---- the champion's pointer files committed to git, so `git pull && dvc pull` elsewhere gets the champion

POINTERS = {"champions/n21/current.dvc", "champions/n21/registry.jsonl", "champions/n21/.gitignore"}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


@pytest.fixture()
def git_repo(tmp_path, monkeypatch) -> Path:
    """tmp_path (where n21_work keeps its champion) as a git work tree with one commit and its own identity.

    The user's global and system git config (signing, hooks, templates) stay out of it.
    """
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.name", "t")
    _git(tmp_path, "config", "user.email", "t@example.com")
    (tmp_path / "README.md").write_text("hello\n")
    _git(tmp_path, "add", "README.md")
    _git(tmp_path, "commit", "-qm", "init")
    return tmp_path


def _dvc_add(store: ChampionStore) -> None:
    """What `dvc add champions/n21/current` writes, without DVC's seconds of start-up."""
    (store.root / "current.dvc").write_text(f"outs:\n- md5: {content_hash(store.current)}.dir\n  path: current\n")
    ignore = store.root / ".gitignore"
    if "/current\n" not in ignore.read_text():
        ignore.write_text(ignore.read_text() + "/current\n")


def _promote(n21_work, store, model: Path) -> dict:
    decision = decide("n21", n21_work, model, store, {"data_version": "d1"}, evaluate=_fake_evaluate([]))
    _dvc_add(store)
    return decision


def _committed(repo: Path) -> set[str]:
    return set(_git(repo, "show", "--name-only", "--format=", "HEAD").split())


def test_promotion_commits_only_the_pointer_files_and_leaves_other_changes_alone(git_repo, n21_work):
    (git_repo / "notes.txt").write_text("mine\n")
    _git(git_repo, "add", "notes.txt")
    (git_repo / "README.md").write_text("edited\n")
    store, logs = ChampionStore(n21_work["promote"]["champion_dir"]), []
    first = _promote(n21_work, store, _model(git_repo / "m", "first", 0.7))
    sha = commit_champion("n21", store, git_repo, first, logs.append)
    assert sha == _git(git_repo, "rev-parse", "HEAD").strip() and _committed(git_repo) == POINTERS
    assert (
        _git(git_repo, "log", "-1", "--format=%s")
        == f"champion n21: promote {content_hash(store.current)} (accuracy 0.7000, no champion before)\n"
    )
    assert _git(git_repo, "status", "--porcelain", "--untracked-files=no").splitlines() == [
        " M README.md",
        "A  notes.txt",
    ]
    assert len(logs) == 1 and sha[:12] in logs[0]

    second = _promote(n21_work, store, _model(git_repo / "m", "second", 0.8))
    sha2 = commit_champion("n21", store, git_repo, second, logs.append)
    assert _git(git_repo, "rev-parse", "HEAD~1").strip() == sha
    assert _committed(git_repo) == POINTERS - {"champions/n21/.gitignore"}  # DVC left it as it was
    message = _git(git_repo, "log", "-1", "--format=%B")
    assert message.startswith(f"champion n21: promote {second['champion_version']} (accuracy 0.8000 >= 0.7000)")
    assert "data_version: d1" in message and second["reason"] in message
    registry = _git(git_repo, "show", f"{sha2}:champions/n21/registry.jsonl").splitlines()
    assert [json.loads(line)["decision"] for line in registry] == ["promoted", "promoted"]
    assert "A  notes.txt" in _git(git_repo, "status", "--porcelain").splitlines()

    assert commit_champion("n21", store, git_repo, second, logs.append) is None
    assert "nothing to commit" in logs[-1] and _git(git_repo, "rev-parse", "HEAD").strip() == sha2


def test_rollback_is_committed(git_repo, n21_work):
    store = ChampionStore(n21_work["promote"]["champion_dir"])
    for name, score in (("first", 0.7), ("second", 0.9)):
        commit_champion("n21", store, git_repo, _promote(n21_work, store, _model(git_repo / "m", name, score)))
    entry = store.rollback()
    _dvc_add(store)
    sha = commit_champion("n21", store, git_repo, entry, print)
    assert sha and _committed(git_repo) == {"champions/n21/current.dvc", "champions/n21/registry.jsonl"}
    assert (
        _git(git_repo, "log", "-1", "--format=%s")
        == f"champion n21: rollback to {entry['champion_version']} (replacing {entry['replaced_version']})\n"
    )
    assert int(_git(git_repo, "rev-list", "--count", "HEAD")) == 4


def test_commit_off_not_a_repo_and_no_git_only_log_a_line(n21_work, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    store, logs = ChampionStore(n21_work["promote"]["champion_dir"]), []
    decision = _promote(n21_work, store, _model(tmp_path / "m", "first", 0.7))
    assert commit_champion("n21", store, tmp_path, decision, logs.append, enabled=False) is None
    assert commit_champion("n21", store, tmp_path, decision, logs.append) is None
    monkeypatch.setenv("PATH", str(tmp_path / "no-such-bin"))
    assert commit_champion("n21", store, tmp_path, decision, logs.append) is None
    assert len(logs) == 3
    assert "git commit off (--no-commit or n21.promote.git_commit: false)" in logs[0]
    assert "not a git work tree" in logs[1] and "git is not available" in logs[2]
    assert store.history()[-1]["decision"] == "promoted" and store.champion()


def test_commit_without_identity_uses_hanflow_and_a_failed_commit_keeps_the_champion(git_repo, n21_work, monkeypatch):
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    _git(git_repo, "config", "--unset", "user.name")
    _git(git_repo, "config", "--unset", "user.email")
    _git(git_repo, "config", "user.useConfigOnly", "true")  # no guessing from the host name: like a bare CI runner
    store, logs = ChampionStore(n21_work["promote"]["champion_dir"]), []
    first = _promote(n21_work, store, _model(git_repo / "m", "first", 0.7))
    assert commit_champion("n21", store, git_repo, first, logs.append)
    assert _git(git_repo, "log", "-1", "--format=%an <%ae>") == "hanflow <hanflow@localhost>\n"

    hook = git_repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'hook says no' >&2\nexit 1\n")
    hook.chmod(0o755)
    second = _promote(n21_work, store, _model(git_repo / "m", "second", 0.8))
    assert commit_champion("n21", store, git_repo, second, logs.append) is None
    assert "`git commit`" in logs[-1] and "hook says no" in logs[-1]
    assert content_hash(store.current) == second["champion_version"]  # the promotion stands


def test_promote_command_commits_a_rollback_unless_no_commit(git_repo, monkeypatch):
    import shutil

    from flows.cli import app
    from tests.conftest import ROOT

    shutil.copy(ROOT / "params.yaml", git_repo / "params.yaml")
    store = ChampionStore(git_repo / "champions" / "n21")
    store.install(_model(git_repo / "m", "old", 0.7))
    store.install(_model(git_repo / "m", "new", 0.6))
    head = _git(git_repo, "rev-parse", "HEAD")
    runner = CliRunner()
    result = runner.invoke(app, ["promote", "--problem", "n21", "--repo", str(git_repo), "--rollback", "--no-commit"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["git_commit"] is None
    assert _git(git_repo, "rev-parse", "HEAD") == head
    result = runner.invoke(app, ["promote", "--problem", "n21", "--repo", str(git_repo), "--rollback"])
    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout.splitlines()[-1])
    assert entry["git_commit"] == _git(git_repo, "rev-parse", "HEAD").strip() != head.strip()
    subject = _git(git_repo, "log", "-1", "--format=%s")
    assert subject.startswith(f"champion n21: rollback to {entry['champion_version']}")
    assert _committed(git_repo) == {"champions/n21/registry.jsonl", "champions/n21/.gitignore"}
