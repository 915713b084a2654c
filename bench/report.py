"""reports/bench.md from the results bench/quality.py writes to reports/bench.json."""

from __future__ import annotations

from bench.overlays import target_text

DIGITS = {"chrf": 2, "bleu": 2, "perplexity": 1, "avg_length": 2}  # 0-100 scales; every other metric is 0-1
HEADER = (
    "| entry | data | metric | hanflow (mean ± sd) | baseline, same split (mean ± sd) | gain [95% interval] "
    "| floor / goal | met | seeds | min / seed | first prediction |"
)


def number(metric: str, value: float | None, sign: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.{DIGITS.get(metric, 4)}f}" if sign else f"{value:.{DIGITS.get(metric, 4)}f}"


def spread(metric: str, figure: dict | None) -> str:
    """'0.8550 ± 0.0031'; a single seed has no sd."""
    if not figure:
        return "—"
    sd = figure.get("sd")
    return number(metric, figure["mean"]) + ("" if sd is None else f" ± {number(metric, sd)}")


def interval(metric: str, gain: dict | None) -> str:
    if not gain:
        return "—"
    return (
        f"{number(metric, gain['gain'], sign=True)} [{number(metric, gain['low'], sign=True)}, "
        f"{number(metric, gain['high'], sign=True)}]"
    )


def _target(entry: dict, key: str) -> str:
    raw, value = entry[f"{key}_target"], entry.get("summary", {}).get(key)
    text = target_text(raw)
    return f"{text} ({number(entry['metric'], value)})" if isinstance(raw, dict) and value is not None else text


def _met(summary: dict) -> str:
    if summary.get("met") is None:
        return "—"
    return ("yes" + (", goal too" if summary.get("goal_met") else "")) if summary["met"] else "NO"


def _ttfp(entry: dict) -> str:
    figure = entry.get("time_to_first_prediction") or {}
    return f"{figure['seconds']:.1f} s" if "seconds" in figure else ("failed" if "error" in figure else "—")


def headline_row(name: str, entry: dict) -> str:
    if "summary" not in entry:
        why = entry.get("skipped") or entry.get("error") or "no results"
        return f"| {name} | {entry.get('dataset', '—')} | — | {why} | | | | | | | |"
    s, metric, compare = entry["summary"], entry["metric"], entry["compare_on"]
    runs = list(entry["runs"].values())
    test = f"{runs[-1]['test_rows']:,} test {'rows' if entry['problem'] in ('n21', 'n2m') else 'sentences'}"
    baseline = spread(compare, s["baseline"].get(compare))
    gain = interval(compare, s["gain"])
    if compare != metric:  # the baseline has another metric than the headline (the parser's: UAS only)
        baseline, gain = f"{compare.upper()} {baseline}", f"{compare.upper()} {gain}"
    status = "" if entry.get("complete") else " (incomplete)"
    return (
        f"| {name}{status} | {entry['dataset']}, {test}, in place of {entry['stands_in_for']} | {metric} | "
        f"**{spread(metric, s['model'].get(metric))}** | {baseline} ({entry['baseline']}) | {gain} | "
        f"≥ {_target(entry, 'floor')} / {_target(entry, 'goal')} | {_met(s)} | {len(runs)} | "
        f"{s['minutes_per_seed']} | {_ttfp(entry)} |"
    )


def seed_rows(name: str, entry: dict) -> list[str]:
    compare = entry.get("compare_on")
    out = []
    for seed, run in entry.get("runs", {}).items():
        shown = ", ".join(f"{m} {number(m, v)}" for m, v in run["metrics"].items() if isinstance(v, (int, float)))
        base = ", ".join(f"{m} {number(m, v)}" for m, v in run["baseline"].items() if m != "seconds")
        rows = run.get("rows") or {}
        split = " / ".join(f"{rows[k]:,}" for k in ("train", "dev", "test") if k in rows)
        out.append(
            f"| {name} | {seed} | {shown} | {base} | {interval(compare, run['gain'])} | {split} | "
            f"{run['test_units']:,} | {run['seconds'] / 60:.1f} |"
        )
    return out


def markdown(results: dict) -> str:
    entries = results.get("entries", {})
    lines = [
        "# hanflow benchmark",
        "",
        f"{results.get('machine', '?')}, Python {results.get('python', '?')}, {results.get('cpus', '?')} CPUs; "
        f"updated {results.get('updated', '?')}. Each entry is params.yaml's defaults plus its overlay "
        "(bench/overlays/ENTRY.yaml), trained once per seed; a seed sets the data split and the training seed. "
        "The gain is hanflow minus the baseline built on the same split: its mean over seeds with a paired "
        "bootstrap 95% interval (1,000 replicates resampling each seed's test units). Reproduce one entry: "
        "`hanflow bench --entry ENTRY --seeds 13,1,2`.",
        "",
        HEADER,
        "|---" * 11 + "|",
    ]
    lines += [headline_row(name, entry) for name, entry in entries.items()]
    lines += [
        "",
        "Per seed (gain: that seed's paired bootstrap 95% interval; units: what the bootstrap resamples):",
        "",
        "| entry | seed | hanflow | baseline | gain [95% interval] | train / dev / test | units | minutes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in entries.items():
        lines += seed_rows(name, entry)
    return "\n".join(lines) + "\n"
