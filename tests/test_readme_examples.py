"""The README's `hanflow evaluate --problem n2n` example runs as written, on a file the checkout has."""

from __future__ import annotations

import json
import shlex

from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import ROOT

KLP_SAMPLE = ROOT / "data" / "sample" / "n2n_klp_dev.txt"


def test_klp_sample_reads_without_quarantine():
    from tasks.n2n.formats import last_read_notes, read_ner

    records, quarantined = read_ner(KLP_SAMPLE, "klp")
    assert (len(records), quarantined) == (8, [])
    assert sum(len(r["entities"]) for r in records) == 21
    assert not last_read_notes  # the morpheme lines agree with the marked sentences
    assert {e["type"] for r in records for e in r["entities"]} == {"PS", "LC", "OG", "DT", "TI"}


def test_readme_n2n_evaluate_example_runs(trained_n2n, tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (line,) = [ln for ln in readme.splitlines() if ln.startswith("hanflow evaluate --problem n2n")]
    args = shlex.split(line.split("#")[0])[1:]
    data = ROOT / args[args.index("--data") + 1]
    assert data.is_file(), f"the README's example reads {data}, which the checkout does not have"
    # The README's model is data/n2n/model after `make run`; here the session's trained sample model.
    args[args.index("--model") + 1] = trained_n2n["model_dir"]
    args[args.index("--data") + 1] = str(data)
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert metrics["rows"] == 8 and metrics["rows_quarantined"] == 0 and metrics["entities_gold"] == 21
    assert 0 <= metrics["f1"] <= 1
