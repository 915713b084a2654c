"""N2Path stage functions on tiny in-memory treebanks: ingest, morphemes, encode, relation schema, validation."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tasks.n2path.class_design import relation_names, relation_schema
from tasks.n2path.encode import build_parse_vocabs, encode_parse
from tasks.n2path.ingest import ingest_parse, sentences_table
from tasks.n2path.tokenize import tokenize_parse, treebank_morphemes
from tasks.n2path.validate import has_cycle
from tests.conftest import n2path_section

# Sentences written for these tests (UD Korean GSD conventions).
GOOD = """# sent_id = t1
# text = 그녀는 책을 읽었다.
1	그녀는	그녀+는	PRON	NP+JX	_	3	nsubj	_	_
2	책을	책+을	NOUN	NNG+JKO	_	3	obj	_	_
3	읽었다	읽+었+다	VERB	VV+EP+EF	_	0	root	_	SpaceAfter=No
4	.	.	PUNCT	SF	_	3	punct	_	_

# sent_id = t2
# text = 동생이 학교에 갔다.
1	동생이	동생+이	NOUN	NNG+JKS	_	3	nsubj	_	_
2	학교에	학교+에	NOUN	NNG+JKB	_	3	obl	_	_
3	갔다	가+았+다	VERB	VV+EP+EF	_	0	root	_	SpaceAfter=No
4	.	.	PUNCT	SF	_	3	punct	_	_

"""
CYCLE = """# sent_id = t3
# text = 고양이가 잔다
1	고양이가	고양이+가	NOUN	NNG+JKS	_	2	nsubj	_	_
2	잔다	자+ㄴ다	VERB	VV+EF	_	1	root	_	_

"""
DUPLICATE = """# sent_id = t1
# text = 비가 온다
1	비가	비+가	NOUN	NNG+JKS	_	2	nsubj	_	_
2	온다	오+ㄴ다	VERB	VV+EF	_	0	root	_	_

"""
KLUE = """## 칼럼명 : INDEX WORD_FORM LEMMA POS HEAD DEPREL
## klue-dp-t1\t아이가 공을 찼다.
1\t아이가\t아이 가\tNNG+JKS\t3\tNP_SBJ
2\t공을\t공 을\tNNG+JKO\t3\tNP_OBJ
3\t찼다.\t차 았 다 .\tVV+EP+EF+SF\t0\tVP

"""


def data_cfg(path, **extra) -> dict:
    return {
        "path": str(path),
        "format": "conllu",
        "encoding": "utf-8",
        "split_as": None,
        "extra_sources": [],
        "split": {"dev": 0.0, "test": 0.0, "seed": 13},
        **extra,
    }


def test_ingest_quarantines_with_reasons_and_counts_add_up(tmp_path):
    main = tmp_path / "main.conllu"
    main.write_text(GOOD + CYCLE, encoding="utf-8")
    extra = tmp_path / "extra.conllu"
    extra.write_text(DUPLICATE, encoding="utf-8")
    klue = tmp_path / "klue.tsv"
    klue.write_text(KLUE, encoding="utf-8")
    table, quarantine, report = ingest_parse(
        data_cfg(
            main,
            extra_sources=[
                {"path": str(extra), "format": "conllu", "split_as": "dev"},
                {"path": str(klue), "format": "klue_dp", "split_as": "test"},
            ],
        )
    )
    assert report["rows_in"] == report["rows_kept"] + report["rows_quarantined"] == 5
    assert report["rows_kept"] == 3 and quarantine.num_rows == 2
    assert report["quarantine_reasons"] == {"not one tree": 1, "duplicate id 't1'": 1}
    assert "cycle" in quarantine.column("reason")[0].as_py()
    assert table.column("id").to_pylist() == ["t1", "t2", "klue-dp-t1"]
    assert table.column("split").to_pylist() == ["train", "train", "test"]
    assert report["splits"] == {"train": 2, "dev": 0, "test": 1}
    assert table.schema.field("heads").type == pa.list_(pa.int32())
    assert table.column("heads")[0].as_py() == [3, 3, 0, 3]
    assert table.column("lemmas")[2].as_py() == ["아이+가", "공+을", "차+았+다+."]
    assert set(table.column_names) >= {
        "id",
        "text",
        "words",
        "lemmas",
        "xpos",
        "heads",
        "deprels",
        "split",
        "source_file",
        "source_row",
    }


def test_ingest_hash_splits_and_needs_training_data(tmp_path):
    main = tmp_path / "main.conllu"
    main.write_text(GOOD, encoding="utf-8")
    table, _, _ = ingest_parse(data_cfg(main, split={"dev": 0.3, "test": 0.3, "seed": 1}))
    again, _, _ = ingest_parse(data_cfg(main, split={"dev": 0.3, "test": 0.3, "seed": 1}))
    assert table.column("split").to_pylist() == again.column("split").to_pylist()  # deterministic
    with pytest.raises(ValueError, match="no training sentences"):
        ingest_parse(data_cfg(main, split_as="test"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        ingest_parse(data_cfg(tmp_path / "missing.conllu"))


def _table(rows: list[dict]) -> pa.Table:
    return sentences_table(rows)


TWO = [
    {
        "id": "a",
        "words": ["그녀는", "책을", "읽었다"],
        "lemmas": ["그녀+는", "책+을", "읽+었+다"],
        "xpos": ["NP+JX", "NNG+JKO", "VV+EP+EF"],
        "heads": [3, 3, 0],
        "deprels": ["nsubj", "obj", "root"],
        "split": "train",
    },
    {
        "id": "b",
        "words": ["동생이", "학교에", "갔다"],
        "lemmas": ["동생+이", "학교+에", "가+았+다"],
        "xpos": ["NNG+JKS", "NNG+JKB", "VV+EP+EF"],
        "heads": [3, 3, 0],
        "deprels": ["nsubj", "obl", "root"],
        "split": "dev",
    },
]


def test_tokenize_treebank_splits_lemma_and_xpos():
    out, report = tokenize_parse(_table(TWO), {"morphemes": "treebank", "tagger": "mecab"})
    assert out.column("morphs")[0].as_py() == [["그녀", "는"], ["책", "을"], ["읽", "었", "다"]]
    assert out.column("tags")[1].as_py() == [["NNG", "JKS"], ["NNG", "JKB"], ["VV", "EP", "EF"]]
    assert report["morphemes"] == "treebank" and report["words"] == 6 and report["morphemes_total"] == 14
    assert treebank_morphemes("+", "+", "SW") == (["+"], ["SW"])  # the plus sign itself
    assert treebank_morphemes("어디", "_", "_") == (["어디"], [])
    with pytest.raises(ValueError, match="choose one of treebank, tagger"):
        tokenize_parse(_table(TWO), {"morphemes": "gold"})


def test_tokenize_tagger_runs_mecab_per_word():
    out, report = tokenize_parse(_table(TWO), {"morphemes": "tagger", "tagger": "mecab"})
    morphs, tags = out.column("morphs")[0].as_py(), out.column("tags")[0].as_py()
    assert len(morphs) == len(tags) == 3  # one analysis per word, never across words
    assert morphs[0] == ["그녀", "는"] and tags[0] == ["NP", "JX"]
    assert all(t and "+" not in t for word in out.column("tags").to_pylist() for w in word for t in w)
    assert report["tagger"] == "mecab" and report["distinct_words_tagged"] == 6
    assert 0 <= report["tagger_xpos_agreement"] <= 1


def test_encode_builds_vocabularies_from_train_only(tmp_path):
    tokens, _ = tokenize_parse(_table(TWO), {"morphemes": "treebank"})
    encode_cfg = n2path_section(tmp_path, "n2path.encode.min_freq=1")["encode"]
    vocabs = build_parse_vocabs(tokens, encode_cfg, relation_names(tokens, None))
    assert vocabs["relations"] == ["nsubj", "obj", "root"]  # train's relations only
    assert "동생이" not in vocabs["words"]["itos"] and "그녀는" in vocabs["words"]["itos"]
    assert "동" not in vocabs["chars"]["itos"] and "JKS" not in vocabs["tags"]["itos"]
    encoded, report = encode_parse(tokens, vocabs)
    parts, parts_report = encode_parse(tokens, vocabs, {"workers": 2, "chunk_size": 1, "runner": {"kind": "thread"}})
    assert parts.equals(encoded) and parts_report == {**report, "partitions": 2}
    dev = encoded.slice(1, 1)
    assert dev.column("word_ids")[0].as_py()[:2] == [1, 1]  # unseen words: <unk>
    assert dev.column("rel_ids")[0].as_py()[1] == -1  # obl: outside the schema
    assert report["arcs_outside_schema"] == 1
    assert encoded.schema.field("morph_ids").type == pa.list_(pa.list_(pa.int32()))
    assert [len(x) for x in encoded.column("char_ids")[0].as_py()] == [3, 2, 3]
    assert relation_names(tokens, ["root", {"value": "obl"}]) == ["root", "obl"]


def test_nested_ids_pad_to_batch_words_items():
    from tasks.n2path.train import NestedIds

    column = pa.array([[[5, 6], [7]], [[8, 9, 10]], []], pa.list_(pa.list_(pa.int32())))
    ids = NestedIds(column.slice(0, 3), max_items=2)
    batch = ids.batch(np.array([1, 0, 2])).numpy()
    assert batch.shape == (3, 2, 2)
    assert batch.tolist() == [[[8, 9], [0, 0]], [[5, 6], [7, 0]], [[0, 0], [0, 0]]]
    assert NestedIds(column.slice(1, 2), 4).batch(np.array([0])).numpy().tolist() == [[[8, 9, 10]]]


def test_relation_schema_counts_per_split_and_warns():
    table = _table(TWO)
    schema = relation_schema(table, None, min_count=2)
    counts = {r["value"]: r["counts"] for r in schema["relations"]}
    assert counts["nsubj"] == {"train": 1, "dev": 1, "test": 0}
    assert schema["unknown_relations"] == ["obl"] and schema["derived_from_train"]
    assert any("obl" in w for w in schema["warnings"])
    configured = relation_schema(table, [{"value": "root", "description": "the main predicate"}, "nsubj", "obj", "obl"])
    assert configured["unknown_relations"] == [] and not configured["derived_from_train"]
    assert [(r["value"], r["description"], r["counts"]["train"]) for r in configured["relations"]][0] == (
        "root",
        "the main predicate",
        1,
    )


def test_has_cycle():
    assert has_cycle([2, 1]) and has_cycle([0, 3, 2]) and not has_cycle([0, 1, 2]) and not has_cycle([5, 0])


def test_validation_names_the_broken_sentences():
    from tasks.validation import ValidationFailed
    from tasks.n2path.validate import check_n2path, validate_n2path

    base = TWO[0]
    rows = [
        base,
        {**base, "id": "cycle", "heads": [2, 1, 0]},  # 1 <-> 2 never reach the root
        {**base, "id": "two-roots", "heads": [0, 3, 0]},
        {**base, "id": "odd-relation", "deprels": ["nsubj", "objj", "root"]},
        {**base, "id": "out-of-range", "heads": [3, 7, 0]},
    ]
    report = validate_n2path(_table(rows), ["nsubj", "obj", "root"], {"min_words": 1, "max_words": 50})
    assert not report["success"]
    failed = {e["column"]: e for e in report["expectations"] if not e["success"]}
    assert set(failed) == {"no_cycles", "one_root", "relations_in_schema", "heads_in_range"}
    assert failed["no_cycles"]["example_ids"] == ["cycle"]
    assert failed["one_root"]["example_ids"] == ["two-roots"]
    assert failed["relations_in_schema"]["example_ids"] == ["odd-relation"]
    assert failed["heads_in_range"]["example_ids"] == ["out-of-range"]
    problems = {r["id"]: " ".join(r["problems"]) for r in report["row_problems"]}
    assert "cycle" in problems["cycle"] and "objj" in problems["odd-relation"]
    with pytest.raises(ValidationFailed) as err:
        check_n2path(report, source="tiny.conllu")
    message = str(err.value)
    assert "tiny.conllu" in message and "odd-relation" in message and "two-roots" in message
    assert "n2path.class_design.schema" in message

    clean = validate_n2path(
        _table([base, {**base, "id": "c"}]), ["nsubj", "obj", "root"], {"min_words": 1, "max_words": 50}
    )
    assert clean["success"] and clean["row_problems"] == []
    check_n2path(clean, source="tiny.conllu")


def test_evaluate_and_predict_with_a_treebank_morpheme_model(tmp_path):
    """A model trained on treebank morphemes: scored as trained and with the tagger's morphemes; predict parses."""
    import torch

    from tasks.n2path.evaluate import evaluate_encoded, predict_texts
    from tasks.model_dir import build_model, save_model_dir
    from tasks.n2path.train import model_config

    torch.manual_seed(0)
    rows = [{**TWO[0], "split": "train"}, {**TWO[1], "split": "test", "deprels": ["nsubj", "obj", "root"]}]
    section = n2path_section(
        tmp_path, "n2path.tokenize.morphemes=treebank", "n2path.encode.min_freq=1", "n2path.train.device=cpu"
    )
    tokens, _ = tokenize_parse(_table(rows), section["tokenize"])
    vocabs = build_parse_vocabs(tokens, section["encode"], relation_names(tokens, None))
    encoded, _ = encode_parse(tokens, vocabs)
    config = model_config(
        vocabs,
        {
            "word_emb_dim": 8,
            "morph_emb_dim": 8,
            "tag_emb_dim": 4,
            "char_emb_dim": 4,
            "char_cnn_dim": 8,
            "hidden_dim": 8,
            "num_layers": 1,
            "arc_mlp": 8,
            "rel_mlp": 4,
        },
    )
    save_model_dir(
        tmp_path / "model",
        build_model(config),
        config,
        {"vocab.json": vocabs, "tokenizer.json": {"morphemes": "treebank", "tagger": "mecab"}, "params.json": section},
    )
    metrics, parsed = evaluate_encoded(encoded.slice(1, 1), tmp_path / "model", section["evaluate"])
    assert metrics["rows"] == 1 and metrics["tokens"] == 3 and metrics["punctuation"] == "included"
    assert metrics["morphemes"] == "treebank" and 0 <= metrics["with_tagger_morphemes"]["las"] <= 1
    assert metrics["right_neighbour_baseline"]["uas"] == 2 / 3
    assert parsed[0]["id"] == "b" and parsed[0]["heads"].count(0) == 1

    out = predict_texts(tmp_path / "model", ["그녀는 책을 읽었다", "   "])
    assert out[0]["words"] == ["그녀는", "책을", "읽었다"] and out[0]["heads"].count(0) == 1
    assert "\t그녀+는\t_\tNP+JX\t" in out[0]["conllu"]  # LEMMA/XPOS from the tagger
    assert out[1] == {
        "text": "   ",
        "conllu": None,
        "words": None,
        "heads": None,
        "deprels": None,
        "error": "empty text",
    }
