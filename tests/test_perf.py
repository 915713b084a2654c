"""`hanflow bench --perf` on tiny synthetic input: data growth, the pipeline/cache parts, figures, report; and
the N21 training throughput measure (bench/train_perf.py)."""

from __future__ import annotations

import pytest

from bench import perf, perf_parts
from tests.conftest import ROOT


def test_variants_are_distinct_and_keep_labels():
    texts, labels = ["영화 정말 좋다", "별로", "최악의 영화"], ["positive", "negative", "negative"]
    grown, grown_labels = perf.take(perf.variants(texts, labels, set()), 50)
    assert len(set(grown)) == 50
    assert grown[:3] == texts and grown[3] == "정말 좋다 영화"  # round 1 rotates the words
    assert grown_labels[1] == "negative" and "별로 1" in grown  # one-word text: numbered
    source = {tuple(sorted(t.split())): label for t, label in zip(texts, labels)}
    for text, label in zip(grown, grown_labels):  # a variant keeps its review's words and label
        words = [w for w in text.split() if not w.isdigit()]
        assert source[tuple(sorted(words))] == label


def test_corpus_falls_back_to_the_embedded_sample(tmp_path):
    texts, labels, source = perf.load_corpus(tmp_path / "no-datasets")
    assert "embedded sample" in source and len(texts) == len(labels) > 100
    assert set(labels) == {"negative", "positive"}


def test_run_perf_pipeline_and_cache_parts_on_tiny_data(tmp_path):
    results = perf.run_perf(
        tmp_path / "no-datasets",
        ROOT / "params.yaml",
        tmp_path / "reports",
        only=("mecab", "pipeline", "cache"),
        say=lambda _: None,
        rows=600,
    )
    parts = results["parts"]
    assert parts["mecab"]["sentences"] == 600
    assert set(parts["pipeline"]["stage_s"]) == {"ingest", "tokenize", "encode"}
    assert parts["pipeline"]["tokenize_report"]["tagged"] == 600
    cache = parts["cache"]
    assert cache["rows"] == 606 and cache["new_rows"] == 6
    assert cache["rerun_report"] == {"cache_hits": 600, "tagged": 6}  # only the appended rows were tagged
    names = [f["figure"] for f in results["figures"]]
    assert any("ingest->tokenize->encode time" in n for n in names)
    assert any("rerun after +6 rows" in n for n in names)
    md = (tmp_path / "reports/perf.md").read_text(encoding="utf-8")
    assert "| figure | value | baseline, same run" in md and "hanflow bench --perf" in md
    assert (tmp_path / "reports/perf.json").is_file()


def test_figures_ratios_and_targets():
    parts = {
        "okt": {"sentences": 1000, "measured": 100, "seconds": 10.0, "extrapolated": True},
        "mecab": {"seconds": 1.0},
        "pipeline": {
            "seconds": 1.2,
            "sentences_per_s": 833,
            "stage_s": {"ingest": 0.1, "tokenize": 0.8, "encode": 0.3},
            "tokenize_workers": 1,
            "tokenize_1_worker_s": 1.2,
            "tokenize_2_workers_s": 0.9,
        },
        "cache": {
            "new_rows": 10,
            "rows": 1010,
            "rerun_s": 0.04,
            "full_run_s": 1.0,
            "rerun_report": {"cache_hits": 1000, "tagged": 10},
        },
        "prefect": {"rows": 100, "direct_s": 10.0, "prefect_s": 11.0, "server_start_s": 9.0, "runs": {}},
        "dvc": {"stages": 28, "noop_s": 1.5, "noop_runs_s": [1.4, 1.5, 1.6]},
        "rss": {
            "small": {"rows": 10, "stage_process_peak_mb": 200, "process_tree_peak_mb_sampled": 400},
            "large": {
                "rows": 100,
                "stage_process_peak_mb": 220,
                "largest_worker_peak_mb_sampled": 150,
                "seconds": 3,
                "workers": 2,
                "process_tree_peak_mb_sampled": 450,
            },
        },
    }
    by_name = {f["figure"]: f for f in perf.figures(parts)}
    throughput = by_name["ingest->tokenize->encode throughput"]
    assert throughput["met"] and "extrapolated from 100" in throughput["baseline"]
    assert by_name["ingest->tokenize->encode time"]["ratio"] == 1.2 and by_name["ingest->tokenize->encode time"]["met"]
    assert (
        by_name["tokenize rerun after +10 rows (1%)"]["met"]
        and by_name["tokenize rerun after +10 rows (1%)"]["ratio"] == 0.04
    )
    prefect = [f for n, f in by_name.items() if n.startswith("whole N21 pipeline")]
    assert [f["met"] for f in prefect] == [True, False]
    assert by_name["no-op dvc repro, 28 stages (4 problem types)"]["met"]
    assert by_name["tokenize stage peak RSS, 100 sentences, stage process"]["ratio"] == 1.1
    assert by_name["tokenize stage peak RSS, 100 sentences, with its 2 workers (sampled)"]["ratio"] == 1.125


def test_tokenize_stage_rss_in_its_own_process(tmp_path):
    import pyarrow as pa

    from tasks import io

    io.write_table(
        pa.table(
            {"id": ["a", "b"], "text": ["영화 정말 좋다", "별로"], "label": ["p", "n"], "split": ["train", "train"]}
        ),
        tmp_path / "ingested.parquet",
    )
    rss = perf_parts.tokenize_rss(perf.section(ROOT / "params.yaml", tmp_path, tmp_path / "x.tsv"))
    assert rss["rows"] == 2 and rss["stage_process_peak_mb"] > 10
    assert (tmp_path / "tokens.parquet" / "part-000000.parquet").is_file()


def test_okt_loop_extrapolates_from_a_subsample(monkeypatch):
    import konlpy.tag

    seen = []

    class FakeOkt:  # the JVM costs ~20 s on a busy machine; the loop's bookkeeping is what is tested
        def pos(self, text):
            seen.append(text)
            return [(text, "Noun")]

    monkeypatch.setattr(konlpy.tag, "Okt", FakeOkt)
    texts = [f"문장 {i}" for i in range(20)]
    out = perf_parts.okt_loop(texts, sample=4)
    assert out["measured"] == 4 and out["sentences"] == 20 and out["extrapolated"]
    assert seen == [texts[0], texts[0], texts[5], texts[10], texts[15]]  # warm-up call, then every 5th
    assert out["seconds"] >= out["startup_s"]


def test_prefect_vs_direct_alternates_the_two_sides(monkeypatch, tmp_path):
    import flows.pipeline

    calls = []
    monkeypatch.setattr(perf_parts, "stage_times", lambda sec, names: (calls.append("direct"), {"all": 2.0})[1])
    monkeypatch.setattr(flows.pipeline, "run_problem_flow", lambda problem, sec: calls.append("prefect"))
    data = perf.write_tsv(tmp_path / "d.tsv", ["영화 좋다", "별로"], ["positive", "negative"])
    out = perf_parts.prefect_vs_direct(ROOT / "params.yaml", tmp_path, data, {"start_s": 3.0}, say=lambda _: None)
    assert calls == ["direct", "prefect", "prefect", "direct"]  # ABBA: drifting load hits both sides
    assert out["direct_s"] == 2.0 and out["server_start_s"] == 3.0 and out["rows"] == 2


def test_throughput_measure_compares_bucketed_with_padded_to_max():
    from bench.train_perf import n21_throughput
    from tests.n21.test_train import CFG, MODEL, synthetic_table

    result = n21_throughput(synthetic_table(), MODEL, CFG, epochs=2, threads=1, log=lambda _: None)
    bucketed, padded = result["bucketed"], result["padded"]
    assert result["padded_width"] == 24 and result["train_rows"] == 630
    # Random batches padded to the longest row are mostly padding; bucketed ones hardly at all.
    assert bucketed["padding_share"] < 0.15 < 0.4 < padded["padding_share"]
    assert result["ratio"] == pytest.approx(bucketed["sentences_per_s"] / padded["sentences_per_s"], rel=0.01)
    for side in (bucketed, padded):
        assert len(side["epoch_seconds"]) == len(side["dev_accuracy_per_epoch"]) == 2
        assert side["best_dev_accuracy"] == max(side["dev_accuracy_per_epoch"]) and 0 <= side["test_accuracy"] <= 1
    # The same loop learns on both sides: a padded batch changes the speed, not what is learnt.
    assert min(bucketed["best_dev_accuracy"], padded["best_dev_accuracy"]) >= 0.8


def test_the_padded_baseline_pads_every_batch_to_the_given_width():
    import numpy as np
    import pyarrow as pa

    from bench.train_perf import batch_inputs
    from tasks.n21.train import ModelInputs

    inputs = ModelInputs(pa.array([[2, 3], [4, 5, 6, 7], [8]], pa.list_(pa.int32())))
    ids, lengths = batch_inputs(inputs, np.array([0, 2]), None, {})
    assert ids.shape == (2, 2) and lengths.tolist() == [2, 1]  # its own longest row
    ids, lengths = batch_inputs(inputs, np.array([0, 2]), 4, {})
    assert ids.shape == (2, 4) and ids[0].tolist() == [2, 3, 0, 0] and lengths.tolist() == [2, 1]


def test_the_product_trainer_has_no_padding_hook():
    import inspect

    from tasks.n21.train import ModelInputs, _train_epoch

    # The padded-to-max baseline is the benchmark's own code (bench/train_perf.py), not a trainer option.
    assert "pad_to" not in inspect.signature(ModelInputs.batch).parameters
    assert "pad_to" not in inspect.signature(_train_epoch).parameters
