"""The embedded N2N (named-entity) sample: well-formed rows and spans that a tagger can train on."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.conftest import ROOT

N2N_SAMPLE = ROOT / "data" / "sample" / "n2n_entities.jsonl"
TYPES = {"PS", "LC", "OG", "DT", "TI"}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    raw = N2N_SAMPLE.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "no BOM"
    assert b"\r" not in raw, "LF line endings only"
    text = raw.decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_rows_ids_and_texts(rows):
    assert len(rows) >= 300
    ids = [r["id"] for r in rows]
    texts = [r["text"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert len(set(texts)) == len(texts)
    for r in rows:
        assert set(r) == {"id", "text", "entities"}, r["id"]
        assert isinstance(r["text"], str) and r["text"].strip() == r["text"] and r["text"]
        assert isinstance(r["entities"], list)


def test_spans_valid_sorted_non_overlapping(rows):
    for r in rows:
        text, prev_end = r["text"], 0
        for e in r["entities"]:
            assert set(e) == {"start", "end", "type"}, r["id"]
            start, end = e["start"], e["end"]
            assert isinstance(start, int) and isinstance(end, int), r["id"]
            assert prev_end <= start < end <= len(text), (r["id"], e)
            surface = text[start:end]
            assert surface.strip() == surface, (r["id"], surface)
            assert e["type"] in TYPES, (r["id"], e)
            prev_end = end


def test_type_coverage_and_empty_rows(rows):
    per_type = Counter(t for r in rows for t in {e["type"] for e in r["entities"]})
    for t in TYPES:
        assert per_type[t] >= 50, (t, per_type)
    empty = sum(not r["entities"] for r in rows)
    assert 0 < empty < len(rows) // 4


def test_spans_exclude_particles(rows):
    surfaces = [r["text"][e["start"] : e["end"]] for r in rows for e in r["entities"]]
    for s in surfaces:
        assert not s.endswith(("씨는", "씨가", "에서", "께서")), s
    names = {r["text"][e["start"] : e["end"]] for r in rows for e in r["entities"] if e["type"] == "PS"}
    for name in names:
        # a known name with a particle glued on would show up as name + particle
        assert not (name[-1] in "은는이가을를의" and name[:-1] in names), name
