"""Champion/challenger: compare on one evaluation set, promote only a model at least as good, record why.

Pure functions and a small folder store; flows/schedule.py wraps them in Prefect tasks and DVC.

    champions/<problem>/current/        the champion model directory (DVC-tracked: current.dvc)
    champions/<problem>/previous/       the champion it replaced, for `hanflow promote --rollback`
    champions/<problem>/registry.jsonl  one JSON line per decision: metrics, data and model versions

After a promotion or rollback, flows/schedule.py commits current.dvc and registry.jsonl to git
(`promote.git_commit`), so `git pull && dvc pull` in another clone gets the new champion.

A challenger is promoted when its primary metric (params `<problem>.promote.metric`) is at least the
champion's (plus `min_gain`; for lower-is-better metrics such as perplexity, at most). Both models are
scored by the problem's own `evaluate_command` on the same file: the evaluation split of the current
ingested data, written out in a format every model directory can read with its own vocabulary.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

DEFAULT_METRIC = {"n21": "accuracy", "n2n": "f1", "n2m": "chrf", "n2path": "las"}
LOWER_IS_BETTER = {"perplexity", "loss", "cer", "wer"}


class ChampionError(RuntimeError):
    pass


def promote_settings(problem: str, section: dict) -> dict:
    """metric, higher_is_better, min_gain, champion_dir, git_commit: params `<problem>.promote` with defaults."""
    cfg = dict(section.get("promote") or {})
    metric = cfg.get("metric") or DEFAULT_METRIC.get(problem, "accuracy")
    higher = cfg.get("higher_is_better")
    return {
        "metric": metric,
        "higher_is_better": (metric not in LOWER_IS_BETTER) if higher is None else bool(higher),
        "min_gain": float(cfg.get("min_gain") or 0.0),
        "champion_dir": str(cfg.get("champion_dir") or f"champions/{problem}"),
        "git_commit": bool(cfg.get("git_commit", True)),
    }


def is_better(
    challenger: float | None, champion: float | None, higher_is_better: bool = True, min_gain: float = 0.0
) -> bool:
    """Promote? No champion: yes. A missing or NaN challenger score: never. A tie with min_gain 0: yes."""
    if challenger is None or (isinstance(challenger, float) and math.isnan(challenger)):
        return False
    if champion is None or (isinstance(champion, float) and math.isnan(champion)):
        return True
    if higher_is_better:
        return challenger >= champion + min_gain
    return challenger <= champion - min_gain


def content_hash(path: str | Path, length: int = 12) -> str | None:
    """Short SHA-256 of a file, or of a folder's relative file names and contents; None when absent."""
    path = Path(path)
    if not path.exists():
        return None
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path) if f != path else f.name).encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:length]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ChampionStore:
    """The champion of one problem type: current/, previous/ and the decision registry."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.current = self.root / "current"
        self.previous = self.root / "previous"
        self.registry = self.root / "registry.jsonl"

    def champion(self) -> Path | None:
        return self.current if self.current.is_dir() else None

    def history(self) -> list[dict]:
        if not self.registry.exists():
            return []
        return [json.loads(line) for line in self.registry.read_text(encoding="utf-8").splitlines() if line.strip()]

    def record(self, entry: dict) -> dict:
        """Append one decision (a JSON line, flushed to disk) and return it."""
        self.root.mkdir(parents=True, exist_ok=True)
        entry = {"time": _now(), **entry}
        with open(self.registry, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return entry

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        ignore = self.root / ".gitignore"  # DVC adds /current here when it tracks the champion
        if not ignore.exists():
            ignore.write_text("/previous\n/.incoming.*\n/.swap.*\n", encoding="utf-8")

    def install(self, model_dir: str | Path) -> Path:
        """Copy a model directory in as the champion; the old champion becomes previous/.

        The copy is complete before anything moves, so a failure leaves the champion untouched;
        the swap itself is three renames in one folder.
        """
        self._prepare()
        incoming = Path(tempfile.mkdtemp(prefix=".incoming.", dir=self.root))
        try:
            shutil.copytree(model_dir, incoming, dirs_exist_ok=True)
            trash = None
            if self.previous.exists():
                trash = Path(tempfile.mkdtemp(prefix=".swap.", dir=self.root))
                os.replace(self.previous, trash / "previous")
            if self.current.exists():
                os.replace(self.current, self.previous)
            os.replace(incoming, self.current)
            if trash is not None:
                shutil.rmtree(trash, ignore_errors=True)
        finally:
            if incoming.exists():
                shutil.rmtree(incoming, ignore_errors=True)
        return self.current

    def rollback(self, reason: str = "manual rollback") -> dict:
        """Make previous/ the champion again (and the rolled-back champion previous/); records it."""
        if not self.previous.is_dir():
            raise ChampionError(f"no previous champion in {self.previous}: nothing to roll back to")
        restored, replaced = content_hash(self.previous), content_hash(self.current)
        swap = Path(tempfile.mkdtemp(prefix=".swap.", dir=self.root))
        try:
            if self.current.exists():
                os.replace(self.current, swap / "current")
            os.replace(self.previous, self.current)
            if (swap / "current").exists():
                os.replace(swap / "current", self.previous)
        finally:
            shutil.rmtree(swap, ignore_errors=True)
        earlier = [
            e
            for e in self.history()
            if e.get("decision") in ("promoted", "rollback") and e.get("champion_version") == restored
        ]
        return self.record(
            {
                "decision": "rollback",
                "reason": reason,
                "champion_version": restored,
                "replaced_version": replaced,
                "metrics": (earlier[-1].get("champion_metrics") if earlier else None),
            }
        )


# ---- the evaluation set both models are scored on


def _module(problem: str):
    return importlib.import_module(f"flows.{problem}")


def export_eval_set(problem: str, section: dict, out_dir: str | Path) -> dict:
    """Write the evaluation split of the ingested data as a file `evaluate_command` reads.

    Returns {path, format, mapping, rows, split, version}. Raw text and gold labels only: each model
    tokenizes and encodes it with its own settings and vocabulary, so an older champion is scored fairly.
    """
    from flows.stages import resolve
    from tasks import io

    split = section["evaluate"]["split"]
    table = io.read_table(resolve(_module(problem).A["ingested"], section))
    rows = [r for r in table.to_pylist() if r.get("split") == split]
    if not rows:
        raise ChampionError(f"{problem}: no rows in split {split!r} of the ingested data to compare models on")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if problem == "n2path":
        from tasks.n2path.formats import write_conllu

        path, fmt, mapping = out_dir / "eval_set.conllu", "conllu", {}
        path.write_text(write_conllu(rows), encoding="utf-8")
    else:
        keep = {
            "n21": ("id", "text", "label"),
            "n2n": ("id", "text", "entities"),
            "n2m": ("question", "answer", "label"),
        }[problem]
        path, fmt = out_dir / "eval_set.jsonl", "jsonl"
        mapping = {
            "n21": {"id": "id", "text": "text", "label": "label"},
            "n2m": {"question": "question", "answer": "answer", "label": "label"},
        }.get(problem, {})
        lines = [json.dumps({k: r[k] for k in keep if r.get(k) is not None}, ensure_ascii=False) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {
        "path": str(path),
        "format": fmt,
        "mapping": mapping,
        "rows": len(rows),
        "split": split,
        "version": content_hash(path),
    }


def evaluate_model(problem: str, model_dir: str | Path, eval_set: dict, out_dir: str | Path) -> dict:
    """The problem's own `hanflow evaluate` on the exported evaluation set."""
    return _module(problem).evaluate_command(
        Path(model_dir), Path(eval_set["path"]), eval_set["format"], "utf-8", dict(eval_set["mapping"]), Path(out_dir)
    )


def _headline(problem: str, metrics: dict) -> dict:
    try:
        return _module(problem).headline(metrics)
    except Exception:  # a headline is a summary: the decision only needs the primary metric
        return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}


def decide(
    problem: str,
    section: dict,
    challenger_dir: str | Path,
    store: ChampionStore,
    versions: dict | None = None,
    evaluate: Callable[..., dict] = evaluate_model,
    work_dir: str | Path | None = None,
) -> dict:
    """Score challenger and champion on the same set, promote the challenger if it is at least as good.

    Every outcome is recorded: promoted, refused, kept (the challenger is the champion) or failed
    (then re-raised; the champion is untouched because nothing moves before both scores exist).
    """
    cfg = promote_settings(problem, section)
    base = {
        "problem": problem,
        "metric": cfg["metric"],
        "higher_is_better": cfg["higher_is_better"],
        "min_gain": cfg["min_gain"],
        **(versions or {}),
    }
    try:
        challenger_dir = Path(challenger_dir)
        if not challenger_dir.is_dir():
            raise ChampionError(f"no challenger model at {challenger_dir}: the training stage did not produce one")
        challenger_version = content_hash(challenger_dir)
        champion = store.champion()
        champion_version = content_hash(champion) if champion else None
        base.update(challenger_version=challenger_version, champion_version_before=champion_version)
        if champion_version == challenger_version:
            return store.record(
                {
                    **base,
                    "decision": "kept",
                    "champion_version": champion_version,
                    "reason": "the challenger is the champion (nothing retrained)",
                }
            )
        out = Path(work_dir or section["work_dir"]) / "eval" / "champion_vs_challenger"
        eval_set = export_eval_set(problem, section, out)
        started = time.perf_counter()
        scores = {"challenger": evaluate(problem, challenger_dir, eval_set, out / "challenger")}
        if champion:
            scores["champion"] = evaluate(problem, champion, eval_set, out / "champion")
        metric = cfg["metric"]
        for who, metrics in scores.items():
            if metric not in metrics:
                raise ChampionError(
                    f"{who} metrics have no {metric!r} (params {problem}.promote.metric); "
                    f"they have {sorted(k for k, v in metrics.items() if isinstance(v, (int, float)))}"
                )
        new, old = scores["challenger"][metric], (scores["champion"][metric] if champion else None)
        promote = is_better(new, old, cfg["higher_is_better"], cfg["min_gain"])
        entry = {
            **base,
            "eval_set": {k: eval_set[k] for k in ("rows", "split", "version", "path")},
            "challenger_metrics": _headline(problem, scores["challenger"]),
            "champion_metrics_before": _headline(problem, scores["champion"]) if champion else None,
            "challenger_score": new,
            "champion_score": old,
            "evaluation_seconds": round(time.perf_counter() - started, 2),
        }
        better = ">=" if cfg["higher_is_better"] else "<="
        if promote:
            store.install(challenger_dir)
            reason = (
                f"no champion yet: first model promoted ({metric} {new:.4f})"
                if old is None
                else f"challenger {metric} {new:.4f} {better} champion {old:.4f}"
                + (f" + {cfg['min_gain']}" if cfg["min_gain"] else "")
            )
            return store.record(
                {
                    **entry,
                    "decision": "promoted",
                    "reason": reason,
                    "champion_version": challenger_version,
                    "champion_metrics": entry["challenger_metrics"],
                }
            )
        return store.record(
            {
                **entry,
                "decision": "refused",
                "champion_version": champion_version,
                "champion_metrics": entry["champion_metrics_before"],
                "reason": f"challenger {metric} {new:.4f} is not {better} champion {old:.4f}"
                + (f" + {cfg['min_gain']}" if cfg["min_gain"] else ""),
            }
        )
    except Exception as err:
        store.record(
            {
                **base,
                "decision": "failed",
                "champion_version": content_hash(store.current),
                "reason": f"{type(err).__name__}: {err}",
            }
        )
        raise


def record_failure(problem: str, store: ChampionStore, err: BaseException, versions: dict | None = None) -> dict:
    """A run that failed before the comparison (ingest, validation, training): recorded, champion untouched."""
    return store.record(
        {
            "problem": problem,
            "decision": "failed",
            "champion_version": content_hash(store.current),
            "reason": f"{type(err).__name__}: {err}",
            **(versions or {}),
        }
    )
