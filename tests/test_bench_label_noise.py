"""The flipped-label benchmark (bench/label_noise.py) and `hanflow bench --problem labels`, on the sample."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.label_noise import DATA, flip, scores

ROOT = Path(__file__).resolve().parents[1]


def test_flip_changes_exactly_the_share_and_always_to_another_class():
    labels = np.array([0, 1, 2] * 100)
    noisy, flipped = flip(labels, 0.1, 0)
    assert (
        flipped.sum() == 30
        and (noisy[flipped] != labels[flipped]).all()
        and (noisy[~flipped] == labels[~flipped]).all()
    )
    assert (flip(labels, 0.1, 0)[0] == noisy).all()  # a fixed seed: the same flips


def test_precision_at_k_counts_flipped_rows_among_the_lowest_ranked():
    labels = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    flipped = np.array([1, 0, 0, 0, 0, 0, 0, 1], bool)
    probs = np.full((8, 2), 0.05)
    probs[np.arange(8), labels] = 0.95  # confident in every given label ...
    probs[flipped] = probs[flipped][:, ::-1]  # ... but the flipped two
    found = scores(labels, probs, flipped, "self_confidence")
    assert found["precision_at_k"] == 1.0 and found["recall"] == 1.0


def test_bench_labels_runs_on_an_nsmc_shaped_file(tmp_path):
    rows = list(csv.DictReader((ROOT / "data/sample/n21_reviews.tsv").open(encoding="utf-8"), delimiter="\t"))
    (tmp_path / DATA).parent.mkdir(parents=True)
    with (tmp_path / DATA).open("w", encoding="utf-8") as out:
        out.write("id\tdocument\tlabel\n")
        for row in rows:
            out.write(f"{row['id']}\t{row['text']}\t{int(row['label'] == 'positive')}\n")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "hanflow"),
            "bench",
            "--problem",
            "labels",
            "--datasets",
            str(tmp_path),
            "--out-dir",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "out" / "label_noise.json").read_text(encoding="utf-8"))
    assert result["flipped"] == round(0.1 * len(rows))
    for method in ("hanflow", "baseline", "ceiling"):
        assert 0 <= result[method]["precision_at_k"] <= 1 and 0 <= result[method]["recall"] <= 1
    assert "precision@k" in (tmp_path / "out" / "label_noise.md").read_text(encoding="utf-8")
