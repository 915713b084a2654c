"""N2Path's `hanflow predict`: words split as UD Korean writes them, trees printed as CoNLL-U."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import N2PATH_SAMPLE
from tasks.n2path.formats import read_conllu, tree_problems
from tasks.n2path.ud_tokens import ud_words

runner = CliRunner()
SENTENCE = "할머니는 어제 시장에서 사과를 샀다."


# ---------------------------------------------------------------- N2Path: words as UD Korean writes them


def test_ud_words_split_punctuation_off_as_ud_korean_does():
    assert ud_words(SENTENCE) == ["할머니는", "어제", "시장에서", "사과를", "샀다", "."]
    cases = {
        '단장은 "반갑다"라는 인사를': ["단장은", '"', "반갑다", '"', "라는", "인사를"],
        "현대차가 40.3%로 기아차(36.8%)를": ["현대차가", "40.3", "%", "로", "기아차", "(", "36.8", "%", ")", "를"],
        "알 것 같네요... 정말?!": ["알", "것", "같네요", "...", "정말", "?", "!"],
        "끌었고, 1966년에 '로열'의": ["끌었고", ",", "1966년에", "'", "로열", "'", "의"],
        "베이징-상하이 3,000원~5,000원 13:00": ["베이징-상하이", "3,000원~5,000원", "13:00"],
        "홈페이지(http://www.modetour.com)의": ["홈페이지", "(", "http://www.modetour.com", ")", "의"],
    }
    for text, words in cases.items():
        assert ud_words(text) == words, text


def test_ud_words_give_the_sample_treebanks_own_words():
    sentences, _ = read_conllu(N2PATH_SAMPLE)
    assert len(sentences) == 160
    assert [s["words"] for s in sentences if ud_words(s["text"]) != s["words"]] == []


def test_n2path_predict_prints_conllu(trained_n2path, tmp_path):
    result = runner.invoke(app, ["predict", "--model", trained_n2path["model_dir"], SENTENCE, "비가 온다"])
    assert result.exit_code == 0, result.output
    blocks = result.stdout.strip("\n").split("\n\n")
    assert len(blocks) == 2
    lines = blocks[0].splitlines()
    assert lines[:2] == ["# sent_id = 1", f"# text = {SENTENCE}"]
    rows = [line.split("\t") for line in lines[2:]]
    assert len(rows) == 6 and all(len(r) == 10 for r in rows)
    assert [r[1] for r in rows] == ["할머니는", "어제", "시장에서", "사과를", "샀다", "."]
    heads = [int(r[6]) for r in rows]
    assert all(0 <= h <= 6 for h in heads) and heads.count(0) == 1 and tree_problems(heads) == []
    assert rows[4][9] == "SpaceAfter=No" and rows[3][9] == "_"
    out = tmp_path / "out.conllu"
    out.write_text(result.stdout, encoding="utf-8")
    sentences, quarantined = read_conllu(out)
    assert quarantined == [] and [s["text"] for s in sentences] == [SENTENCE, "비가 온다"]

    as_json = runner.invoke(app, ["predict", "--model", trained_n2path["model_dir"], "--output", "json", SENTENCE])
    assert json.loads(as_json.stdout)["words"][-2:] == ["샀다", "."]
    refused = runner.invoke(app, ["predict", "--model", trained_n2path["model_dir"], "--problem", "n2n", SENTENCE])
    assert refused.exit_code == 2 and "is an n2path model" in refused.output
