"""`hanflow bench`: the real-data quality targets, each next to a baseline measured in the same run.

Runs on ../shared/datasets (or --datasets DIR) when present; writes reports/bench.json and
reports/bench.md. Never part of CI: it trains on tens of thousands of sentences.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from tasks import io

# Real-data runs: params overrides over params.yaml, per problem type. `{datasets}` is filled in.
REAL_DATA = {
    "n21": {
        "dataset": "nsmc/ratings_train_small.txt",
        "target": {"metric": "accuracy", "min": 0.85, "goal": 0.87},
        "overrides": [
            "n21.data.path={datasets}/nsmc/ratings_train_small.txt",
            "n21.data.format=nsmc",
            # The official 50k test set is held back: measure on a test split carved from the 31k.
            "n21.data.split={dev: 0.05, test: 0.1, seed: 13}",
            # NSMC writes its labels as 0/1: the benchmark has its own label schema file.
            "n21.class_design.schema=data/schema/bench/nsmc_labels.yaml",
            # Everything else is params.yaml's defaults: the target is "trained with default params".
            "n21.work_dir=data/bench/n21",
            "n21.model_dir=data/bench/n21/model",
        ],
        "metrics": ("accuracy", "macro_f1"),
        "baseline": lambda section, metrics: tfidf_baseline(Path(section["work_dir"])),
    },
    "n2n": {
        "dataset": "kmou_ner/2016klp/ner.dev",
        # The 2016 KLP test split is held back: its dev file (366 sentences) stands in as our test.
        "target": {"metric": "f1", "min": 0.75, "goal": 0.85},
        "overrides": [
            "n2n.data.path={datasets}/kmou_ner/corpus", "n2n.data.format=kmou", "n2n.data.split_as=train",
            "n2n.data.extra_sources=[{path: '{datasets}/kmou_ner/2016klp/ner.train', format: klp},"
            " {path: '{datasets}/kmou_ner/2016klp/ner.dev', format: klp, split_as: test}]",
            # KLP train is the only unassigned source: 10% of it becomes dev for early stopping.
            "n2n.data.split={dev: 0.1, test: 0.0, seed: 13}",
            "n2n.data.type_map={PER: PS, LOC: LC, ORG: OG, DAT: DT, TIM: TI, PS: PS, LC: LC, OG: OG, DT: DT, TI: TI}",
            "n2n.data.keep_unmapped_types=false",
            # KMOU and KLP draw entity boundaries differently (KLP's DT/TI include 하루, 여름, 밤, 30분): the
            # model sees each row's source, trains on both, then fine-tunes on KLP, the source it is tested on.
            "n2n.train.features=[morphs, pos, boundary, domain]", "n2n.train.predict_domain=klp",
            "n2n.train.finetune.domain=klp",
            # An epoch on 26.6k sentences takes ~2 min on 2 cores; dev F1 peaked by epoch 4 in development.
            "n2n.train.patience=3",
            "n2n.work_dir=data/bench/n2n",
            "n2n.model_dir=data/bench/n2n/model",
        ],
        "metrics": ("f1", "precision", "recall", "token_accuracy", "per_type"),
        "baseline": lambda section, metrics: {"name": "gazetteer (train entity strings)",
                                              **metrics["gazetteer_baseline"]},
    },
    "n2m": {
        "dataset": "chatbot_data/ChatbotData_shared.csv",
        # 10% of the Chatbot data is held back in blocks of 20 lines, and the file lists paraphrases side by
        # side: the test split is carved the same way (hashed 20-row blocks), or retrieval would score 27.9
        # on a question-hash split against 15.2 on the held-back blocks. 8 of 10,588 questions then recur
        # across splits (the file repeats some questions far apart), so leakage may touch 0.1% of rows.
        "target": {"metric": "chrf", "min": 15.2, "goal": 18.0},
        "overrides": [
            "n2m.data.path={datasets}/chatbot_data/ChatbotData_shared.csv", "n2m.data.format=chatbot",
            "n2m.data.split={dev: 0.05, test: 0.1, seed: 13, block_rows: 20}",
            "n2m.validate.leakage_mostly=0.999",
            "n2m.work_dir=data/bench/n2m", "n2m.model_dir=data/bench/n2m/model",
        ],
        "metrics": ("chrf", "bleu", "perplexity", "avg_length", "distinct_1", "distinct_2"),
        "baseline": lambda section, metrics: {"name": "retrieval (TF-IDF char 1-3)", **metrics["retrieval_baseline"]},
    },
    "n2path": {
        "dataset": "ud_korean_gsd/ko_gsd-ud-dev.conllu",
        # GSD's test file is held back: its dev file is our test, and 10% of train is dev for early stopping.
        "target": {"metric": "las", "min": 0.75, "goal": 0.82},
        "overrides": [
            "n2path.data.path={datasets}/ud_korean_gsd/ko_gsd-ud-train.conllu", "n2path.data.format=conllu",
            "n2path.data.extra_sources=[{path: '{datasets}/ud_korean_gsd/ko_gsd-ud-dev.conllu', format: conllu,"
            " split_as: test}]",
            "n2path.data.split={dev: 0.1, test: 0.0, seed: 13}",
            # xcomp occurs in GSD dev but not in train: the schema file lists every GSD relation (29).
            "n2path.class_design.schema=data/schema/bench/gsd_relations.yaml",
            "n2path.work_dir=data/bench/n2path",
            "n2path.model_dir=data/bench/n2path/model",
        ],
        "metrics": ("uas", "las"),
        "baseline": lambda section, metrics: {**metrics["right_neighbour_baseline"], "name": "right neighbour"},
    },
}


def tfidf_baseline(work_dir: Path) -> dict:
    """TF-IDF character n-grams + logistic regression on the same train/test split."""
    import pyarrow.compute as pc
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    table = io.read_table(work_dir / "ingested.parquet", columns=["text", "label", "split"])

    def part(name: str) -> tuple[list[str], list[str]]:
        rows = table.filter(pc.equal(table.column("split"), name))
        return rows.column("text").to_pylist(), rows.column("label").to_pylist()

    (x_train, y_train), (x_test, y_test) = part("train"), part("test")
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), min_df=2, sublinear_tf=True)
    classifier = LogisticRegression(C=4.0, max_iter=2000)
    classifier.fit(vectorizer.fit_transform(x_train), y_train)
    predicted = classifier.predict(vectorizer.transform(x_test))
    return {"name": "tfidf-char-1..4+logreg", "accuracy": accuracy_score(y_test, predicted),
            "macro_f1": f1_score(y_test, predicted, average="macro"), "seconds": time.perf_counter() - started}


def run_bench(problems: list[str], datasets: Path, params_file: Path, out_dir: Path, say=print) -> dict:
    from flows.pipeline import run_problem_flow
    from tasks.params import load_params

    results: dict = {"machine": platform.platform(), "python": platform.python_version(), "problems": {}}
    for problem in problems:
        spec = REAL_DATA.get(problem)
        if spec is None:
            results["problems"][problem] = {"skipped": "no real-data benchmark defined yet"}
            continue
        if not (datasets / spec["dataset"]).exists():
            results["problems"][problem] = {"skipped": f"{datasets / spec['dataset']} not found"}
            continue
        overrides = [o.replace("{datasets}", str(datasets)) for o in spec["overrides"]]
        section = load_params(params_file, overrides)[problem]
        say(f"bench {problem}: training on {spec['dataset']} …")
        started = time.perf_counter()
        reports = run_problem_flow(problem, section)
        seconds = time.perf_counter() - started
        metrics = io.read_json(Path(section["work_dir"]) / "eval" / "metrics.json")
        target = spec["target"]
        entry = {
            "dataset": spec["dataset"],
            "rows": reports["ingest"]["splits"],
            "metrics": {k: metrics[k] for k in spec["metrics"] if k in metrics},
            "target": target,
            "meets_target": metrics[target["metric"]] >= target["min"],
            "pipeline_seconds": round(seconds, 1),
            "stage_seconds": {name: r.get("seconds") for name, r in reports.items()},
            "overrides": overrides,
        }
        baseline = spec["baseline"](section, metrics)
        entry["baseline"] = baseline
        # A baseline scored on another metric (the right-neighbour parser has UAS only) gets no ratio.
        if baseline.get(target["metric"]):
            entry["ratio_to_baseline"] = metrics[target["metric"]] / baseline[target["metric"]]
        results["problems"][problem] = entry
    # Problems benchmarked earlier and not rerun now keep their last figures.
    previous = io.read_json(out_dir / "bench.json") if (out_dir / "bench.json").exists() else {}
    results["problems"] = {**previous.get("problems", {}), **results["problems"]}
    io.write_json(results, out_dir / "bench.json")
    io.write_text(markdown(results), out_dir / "bench.md")
    return results


def _baseline_cell(baseline: dict, metric: str) -> str:
    """The baseline's score on the target metric, else the metric it has (the right-neighbour parser: UAS only)."""
    if baseline.get(metric) is not None:
        return f"{baseline[metric]:.4f} ({baseline.get('name', '')})"
    other = next((k for k, v in baseline.items() if isinstance(v, float)), None)
    return f"{other} {baseline[other]:.4f} ({baseline.get('name', '')})" if other else baseline.get("name", "—")


def markdown(results: dict) -> str:
    lines = ["# hanflow benchmark", "", f"Machine: {results['machine']}, Python {results['python']}", "",
             "| problem | dataset | metric | hanflow | baseline (same run) | ratio | target | met | time |",
             "|---|---|---|---|---|---|---|---|---|"]
    for problem, entry in results["problems"].items():
        if "skipped" in entry:
            lines.append(f"| {problem} | — | — | skipped: {entry['skipped']} | | | | | |")
            continue
        metric = entry["target"]["metric"]
        baseline = entry.get("baseline", {})
        ratio = f"{entry['ratio_to_baseline']:.3f}" if "ratio_to_baseline" in entry else "—"
        lines.append(
            f"| {problem} | {entry['dataset']} | {metric} | {entry['metrics'][metric]:.4f} | "
            f"{_baseline_cell(baseline, metric)} | {ratio} | ≥ {entry['target']['min']} | "
            f"{'yes' if entry['meets_target'] else 'NO'} | {entry['pipeline_seconds']} s |")
    return "\n".join(lines) + "\n\n```json\n" + json.dumps(results, ensure_ascii=False, indent=2) + "\n```\n"
