"""After `hanflow label import`, DVC sees exactly what changed: the problem's ingest stage (its corrections file),
nothing of the other problem types; `dvc repro` then rebuilds from ingest with the corrected labels."""

from __future__ import annotations

import hashlib
import json

from tests.conftest import ROOT
from tests.test_dvc_repro import _ran, _sh
from tests.test_label_studio_e2e import copy_repo


def test_an_import_changes_only_the_stages_that_read_the_corrected_data(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    stages = ("n21-ingest", "n21-tokenize", "n2n-ingest")
    assert _ran(_sh("dvc", "repro", *stages, cwd=repo)) == set(stages)
    assert "up to date" in _sh("dvc", "status", *stages, cwd=repo)
    raw = hashlib.sha256((repo / "data/sample/n21_reviews.tsv").read_bytes()).hexdigest()

    export = ROOT / "tests/fixtures/label_studio/n21_export.json"
    _sh("hanflow", "label", "import", str(export), "--name", "review-1", cwd=repo)
    status = _sh("dvc", "status", *stages, cwd=repo)
    assert "n21-ingest:" in status and "modified:           data/corrections/n21.jsonl" in status
    assert "n21-tokenize:" not in status and "n2n-ingest" not in status, status

    assert _ran(_sh("dvc", "repro", *stages, cwd=repo)) == {"n21-ingest", "n21-tokenize"}
    assert hashlib.sha256((repo / "data/sample/n21_reviews.tsv").read_bytes()).hexdigest() == raw
    applied = json.loads((repo / "data/n21/corrections_applied.json").read_text(encoding="utf-8"))
    assert applied["changed"] == 1 and applied["imports"]["review-1"]["changes"] == {"positive → negative": 1}
