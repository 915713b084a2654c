import pytest

from tasks.classification_metrics import classification_metrics, confusion_rows, majority_baseline, plot_confusion_png

NAMES = ["neg", "pos", "neu"]
# actual:    neg neg neg pos pos neu
# predicted: neg neg pos pos neg neu
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 0, 2]


def test_metrics_match_hand_computation():
    m = classification_metrics(Y_TRUE, Y_PRED, NAMES)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # neg: P=2/3 R=2/3 F=2/3; pos: P=1/2 R=1/2 F=1/2; neu: P=R=F=1
    assert m["per_class"]["neg"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert m["per_class"]["pos"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert m["per_class"]["neu"]["f1"] == 1.0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["weighted_f1"] == pytest.approx((3 * 2 / 3 + 2 * 0.5 + 1 * 1) / 6)
    assert m["confusion_matrix"] == [[2, 1, 0], [1, 1, 0], [0, 0, 1]]
    assert m["labels"] == NAMES and m["n"] == 6


def test_absent_class_still_reported():
    m = classification_metrics([0, 1], [0, 1], NAMES)
    assert m["per_class"]["neu"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert len(m["confusion_matrix"]) == 3


def test_majority_baseline():
    b = majority_baseline([1, 1, 0, 2, 1], [1, 0, 1, 1])
    assert b["label_id"] == 1 and b["accuracy"] == 0.75
    assert majority_baseline([0, 1], [1])["label_id"] == 0  # ties: smallest id
    with pytest.raises(ValueError):
        majority_baseline([], [1])


def test_confusion_rows():
    rows = confusion_rows(Y_TRUE, Y_PRED, NAMES)
    assert len(rows) == 6 and rows[2] == {"actual": "neg", "predicted": "pos"}


def test_plot_confusion_png(tmp_path):
    cm = classification_metrics(Y_TRUE, Y_PRED, NAMES)["confusion_matrix"]
    path = plot_confusion_png(cm, NAMES, tmp_path / "plots" / "confusion.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["confusion.png"]
