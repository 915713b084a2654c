"""bench/stats.py on synthetic data: metrics from summed per-unit statistics, paired bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from bench import stats


def _rows(n: int, p_model: float, p_base: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two binary classifiers on n rows, right with probabilities p_model and p_base, independently."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 2, n)
    model = np.where(rng.random(n) < p_model, gold, 1 - gold)
    base = np.where(rng.random(n) < p_base, gold, 1 - gold)
    return stats.classification_stats(gold, model, 2), stats.classification_stats(gold, base, 2)


def test_classification_metrics_match_sklearn():
    from sklearn.metrics import accuracy_score, f1_score

    gold = [0, 0, 1, 2, 2, 2, 1, 0]
    pred = [0, 1, 1, 2, 0, 2, 1, 1]
    s = stats.classification_stats(gold, pred, 4)  # class 3: in the schema, never seen nor predicted
    assert stats.score(s, "accuracy") == pytest.approx(accuracy_score(gold, pred))
    assert stats.score(s, "macro_f1") == pytest.approx(
        f1_score(gold, pred, labels=[0, 1, 2, 3], average="macro", zero_division=0)
    )


def test_chrf_from_statistics_equals_sacrebleu():
    from sacrebleu.metrics import CHRF

    hyps = ["안녕하세요 반가워요", "잘 자요.  좋은 꿈 꾸세요.", "", "ㅋㅋ", "맛있게 드세요!"]
    refs = ["안녕 반가워", "좋은 꿈 꿔요", "뭐라고요", "ㅋㅋㅋㅋ 웃기다", "맛있게 먹어요"]
    s = stats.chrf_stats(hyps, refs)
    normalized = [" ".join(h.split()) for h in hyps]
    assert stats.score(s, "chrf") == pytest.approx(CHRF().corpus_score(normalized, [refs]).score)
    assert stats.score(s[:2], "chrf") == pytest.approx(CHRF().corpus_score(normalized[:2], [refs[:2]]).score)
    assert stats.score(s[2:3], "chrf") == 0.0


def test_entity_and_attachment_metrics():
    gold = [[(0, 3, "PS"), (5, 7, "LC")], [(0, 2, "OG")], []]
    pred = [[(0, 3, "PS"), (5, 7, "OG")], [], [(1, 2, "DT")]]
    s = stats.entity_stats(gold, pred)
    assert s.tolist() == [[1, 1, 1], [0, 0, 1], [0, 1, 0]]
    assert stats.score(s, "f1") == pytest.approx(2 * 1 / (2 * 1 + 2 + 2))
    a = stats.attachment_stats([[2, 0, 2]], [[2, 0, 1]], [["nsubj", "root", "obj"]], [["obj", "root", "obj"]])
    assert a.tolist() == [[3, 2, 1]] and stats.score(a, "uas") == pytest.approx(2 / 3)
    assert stats.attachment_stats([[2, 0]], [[2, 0]]).tolist() == [[2, 2, 0]]  # heads only: no LAS


def test_interval_covers_a_known_gain_and_excludes_zero():
    model, base = _rows(4000, 0.85, 0.75)
    out = stats.paired_bootstrap(model, base, "accuracy")
    assert out["low"] < 0.10 < out["high"] and out["low"] > 0 and out["beats_baseline"]
    assert out["low"] < out["gain"] < out["high"]
    assert out["high"] - out["low"] < 0.06  # 4,000 rows: about ±0.02


def test_identical_predictions_give_a_zero_width_interval_at_zero():
    model, _ = _rows(500, 0.8, 0.5)
    for metric in ("accuracy", "macro_f1"):
        out = stats.paired_bootstrap(model, model.copy(), metric)
        assert out == {"gain": 0.0, "low": 0.0, "high": 0.0, "beats_baseline": False}
    out = stats.mean_gain_interval([(model, model), (model, model)], "accuracy")
    assert (out["gain"], out["low"], out["high"]) == (0.0, 0.0, 0.0)


def test_the_interval_is_reproducible():
    model, base = _rows(300, 0.7, 0.65)
    assert stats.paired_bootstrap(model, base, "macro_f1") == stats.paired_bootstrap(model, base, "macro_f1")


def test_block_resampling_keeps_blocks_together():
    # Block a: 3 rows, all right; block b: 2 rows, all wrong. Whole blocks resampled, accuracy is 3k/(3k + 2(2-k)).
    gold = np.zeros(5, dtype=int)
    pred = np.array([0, 0, 0, 1, 1])
    keys, units = stats.unit_sums(stats.classification_stats(gold, pred, 2), ["a", "a", "a", "b", "b"])
    assert keys == ["a", "b"] and units[:, 0].tolist() == [3, 0]
    weights = stats.resample_counts(2, 200, np.random.default_rng(0))
    assert (weights.sum(axis=1) == 2).all()
    seen = {round(float(v), 6) for v in stats.accuracy(weights @ units)}
    assert seen <= {0.0, 0.6, 1.0} and len(seen) == 3  # never a mix of rows from within a block


def test_mean_gain_over_seeds_averages_each_seeds_gain():
    pairs = [_rows(2000, 0.80, 0.75, seed=1), _rows(2000, 0.86, 0.75, seed=2), _rows(2000, 0.83, 0.75, seed=3)]
    per_seed = [stats.score(m, "accuracy") - stats.score(b, "accuracy") for m, b in pairs]
    out = stats.mean_gain_interval(pairs, "accuracy")
    assert out["gain"] == pytest.approx(np.mean(per_seed)) and out["seeds"] == 3
    assert out["low"] < 0.08 < out["high"]
    # Averaging three test sets narrows the interval against one seed's.
    one = stats.paired_bootstrap(*pairs[0], "accuracy")
    assert out["high"] - out["low"] < one["high"] - one["low"]


def test_a_shared_test_set_is_resampled_with_the_same_draws_for_every_seed():
    model, base = _rows(300, 0.8, 0.7)
    shared = stats.mean_gain_interval([(model, base), (model, base)], "accuracy", shared=True)
    single = stats.paired_bootstrap(model, base, "accuracy")
    # The same draws for both seeds: the mean of two identical gains is that gain, replicate by replicate.
    assert (shared["low"], shared["high"]) == pytest.approx((single["low"], single["high"]))
    with pytest.raises(ValueError, match="same units"):
        stats.mean_gain_interval([(model, base), (model[:10], base[:10])], "accuracy", shared=True)


def test_mean_sd():
    assert stats.mean_sd([0.8, 0.9, 1.0]) == {"mean": pytest.approx(0.9), "sd": pytest.approx(0.1), "n": 3}
    assert stats.mean_sd([0.8])["sd"] is None
