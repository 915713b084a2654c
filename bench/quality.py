"""`hanflow bench`: every benchmark entry (bench/overlays/) trained with params.yaml's defaults once per seed,
next to a baseline built on the same split, with mean ± sd over seeds and paired bootstrap intervals of the
gain. Writes reports/bench.json (everything, per seed too) and reports/bench.md (the headline table).

A seed sets both the data split seed and the training seed, so the spread over seeds covers both. Runs on
../shared/datasets (or --datasets DIR); never part of CI: it trains on tens of thousands of sentences.
"""

from __future__ import annotations

import os
import platform
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from bench import stats
from bench.baselines import NAMES, paired
from bench.overlays import entry_names, entry_overrides, load_overlay, target_value
from tasks import io

DEFAULT_SEEDS = (13, 1, 2)
WORK_ROOT = Path("data/bench")  # ignored by git; one folder per entry, one per seed inside it
TTFP_REPEATS = 3
# the product's own figure for the baseline (metrics.json), kept beside the bench's recomputed one
PRODUCT_BASELINE = {"n2m": "retrieval_baseline", "n2n": "gazetteer_baseline", "n2path": "right_neighbour_baseline"}


def select_entries(entries: list[str] | None = None, problem: str | None = None) -> list[str]:
    """Entry names for --entry (any number) or --problem (all of one problem type; None or "all": every one)."""
    known = entry_names()
    if entries:
        unknown = [e for e in entries if e not in known]
        if unknown:
            raise ValueError(f"--entry {', '.join(unknown)}: no such benchmark entry; entries: {', '.join(known)}")
        return list(dict.fromkeys(entries))
    if problem in (None, "all"):
        return known
    chosen = [name for name in known if load_overlay(name)["bench"]["problem"] == problem]
    if not chosen:
        raise ValueError(f"--problem {problem}: no benchmark entry; entries: {', '.join(known)}")
    return chosen


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {text!r}: expected distinct non-negative integers separated by commas, e.g. 13,1,2")
    return seeds


def run_seed(overlay: dict, seed: int, datasets: Path, params_file: Path, say: Callable[[str], object]):
    """One seed of an entry: the whole flow, then the baseline on the same split. -> (run record, Paired)."""
    from flows.pipeline import run_problem_flow
    from tasks.params import load_params

    spec, name = overlay["bench"], overlay["name"]
    problem = spec["problem"]
    work = WORK_ROOT / name / f"seed-{seed}"
    overrides = entry_overrides(overlay, datasets, seed, work, WORK_ROOT / name / "token_cache")
    section = load_params(params_file, overrides)[problem]
    say(f"bench {name} seed {seed}: training on {spec['dataset']} …")
    started = time.perf_counter()
    reports = run_problem_flow(problem, section)
    seconds = time.perf_counter() - started
    metrics = io.read_json(work / "eval" / "metrics.json")
    pair = paired(problem, section)
    baseline = {
        **{k: v for k, v in metrics.get(PRODUCT_BASELINE.get(problem, ""), {}).items() if isinstance(v, (int, float))},
        **pair.scores["baseline"],
    }
    run = {
        "seed": seed,
        "work_dir": str(work),
        "overrides": overrides,
        "rows": reports.get("ingest", {}).get("splits"),
        "test_rows": pair.rows,
        "test_units": len(pair.units),
        "metrics": {k: metrics[k] for k in spec["metrics"] if k in metrics},
        # the model's metrics as the bootstrap recomputes them from per-unit statistics: equal to the above
        "recomputed": pair.scores["model"],
        "baseline": {
            **{m: baseline[m] for m in spec["metrics"] if m in baseline},
            **baseline,
            "seconds": round(pair.baseline_seconds, 1),
        },
        "gain": stats.paired_bootstrap(pair.model, pair.baseline, spec["compare_on"]),
        "seconds": round(seconds, 1),
        "stage_seconds": {stage: report.get("seconds") for stage, report in reports.items()},
    }
    mismatch = {
        m: (run["metrics"][m], v)
        for m, v in pair.scores["model"].items()
        if m in run["metrics"] and abs(run["metrics"][m] - v) > 1e-6
    }
    if mismatch:
        run["recomputed_mismatch"] = mismatch
        say(f"bench {name} seed {seed}: WARNING the bootstrap's statistics disagree with metrics.json: {mismatch}")
    return run, pair, section


def summarize(spec: dict, runs: list[dict], pairs: list) -> dict:
    """Mean ± sd over seeds of every metric (model and baseline), the interval of the mean gain, and the
    floor and goal (a relative one over the baseline's mean)."""

    def spread(key: str) -> dict:
        names = [m for m in runs[0][key] if m != "seconds" and all(m in r[key] for r in runs)]
        return {m: stats.mean_sd([r[key][m] for r in runs]) for m in names}

    model, baseline = spread("metrics"), spread("baseline")
    shared = all(p.units == pairs[0].units for p in pairs)
    metric = spec["metric"]
    base_mean = baseline.get(metric, {}).get("mean")
    floor, goal = target_value(spec["floor"], base_mean), target_value(spec["goal"], base_mean)
    mean = model[metric]["mean"] if metric in model else None
    return {
        "model": model,
        "baseline": baseline,
        "gain": stats.mean_gain_interval([(p.model, p.baseline) for p in pairs], spec["compare_on"], shared),
        "shared_test_set": shared,
        "floor": floor,
        "goal": goal,
        "met": None if mean is None or floor is None else mean >= floor,
        "goal_met": None if mean is None or goal is None else mean >= goal,
        "minutes_per_seed": round(stats.mean_sd([r["seconds"] for r in runs])["mean"] / 60, 1),
    }


def time_to_first_prediction(problem: str, model_dir: Path, text: str) -> dict:
    from flows.predict_timing import time_to_first_prediction as measure

    try:
        return {
            "seconds": round(measure(problem, model_dir.resolve(), text, TTFP_REPEATS), 2),
            "repeats": TTFP_REPEATS,
            "text": text,
        }
    except RuntimeError as err:
        return {"error": str(err)}


def run_entry(
    name: str,
    seeds: list[int],
    datasets: Path,
    params_file: Path,
    save: Callable[[dict], None],
    say: Callable[[str], object] = print,
) -> dict:
    """All seeds of one entry; `save` gets the entry after every seed, so a kill keeps what was measured."""
    overlay = load_overlay(name)
    spec = overlay["bench"]
    entry = {
        "problem": spec["problem"],
        "dataset": spec["dataset"],
        "stands_in_for": spec["stands_in_for"],
        "metric": spec["metric"],
        "compare_on": spec["compare_on"],
        "floor_target": spec["floor"],
        "goal_target": spec["goal"],
        "baseline": NAMES[spec["baseline"]],
        "unit": spec["unit"],
        "seeds": seeds,
        "runs": {},
        "complete": False,
    }
    if not (datasets / spec["dataset"]).exists():
        return {**entry, "skipped": f"{datasets / spec['dataset']} not found"}
    pairs, section = [], None
    for seed in seeds:
        run, pair, section = run_seed(overlay, seed, datasets, params_file, say)
        entry["runs"][str(seed)] = run
        pairs.append(pair)
        entry["summary"] = summarize(spec, list(entry["runs"].values()), pairs)
        save(entry)
    entry["time_to_first_prediction"] = time_to_first_prediction(
        spec["problem"], Path(section["model_dir"]), spec["predict_text"]
    )
    entry.update(complete=True, finished=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    save(entry)
    return entry


def run_bench(
    entries: list[str],
    seeds: list[int],
    datasets: Path,
    params_file: Path,
    out_dir: Path,
    say: Callable[[str], object] = print,
) -> dict:
    """Run `entries` and merge them into out_dir/bench.json (entries not run now keep their last results);
    write bench.md from the merged results."""
    from bench.report import markdown

    path = out_dir / "bench.json"
    previous = io.read_json(path).get("entries", {}) if path.exists() else {}
    results = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "entries": dict(previous),
        "this_run": {},
    }

    saved: set[str] = set()  # entries this run has written (partly, while its seeds run)

    def save(entry: dict, name: str) -> None:
        if "skipped" not in entry or name not in previous:  # a skip never hides earlier results
            results["entries"][name] = entry
            saved.add(name)
        results["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        io.write_json(results, path)
        io.write_text(markdown(results), out_dir / "bench.md")

    for name in entries:
        try:
            entry = run_entry(name, seeds, datasets, params_file, lambda e, n=name: save(e, n), say)
        except Exception as err:  # one failed entry must not cost the others' figures
            error = f"{type(err).__name__}: {err}"[:2000]
            say(f"bench {name} failed: {error[:500]}\n{traceback.format_exc(limit=3)}")
            results["this_run"][name] = "failed"
            if name in saved:  # the seeds that finished stay, marked incomplete
                save({**results["entries"][name], "error": error}, name)
            continue
        if "skipped" in entry:
            say(f"bench {name}: skipped, {entry['skipped']}")
        results["this_run"][name] = "skipped" if "skipped" in entry else "met" if entry["summary"]["met"] else "not met"
        save(entry, name)
    return results
