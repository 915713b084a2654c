"""N2N pure functions on tiny in-memory data: ingest, syllable features, tags, spans, metrics, validation."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from tasks.n2n.encode import build_vocabs, encode_ner
from tasks.n2n.gazetteer import gazetteer_baseline
from tasks.n2n.ingest import ENTITY, ingest_ner
from tasks.n2n.metrics import entity_metrics, spans_from_tags
from tasks.n2n.tokenize import align_morphemes, bio_tags, syllable_features
from tasks.n2n.validate import bio_problem, validate_n2n
from tasks.params import load_params
from tests.conftest import ROOT

N2N = load_params(ROOT / "params.yaml")["n2n"]  # the defaults every stage is given


def test_align_morphemes_follows_the_text_and_skips_normalized_surfaces():
    text = "김민준은 서울에 갔다"
    assert align_morphemes(text, ["김민준", "은", "서울", "에", "갔", "다"]) == [
        (0, 3),
        (3, 4),
        (5, 7),
        (7, 8),
        (9, 10),
        (10, 11),
    ]
    # A tagger that rewrites a surface (갔 -> 가 + 았) leaves it unaligned, never misplaced.
    spans = align_morphemes(text, ["김민준", "은", "서울", "에", "가", "았", "다"])
    assert spans[:4] == [(0, 3), (3, 4), (5, 7), (7, 8)] and spans[5] is None and spans[6] == (10, 11)


def test_syllable_features_mark_word_and_morpheme_starts():
    morph, pos, boundary, missed = syllable_features(
        "김민준은 갔다", ["김민준", "은", "갔", "다"], ["NNP", "JX", "VV+EP", "EF"]
    )
    assert morph == ["김민준"] * 3 + ["은", "", "갔", "다"]
    assert pos[3] == "JX" and pos[4] == ""
    assert boundary == [1, 3, 3, 2, 3, 1, 2] and missed == 0


def test_bio_tags_and_spans_round_trip():
    text = "이서연은 오후 3시에 왔다"
    entities = [{"start": 0, "end": 3, "type": "PS"}, {"start": 5, "end": 10, "type": "TI"}]
    tags = bio_tags(len(text), entities)
    assert tags[:4] == ["B-PS", "I-PS", "I-PS", "O"] and tags[7] == "I-TI"
    assert spans_from_tags(tags, text) == [(0, 3, "PS"), (5, 10, "TI")]
    # An I- with no B- still starts an entity; surrounding spaces are trimmed off a span.
    assert spans_from_tags(["I-LC", "I-LC", "O"]) == [(0, 2, "LC")]
    assert spans_from_tags(["B-LC", "I-LC", "I-LC"], "부산 ") == [(0, 2, "LC")]


def test_entity_metrics_exact_span_and_type():
    gold = [[(0, 3, "PS"), (5, 7, "LC")], [(0, 2, "DT")]]
    pred = [[(0, 3, "PS"), (5, 7, "OG")], [(0, 2, "DT"), (3, 5, "PS")]]
    m = entity_metrics(gold, pred, ["PS", "LC", "OG", "DT"])
    assert (m["precision"], m["recall"]) == (2 / 4, 2 / 3)
    assert m["per_type"]["LC"]["recall"] == 0 and m["per_type"]["PS"]["precision"] == 0.5
    assert m["per_type"]["DT"]["f1"] == 1.0


def test_gazetteer_baseline_tags_known_strings_longest_first():
    train = pa.table(
        {
            "text": ["한빛전자 서울지사"],
            "entities": pa.array(
                [[{"start": 0, "end": 4, "type": "OG"}, {"start": 5, "end": 7, "type": "LC"}]], pa.list_(ENTITY)
            ),
        }
    )
    assert gazetteer_baseline(train, ["서울의 한빛전자"]) == [[(0, 2, "LC"), (4, 8, "OG")]]


def _jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_ingest_maps_types_assigns_splits_and_quarantines(tmp_path):
    main = _jsonl(
        tmp_path / "a.jsonl",
        [
            {
                "id": "a1",
                "text": "김민준은 부산에 산다",
                "entities": [{"start": 0, "end": 3, "type": "PER"}, {"start": 5, "end": 7, "type": "LOC"}],
            },
            {"id": "a2", "text": "세 명이 왔다", "entities": [{"start": 0, "end": 3, "type": "NOH"}]},
            {"id": "a3", "text": "   ", "entities": []},
        ],
    )
    extra = _jsonl(tmp_path / "b.jsonl", [{"id": "b1", "text": "이서연은 서울에 산다", "entities": []}])
    cfg = {
        **N2N["data"],
        "path": str(main),
        "format": "jsonl",
        "split_as": "train",
        "extra_sources": [{"path": str(extra), "format": "jsonl", "split_as": "test", "domain": "news"}],
        "type_map": {"PER": "PS", "LOC": "LC"},
        "keep_unmapped_types": False,
        "split": {"dev": 0.1, "test": 0.1, "seed": 1},
    }
    table, quarantine, report = ingest_ner(cfg)
    assert report["rows_in"] == report["rows_kept"] + report["rows_quarantined"] == 4
    assert quarantine.column("reason").to_pylist() == ["empty text"]
    assert table.column("split").to_pylist() == ["train", "train", "test"]
    assert table.column("domain").to_pylist() == ["jsonl", "jsonl", "news"]
    assert [e["type"] for e in table.column("entities")[0].as_py()] == ["PS", "LC"]
    assert report["type_map"]["dropped_by_type"] == {"NOH": 1}


def _tokens_table(types=("PS",)):
    from tasks.n2n.tokenize import tokenize_ner

    table = pa.table(
        {
            "id": ["1", "2", "3"],
            "text": ["김민준은 왔다", "이서연이 갔다", "부산"],
            "entities": pa.array(
                [[{"start": 0, "end": 3, "type": "PS"}], [{"start": 0, "end": 3, "type": types[-1]}], []],
                pa.list_(ENTITY),
            ),
            "split": ["train", "train", "dev"],
        }
    )
    return tokenize_ner(table, {"tagger": "mecab"})[0]


def test_encode_uses_train_vocabulary_and_schema_tags():
    tokens = _tokens_table()
    vocabs = build_vocabs(tokens, {**N2N["encode"], "min_freq": 1}, ["PS", "LC"])
    assert vocabs["tags"] == ["O", "B-PS", "I-PS", "B-LC", "I-LC"]
    encoded, report = encode_ner(tokens, vocabs)
    assert encoded.column("tag_ids")[0].as_py()[:4] == [1, 2, 2, 0]
    # Partitions on a spawned process pool (encode.workers/chunk_size/runner) give the same table and report.
    parts, parts_report = encode_ner(tokens, vocabs, {"workers": 2, "chunk_size": 1, "runner": {"kind": "process"}})
    assert parts.equals(encoded) and parts_report == {**report, "partitions": 3} and report["partitions"] == 1
    assert all(
        len(c) == len(t) for c, t in zip(encoded.column("char_ids").to_pylist(), encoded.column("text").to_pylist())
    )
    assert encoded.column("char_ids")[2].as_py() == [1, 1]  # 부산 never seen in train -> <unk>
    assert report["rows_in"] == report["rows_kept"] == 3


def test_validation_names_rows_with_unknown_types_and_bad_tags():
    tokens = _tokens_table(types=("PS", "XX"))
    encoded, _ = encode_ner(tokens, build_vocabs(tokens, {**N2N["encode"], "min_freq": 1}, ["PS"]))
    report = validate_n2n(encoded, ["PS"], {"min_chars": 1, "max_chars": 100})
    failed = {e["column"]: e for e in report["expectations"] if not e["success"]}
    assert not report["success"] and set(failed) == {"types_in_schema"}
    assert failed["types_in_schema"]["example_ids"] == ["2"]
    assert bio_problem(["O", "I-PS"]).startswith("I- without B- at syllable 1")
    assert bio_problem(["B-PS", "I-PS", "O", "B-LC"]) == ""


def test_validation_requires_its_settings():
    with pytest.raises(KeyError, match="n2n.validate.max_chars"):
        validate_n2n(_tokens_table(), ["PS"], {"min_chars": 1})
