"""`hanflow bench --perf` (or `python -m bench.perf`): the pipeline's performance figures, each next to a
baseline measured in the same run. Writes reports/perf.json and reports/perf.md.

Data: NSMC reviews from ../shared/datasets when present, else the embedded sample; either is grown to
`rows` distinct sentences by rotating each review's words (and numbering the few that repeat), so no
cache or dedup can make a copy free. Parts (`--only`, comma-separated):

- okt: the naive baseline, one process, `Okt().pos` over the sentences (a subsample when --okt-sample
  is smaller than rows; the full time is then extrapolated from its rate, and the report says so);
- mecab: bare `Mecab.pos` calls over all sentences, one process (the default tagger, nothing else);
- pipeline: the N21 stages ingest -> tokenize -> encode on the same sentences (params.yaml defaults:
  2 spawn workers, cold cache), and tokenize alone with 1 worker;
- cache: append 1% new rows; the tokenize stage rerun (warm cache) against the same stage on the grown
  table with a cold cache;
- prefect: the whole N21 pipeline (1 training epoch) under Prefect against the same stage functions
  called directly, on a `prefect_rows` subset: with a temporary server, and with a running server;
- dask: the tokenize stage on prefect-dask's DaskTaskRunner (LocalCluster, 2 workers) against the
  process pool;
- dvc: no-op `dvc repro` for all four problem types in a temporary copy of the repo (tiny training);
- rss: peak RSS of the tokenize stage, run as its own process, on `rss_rows` sentences against 1/10 of
  them (flat memory = ratio near 1).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("okt", "mecab", "pipeline", "cache", "prefect", "dask", "dvc", "rss")
DEFAULTS = {"rows": 126_000, "okt_sample": 20_000, "prefect_rows": 20_000, "rss_rows": 1_000_000}
CMD = "hanflow bench --perf"


def load_corpus(datasets: Path) -> tuple[list[str], list[str], str]:
    nsmc = datasets / "nsmc" / "ratings_train_small.txt"
    texts, labels = [], []
    if nsmc.exists():
        for line in nsmc.read_text(encoding="utf-8").splitlines()[1:]:
            parts = line.split("\t")
            if len(parts) == 3 and parts[1].strip() and parts[2] in ("0", "1"):
                texts.append(parts[1])
                labels.append("positive" if parts[2] == "1" else "negative")
        return texts, labels, "NSMC ratings_train_small.txt"
    for line in (ROOT / "data/sample/n21_reviews.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        _, text, label = line.split("\t")
        texts.append(text)
        labels.append(label)
    return texts, labels, "embedded sample data/sample/n21_reviews.tsv"


def variants(texts: list[str], labels: list[str], seen: set[str]) -> Iterator[tuple[str, str]]:
    """Distinct sentences: round k rotates each text's words by k; a repeat gets the round number."""
    k = 0
    while True:
        for text, label in zip(texts, labels):
            words = " ".join(text.replace('"', "'").split()).split(" ")
            turn = k % len(words)
            candidate = " ".join(words[turn:] + words[:turn])
            if candidate in seen:
                candidate = f"{candidate} {k}"
            if candidate not in seen:
                seen.add(candidate)
                yield candidate, label
        k += 1


def take(gen: Iterator[tuple[str, str]], n: int) -> tuple[list[str], list[str]]:
    pairs = [next(gen) for _ in range(n)]
    return [t for t, _ in pairs], [label for _, label in pairs]


def write_tsv(path: Path, texts: list[str], labels: list[str], start: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("id\ttext\tlabel\n")
        f.writelines(f"r{start + i}\t{t}\t{label}\n" for i, (t, label) in enumerate(zip(texts, labels)))
    return path


def section(params_file: Path, work: Path, data: Path, *overrides: str) -> dict:
    from tasks.params import load_params

    return load_params(
        params_file,
        [
            f"n21.work_dir={work}",
            f"n21.model_dir={work / 'model'}",
            f"n21.data.path={data}",
            "n21.data.format=tsv",
            *overrides,
        ],
    )["n21"]


def timed(fn: Callable, *args) -> tuple[object, float]:
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def stage_times(sec: dict, names: list[str]) -> dict:
    from flows.pipeline import run_stage

    return {name: round(timed(run_stage, "n21", name, sec)[1], 3) for name in names}


def figure(
    name: str,
    value: float,
    unit: str,
    baseline: str,
    base_value: float,
    target: str | None = None,
    met: bool | None = None,
    ratio: float | None = None,
    **extra,
) -> dict:
    ratio = ratio if ratio is not None else (value / base_value if base_value else None)
    return {
        "figure": name,
        "value": round(value, 4),
        "unit": unit,
        "baseline": baseline,
        "baseline_value": round(base_value, 4),
        "ratio": None if ratio is None else round(ratio, 4),
        "target": target,
        "met": met,
        "command": CMD,
        **extra,
    }


# ---------------------------------------------------------------- the run


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else []


def pipeline(params_file: Path, tmp: Path, data: Path, rows: int) -> dict:
    """ingest -> tokenize -> encode with params.yaml's defaults (cold cache), then tokenize alone with 1 and with
    2 spawned workers (cold caches)."""
    from tasks import io

    times = stage_times(section(params_file, tmp / "pipe", data), ["ingest", "tokenize", "encode"])
    report = io.read_json(tmp / "pipe/reports/tokenize.json")
    workers = {}
    for n in (1, 2):
        (tmp / f"pipe_w{n}").mkdir()
        shutil.copy2(tmp / "pipe/ingested.parquet", tmp / f"pipe_w{n}/ingested.parquet")
        workers[n] = stage_times(
            section(params_file, tmp / f"pipe_w{n}", data, f"n21.tokenize.workers={n}"), ["tokenize"]
        )["tokenize"]
    return {
        "stage_s": times,
        "seconds": round(sum(times.values()), 3),
        "tokenize_workers": report["workers"],
        "tokenize_1_worker_s": workers[1],
        "tokenize_2_workers_s": workers[2],
        "sentences_per_s": round(rows / sum(times.values())),
        "tokenize_report": {k: report.get(k) for k in ("tagged", "partitions", "worker_processes", "taggers_built")},
    }


def grown_rerun(params_file: Path, tmp: Path, data: Path, gen: Iterator[tuple[str, str]], rows: int) -> dict:
    """Append 1% new rows to the pipeline's data: the ingest + tokenize rerun with the warm cache, against the
    tokenize stage on the same grown table with a cold cache (the full run)."""
    import pyarrow.parquet as pq

    from tasks import io

    more, more_labels = take(gen, max(1, rows // 100))
    with open(data, "a", encoding="utf-8") as f:
        f.writelines(f"r{rows + i}\t{t}\t{label}\n" for i, (t, label) in enumerate(zip(more, more_labels)))
    warm = stage_times(section(params_file, tmp / "pipe", data), ["ingest", "tokenize"])
    report = io.read_json(tmp / "pipe/reports/tokenize.json")
    (tmp / "cold").mkdir()
    shutil.copy2(tmp / "pipe/ingested.parquet", tmp / "cold/ingested.parquet")
    cold = stage_times(section(params_file, tmp / "cold", data), ["tokenize"])["tokenize"]
    return {
        "rows": pq.ParquetFile(tmp / "cold/ingested.parquet").metadata.num_rows,
        "new_rows": len(more),
        "rerun_s": warm["tokenize"],
        "rerun_ingest_s": warm["ingest"],
        "full_run_s": cold,
        "rerun_report": {k: report.get(k) for k in ("cache_hits", "tagged")},
    }


def run_perf(
    datasets: Path = Path("../shared/datasets"),
    params_file: Path = ROOT / "params.yaml",
    out_dir: Path = Path("reports"),
    only: tuple[str, ...] = PARTS,
    say=print,
    **sizes,
) -> dict:
    from bench import perf_parts as m
    from tasks import io

    cfg = {**DEFAULTS, **{k: v for k, v in sizes.items() if v is not None}}
    previous = io.read_json(out_dir / "perf.json") if (out_dir / "perf.json").exists() else {}
    results: dict = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_before": load(),
        "sizes": cfg,
        "parts": {**previous.get("parts", {})},
    }
    base_texts, base_labels, source = load_corpus(datasets)
    gen = variants(base_texts, base_labels, set())
    texts, labels = take(gen, cfg["rows"])
    results["data"] = {"source": source, "base_sentences": len(base_texts), "rows": len(texts)}
    tmp = Path(tempfile.mkdtemp(prefix="hanflow-perf-"))
    parts = results["parts"]

    def save() -> None:  # after every part: a later failure or a kill keeps what was measured
        results["load_after"] = load()
        results["figures"] = figures(parts)
        io.write_json(results, out_dir / "perf.json")
        io.write_text(markdown(results), out_dir / "perf.md")

    def measure(name: str, what: str, fn: Callable, *args, force: bool = False) -> None:
        if name in only or force:
            say(f"perf {name}: {what} …")
            try:
                parts[name] = {**fn(*args), "load_after": load()}
            except Exception as err:  # one broken part must not cost the others' figures
                parts[name] = {"error": f"{type(err).__name__}: {err}"[:2000]}
                say(f"perf {name} failed: {parts[name]['error'][:300]}")
            save()

    try:
        data = write_tsv(tmp / "data.tsv", texts, labels)
        measure(
            "okt",
            f"naive Okt().pos loop ({cfg['okt_sample']} of {len(texts)} sentences)",
            m.okt_loop,
            texts,
            cfg["okt_sample"],
        )
        measure("mecab", "bare Mecab.pos calls, one process", m.mecab_loop, texts)
        if {"pipeline", "cache", "dask"} & set(only):  # the other two start from the pipeline's ingested table
            measure(
                "pipeline",
                "ingest -> tokenize -> encode (params defaults, cold cache)",
                pipeline,
                params_file,
                tmp,
                data,
                len(texts),
                force=True,
            )
        measure(
            "cache",
            "+1% rows: tokenize rerun (warm cache) vs the same rows cold",
            grown_rerun,
            params_file,
            tmp,
            data,
            gen,
            len(texts),
        )
        if {"prefect", "dask"} & set(only):  # both on a Prefect server of their own, started here
            small = write_tsv(tmp / "small.tsv", texts[: cfg["prefect_rows"]], labels[: cfg["prefect_rows"]])
            try:
                with m.private_prefect(tmp / "prefect_home") as server:
                    measure(
                        "prefect",
                        f"whole N21 pipeline, direct vs under Prefect ({cfg['prefect_rows']} rows)",
                        m.prefect_vs_direct,
                        params_file,
                        tmp / "prefect",
                        small,
                        server,
                        say,
                    )
                    measure(
                        "dask",
                        "tokenize stage on DaskTaskRunner (2 workers) vs the process pool",
                        m.dask_vs_process,
                        params_file,
                        tmp,
                        data,
                    )
            except RuntimeError as err:
                parts.update({name: {"error": str(err)} for name in ("prefect", "dask") if name in only})
        measure("dvc", "no-op dvc repro, all four problem types", m.dvc_noop, tmp / "dvc", say)
        measure(
            "rss",
            f"tokenize stage on {cfg['rss_rows']} and {cfg['rss_rows'] // 10} sentences",
            m.rss_parts,
            params_file,
            tmp,
            base_texts,
            base_labels,
            cfg["rss_rows"],
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    save()
    return results


def figures(parts: dict) -> list[dict]:
    try:
        return _figures({name: part for name, part in parts.items() if "error" not in part})
    except (KeyError, TypeError, ZeroDivisionError) as err:  # a part from an older perf.json lacks a field
        return [{"figure": "figures could not be computed", "error": repr(err)}]


def _figures(p: dict) -> list[dict]:
    out = []
    if "okt" in p and "pipeline" in p:
        okt, pipe = p["okt"], p["pipeline"]
        note = f"extrapolated from {okt['measured']} sentences" if okt["extrapolated"] else "measured in full"
        out.append(
            figure(
                "ingest->tokenize->encode throughput",
                pipe["sentences_per_s"],
                "sentences/s",
                f"naive Okt().pos loop, one process ({note})",
                okt["sentences"] / okt["seconds"],
                "≥ 1.8x",
                okt["seconds"] / pipe["seconds"] >= 1.8,
            )
        )
    if "mecab" in p and "pipeline" in p:
        pipe = p["pipeline"]
        out.append(
            figure(
                "ingest->tokenize->encode time",
                pipe["seconds"],
                "s",
                "bare Mecab.pos calls, one process",
                p["mecab"]["seconds"],
                "≤ 1.5x",
                pipe["seconds"] <= 1.5 * p["mecab"]["seconds"],
                stages=pipe["stage_s"],
            )
        )
        out.append(
            figure(
                "tokenize stage, 2 spawned workers",
                pipe["tokenize_2_workers_s"],
                "s",
                "tokenize stage, 1 worker (in the stage's process)",
                pipe["tokenize_1_worker_s"],
                default_workers=pipe["tokenize_workers"],
            )
        )
    if "cache" in p:
        c = p["cache"]
        out.append(
            figure(
                f"tokenize rerun after +{c['new_rows']} rows (1%)",
                c["rerun_s"],
                "s",
                f"tokenize stage on the same {c['rows']} rows, cold cache",
                c["full_run_s"],
                "≤ 0.05x",
                c["rerun_s"] <= 0.05 * c["full_run_s"],
                **c["rerun_report"],
            )
        )
    if "prefect" in p:
        q = p["prefect"]
        for seconds, what in (
            (q["prefect_s"], "server running"),
            (q["prefect_s"] + q["server_start_s"], "plus starting the server, a machine's first run"),
        ):
            out.append(
                figure(
                    f"whole N21 pipeline under Prefect ({what}), {q['rows']} rows, 1 epoch",
                    seconds,
                    "s",
                    "the same stage functions called directly",
                    q["direct_s"],
                    "≤ 1.25x",
                    seconds <= 1.25 * q["direct_s"],
                    runs=q["runs"],
                )
            )
    if "dask" in p:
        out.append(
            figure(
                "tokenize stage on DaskTaskRunner, 2 workers",
                p["dask"]["dask_s"],
                "s",
                "tokenize stage on the spawn process pool, 2 workers",
                p["dask"]["process_s"],
            )
        )
    if "dvc" in p:
        d = p["dvc"]
        out.append(
            figure(
                f"no-op dvc repro, {d['stages']} stages (4 problem types)",
                d["noop_s"],
                "s",
                "target",
                2.0,
                "≤ 2 s",
                d["noop_s"] <= 2.0,
                runs=d["noop_runs_s"],
            )
        )
    if "rss" in p:
        large, small = p["rss"]["large"], p["rss"]["small"]
        tree = "process_tree_peak_mb_sampled"
        out.append(
            figure(
                f"tokenize stage peak RSS, {large['rows']} sentences, stage process",
                large["stage_process_peak_mb"],
                "MB",
                f"the same on {small['rows']} sentences",
                small["stage_process_peak_mb"],
                seconds=large["seconds"],
                workers=large["workers"],
            )
        )
        out.append(
            figure(
                f"tokenize stage peak RSS, {large['rows']} sentences, with its {large['workers']} workers (sampled)",
                large[tree],
                "MB",
                f"the same on {small['rows']} sentences",
                small[tree],
                largest_worker_mb=large["largest_worker_peak_mb_sampled"],
            )
        )
    return out


def markdown(results: dict) -> str:
    lines = [
        "# hanflow performance",
        "",
        f"{results['machine']}, Python {results['python']}, {results['cpus']} CPUs; load average before "
        f"{results['load_before']}, after {results['load_after']}. Data: {results['data']['source']} grown to "
        f"{results['data']['rows']} distinct sentences. Reproduce: `{CMD}`.",
        "",
        "| figure | value | baseline, same run | baseline value | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in results["figures"]:
        if "error" in f:
            lines.append(f"| {f['figure']}: {f['error']} | | | | | | |")
            continue
        met = "" if f["met"] is None else ("yes" if f["met"] else "NO")
        lines.append(
            f"| {f['figure']} | {f['value']} {f['unit']} | {f['baseline']} | {f['baseline_value']} "
            f"{f['unit']} | {f['ratio']} | {f['target'] or ''} | {met} |"
        )
    lines += [f"\n{name} failed: {part['error'][:500]}" for name, part in results["parts"].items() if "error" in part]
    return "\n".join(lines) + "\n\n```json\n" + json.dumps(results["parts"], ensure_ascii=False, indent=2) + "\n```\n"


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.perf", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--params-file", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--out-dir", type=Path, default=Path("reports"))
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated: {','.join(PARTS)}")
    for key, value in DEFAULTS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=value)
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    results = run_perf(
        args.datasets,
        args.params_file,
        args.out_dir,
        tuple(args.only.split(",")),
        **{k: getattr(args, k) for k in DEFAULTS},
    )
    print(markdown(results).split("```json")[0])


if __name__ == "__main__":
    main()
