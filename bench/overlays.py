"""Benchmark entries: one overlay file per entry in bench/overlays/.

An overlay holds a `bench:` block (what the entry measures and against what) and a `params:` block, a
partial params.yaml for the entry's problem type with `{datasets}` standing for --datasets. The params
block becomes `--set` overrides over the user's params.yaml, so everything it does not name is
params.yaml's default: the defaults are what the benchmark measures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

OVERLAYS = Path(__file__).with_name("overlays")
PROBLEMS = ("n21", "n2n", "n2m", "n2path")
# metric -> problem types whose eval/metrics.json has it (and whose stats.METRICS can recompute it)
METRICS = {
    "accuracy": ("n21",),
    "macro_f1": ("n21",),
    "f1": ("n2n",),
    "chrf": ("n2m",),
    "uas": ("n2path",),
    "las": ("n2path",),
}
BASELINES = {"n21": "tfidf_logreg", "n2n": "gazetteer", "n2m": "retrieval", "n2path": "right_neighbour"}
UNITS = {"n21": "row", "n2n": "sentence", "n2m": "block", "n2path": "sentence"}
REQUIRED = (
    "problem",
    "dataset",
    "stands_in_for",
    "metric",
    "metrics",
    "floor",
    "goal",
    "baseline",
    "unit",
    "predict_text",
)


class OverlayError(ValueError):
    pass


def entry_names() -> list[str]:
    return sorted(p.stem for p in OVERLAYS.glob("*.yaml"))


def load_overlay(name: str) -> dict:
    """The overlay of entry `name`, checked: {"name", "bench": {...}, "params": {problem: {...}}}."""
    path = OVERLAYS / f"{name}.yaml"
    if not path.is_file():
        raise OverlayError(f"no benchmark entry {name!r}; entries: {', '.join(entry_names())}")
    overlay = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    spec, params = overlay.get("bench") or {}, overlay.get("params") or {}
    missing = [k for k in REQUIRED if k not in spec]
    if missing:
        raise OverlayError(f"{path}: bench: lacks {', '.join(missing)}")
    problem = spec["problem"]
    if problem not in PROBLEMS or set(params) != {problem}:
        raise OverlayError(
            f"{path}: bench.problem must be one of {', '.join(PROBLEMS)} and params: must hold "
            f"exactly that section (got problem {problem!r}, sections {sorted(params)})"
        )
    for metric in (spec["metric"], spec.get("compare_on", spec["metric"])):
        if problem not in METRICS.get(metric, ()):
            raise OverlayError(
                f"{path}: {problem} has no benchmark metric {metric!r}; choose from "
                f"{', '.join(m for m, p in METRICS.items() if problem in p)}"
            )
    if spec["metric"] not in spec["metrics"]:
        raise OverlayError(f"{path}: bench.metrics must list the primary metric {spec['metric']!r}")
    if spec["baseline"] != BASELINES[problem] or spec["unit"] != UNITS[problem]:
        raise OverlayError(f"{path}: {problem} entries use baseline {BASELINES[problem]} and unit {UNITS[problem]}")
    for key in ("floor", "goal"):
        target = spec[key]
        if not isinstance(target, (int, float)) and not (isinstance(target, dict) and set(target) == {"over_baseline"}):
            raise OverlayError(f"{path}: bench.{key} must be a number or {{over_baseline: 0.01}}")
    return {"name": name, "bench": {"compare_on": spec["metric"], **spec}, "params": params}


def _filled(value: Any, datasets: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{datasets}", str(datasets))
    if isinstance(value, list):
        return [_filled(v, datasets) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, datasets) for k, v in value.items()}
    return value


def flatten(node: dict, prefix: str, schema: dict[str, str]) -> list[str]:
    """`--set` strings for a partial params section: a mapping under a section key is walked into, any other
    value (a list, a free-form map, a scalar) is set whole, written as JSON (which YAML reads back)."""
    out = []
    for key, value in node.items():
        dotted = f"{prefix}.{key}"
        if isinstance(value, dict) and schema.get(dotted) == "section":
            out.extend(flatten(value, dotted, schema))
        else:
            out.append(f"{dotted}={json.dumps(value, ensure_ascii=False)}")
    return out


def entry_overrides(
    overlay: dict, datasets: Path, seed: int, work_dir: Path, cache_dir: Path | None = None
) -> list[str]:
    """The overrides one seed of an entry runs with: the overlay's params, the seed as both the data split
    seed and the training seed, and the seed's own work and model folders (cache_dir: a tokenization cache
    the entry's seeds share, since only the split and the training differ between them)."""
    from tasks.params import load_schema

    problem = overlay["bench"]["problem"]
    out = flatten(_filled(overlay["params"][problem], datasets), problem, load_schema())
    out += [
        f"{problem}.data.split.seed={seed}",
        f"{problem}.train.seed={seed}",
        f"{problem}.work_dir={work_dir}",
        f"{problem}.model_dir={work_dir / 'model'}",
    ]
    if cache_dir is not None:
        out.append(f"{problem}.tokenize.cache_dir={cache_dir}")
    return out


def target_value(target: float | dict, baseline_mean: float | None) -> float | None:
    """A floor or goal as a number: absolute, or the baseline's mean plus a margin ({over_baseline: m})."""
    if isinstance(target, dict):
        return None if baseline_mean is None else baseline_mean + float(target["over_baseline"])
    return float(target)


def target_text(target: float | dict) -> str:
    return f"baseline + {target['over_baseline']:g}" if isinstance(target, dict) else f"{target:g}"
