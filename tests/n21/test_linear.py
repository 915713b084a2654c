"""N21's linear model (tasks/n21/linear.py) and its place next to the network."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from tasks.n21.linear import FILE, blend, dumps, fit_linear, linear_probabilities, loads

TEXTS = ["정말 좋아요", "최악이에요", "너무 좋다", "별로였어요", "좋은 영화", "재미없다", "그냥 그래요", "보통이에요"]
CFG = {"char_n": [1, 4], "token_n": [1, 2], "min_df": 1, "C": 2.0, "class_weight": "none"}


def tokens(texts):
    return [t.split() for t in texts]


@pytest.mark.parametrize("labels,num_classes", [([1, 0, 1, 0, 1, 0, 1, 0], 2), ([1, 0, 1, 0, 1, 0, 2, 2], 3)])
def test_probabilities_are_scikit_learns_own(labels, num_classes):
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    from tasks.n21.linear import _hashed, _weights

    model = fit_linear(TEXTS, tokens(TEXTS), np.array(labels), num_classes, CFG)
    rows, column, weight = _weights(model, *_hashed(TEXTS, tokens(TEXTS), [1, 4], [1, 2]), len(TEXTS))
    features = csr_matrix((weight, (rows, column)), shape=(len(TEXTS), len(model["ids"])))
    expected = LogisticRegression(C=2.0, max_iter=2000).fit(features, labels).predict_proba(features)
    np.testing.assert_allclose(linear_probabilities(model, TEXTS, tokens(TEXTS)), expected, atol=1e-5)


def test_a_class_train_never_saw_gets_no_probability_and_rare_ngrams_are_dropped():
    model = fit_linear(TEXTS, tokens(TEXTS), np.array([1, 0] * 4), 3, {**CFG, "min_df": 2})
    probs = linear_probabilities(model, ["좋아요", ""], [["좋아요"], []])
    assert probs.shape == (2, 3) and np.allclose(probs.sum(axis=1), 1) and np.all(probs[:, 2] == 0)
    everything = fit_linear(TEXTS, tokens(TEXTS), np.array([1, 0] * 4), 2, CFG)
    assert 0 < len(model["ids"]) < len(everything["ids"])  # min_df 2 keeps only n-grams of two rows or more


def test_stored_as_plain_arrays_and_a_pickle_is_refused():
    model = fit_linear(TEXTS, tokens(TEXTS), np.array([1, 0] * 4), 2, CFG)
    again = loads(dumps(model))
    np.testing.assert_array_equal(
        linear_probabilities(again, TEXTS, tokens(TEXTS)), linear_probabilities(model, TEXTS, tokens(TEXTS))
    )
    buffer = io.BytesIO()
    np.savez(buffer, ids=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        loads(buffer.getvalue())


def test_blend_weights_the_two_distributions():
    network, linear = np.array([[0.9, 0.1]]), np.array([[0.3, 0.7]])
    np.testing.assert_allclose(blend(network, linear, 0.5), [[0.6, 0.4]])
    assert blend(network, linear, 0.0) is network and blend(network, None, 0.5) is network


def test_the_share_is_the_best_on_dev_and_ties_keep_the_configured_one():
    from tasks.n21.linear import choose_weight

    gold = np.array([0, 1, 1])
    network = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])  # right on rows 0 and 2
    linear = np.array([[0.6, 0.4], [0.1, 0.9], [0.4, 0.6]])  # right on all three
    weight, scores = choose_weight(network, linear, gold, "accuracy", [0.0, 0.5, 1.0], prefer=0.5)
    assert scores == {"0": 2 / 3, "0.5": 1.0, "1": 1.0} and weight == 0.5
    weight, _ = choose_weight(network, linear, gold, "macro_f1", [0.0, 0.5, 1.0], prefer=0.9)
    assert weight == 1.0
    weight, _ = choose_weight(network, network, gold, "accuracy", [0.0, 0.5, 1.0], prefer=0.3)
    assert weight == 0.5  # a flat curve: the share nearest the configured one


def test_class_weight_balanced_lifts_a_rare_class():
    texts = [f"좋아요 {i}" for i in range(12)] + ["별로 에요", "별로 네요"]
    labels = np.array([1] * 12 + [0, 0])
    toks = tokens(texts)
    plain = fit_linear(texts, toks, labels, 2, {**CFG, "C": 0.05})
    balanced = fit_linear(texts, toks, labels, 2, {**CFG, "C": 0.05, "class_weight": "balanced"})
    rare = [texts[-1]]
    assert (
        linear_probabilities(balanced, rare, tokens(rare))[0, 0] > linear_probabilities(plain, rare, tokens(rare))[0, 0]
    )


def test_the_trained_model_dir_averages_network_and_linear(trained_n21):
    model_dir = Path(trained_n21["model_dir"])
    assert (model_dir / FILE).is_file()
    metrics = json.loads((Path(trained_n21["work_dir"]) / "eval" / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["parts"]) == {"network", "linear"}
    train_metrics = json.loads((model_dir / "train_metrics.json").read_text(encoding="utf-8"))
    blend = train_metrics["blend"]
    assert blend["chosen_on"] == "dev" and len(blend["dev_by_weight"]) == 11
    assert blend["dev_by_weight"][f"{blend['weight']:g}"] == max(blend["dev_by_weight"].values())
    assert float(loads((model_dir / FILE).read_bytes())["weight"]) == blend["weight"]
    for part in metrics["parts"].values():
        assert 0 <= part["accuracy"] <= 1 and 0 <= part["macro_f1"] <= 1


def test_weight_zero_trains_the_network_alone(trained_n21, tmp_path, monkeypatch):
    """The train stage leaves the linear model out at weight 0, and evaluation then is the network's."""
    import flows.n21 as n21
    from tasks.model_dir import load_model_dir

    section = json.loads(json.dumps(trained_n21, default=str))
    section.pop("reports", None)
    section["model_dir"] = str(tmp_path / "model")
    section["train"] = {**section["train"], "epochs": 1, "linear": {**section["train"]["linear"], "weight": 0.0}}
    n21.train(section)
    _, bundle = load_model_dir(tmp_path / "model")
    assert FILE not in bundle
