"""Treebank readers, tree checks, attachment scores and the single-root MST decoder.

Fixture sentences are made up for these tests; none comes from a treebank.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest

from models.mst import chu_liu_edmonds, tree_score
from tasks.n2path.formats import read_conllu, read_klue_dp, tree_problems, write_conllu
from tasks.n2path.metrics import attachment_scores, right_neighbour_baseline, right_neighbour_heads

REAL = Path(__file__).resolve().parents[3] / "shared" / "datasets"
KEYS = ("id", "text", "words", "lemmas", "upos", "xpos", "heads", "deprels")


def row(*cols: object) -> str:
    return "\t".join(str(c) for c in cols)


def word(i: int, form: str, lemma: str, upos: str, xpos: str, head: int, rel: str, misc: str = "_") -> str:
    return row(i, form, lemma, upos, xpos, "_", head, rel, "_", misc)


GOOD = "\n".join(
    [
        "# sent_id = ok-1",
        "# text = 고양이가 우유를 마셨다.",
        word(1, "고양이가", "고양이+가", "NOUN", "NNG+JKS", 3, "nsubj"),
        word(2, "우유를", "우유+를", "NOUN", "NNG+JKO", 3, "obj"),
        word(3, "마셨다", "마시+었+다", "VERB", "VV+EP+EF", 0, "root", "SpaceAfter=No"),
        word(4, ".", ".", "PUNCT", "SF", 3, "punct"),
        "",
        "# sent_id = range-2",  # a multiword range line: skipped, its words are read
        row("1-2", "갈까", *["_"] * 8),
        word(1, "가", "가", "VERB", "VV", 0, "root"),
        word(2, "ㄹ까", "ㄹ까", "PART", "EF", 1, "flat"),
        "",
        word(1, "바람이", "바람+이", "NOUN", "NNG+JKS", 2, "nsubj"),  # no comments: id and text are derived
        word(2, "분다", "불+ㄴ다", "VERB", "VV+EF", 0, "root", "SpaceAfter=No"),
        word(3, "!", "!", "PUNCT", "SF", 2, "punct"),
        "",
    ]
)

BAD = {
    "empty node": [
        word(1, "눈이", "눈+이", "NOUN", "NNG+JKS", 2, "nsubj"),
        row("1.1", "_", *["_"] * 6, "2:dep", "_"),
        word(2, "온다", "오+ㄴ다", "VERB", "VV+EF", 0, "root"),
    ],
    "cycle": [
        word(1, "가", "가", "X", "NNG", 2, "dep"),
        word(2, "나", "나", "X", "NNG", 1, "dep"),
        word(3, "다", "다", "X", "VV", 0, "root"),
    ],
    "two roots": [word(1, "가", "가", "X", "NNG", 0, "root"), word(2, "나", "나", "X", "NNG", 0, "root")],
    "no root": [word(1, "가", "가", "X", "NNG", 2, "dep"), word(2, "나", "나", "X", "NNG", 1, "dep")],
    "columns": [word(1, "가", "가", "X", "NNG", 0, "root"), "2\t나\t나\tX\tNNG\t1\tdep"],
    "head int": [word(1, "가", "가", "X", "NNG", "x", "dep"), word(2, "나", "나", "X", "NNG", 0, "root")],
    "head range": [word(1, "가", "가", "X", "NNG", 7, "dep"), word(2, "나", "나", "X", "NNG", 0, "root")],
    "id order": [word(1, "가", "가", "X", "NNG", 3, "dep"), word(3, "나", "나", "X", "NNG", 0, "root")],
    "root label": [word(1, "가", "가", "X", "NNG", 2, "root"), word(2, "나", "나", "X", "NNG", 0, "dep")],
}
REASONS = {
    "empty node": "line 3: empty node '1.1'",
    "cycle": "words 1 -> 2 -> 1 form a cycle",
    "two roots": "2 words have head 0",
    "no root": "no word has head 0",
    "columns": "line 3: 7 tab-separated fields, expected 10",
    "head int": "line 2: HEAD 'x' is not an integer",
    "head range": "word 1 (line 2) has head 7, outside 0..2",
    "id order": "line 3: word ID 3 where 2",
    "root label": "line 2: HEAD 2 with DEPREL 'root'",
}

KLUE = "\n".join(
    [
        "## 토큰, 레이블 구분자 : \\t",
        "## 칼럼명 : INDEX\tWORD_FORM\tLEMMA\tPOS\tHEAD\tDEPREL",
        "## test-0001\t아이가 공을 찼다.",
        row(1, "아이가", "아이 가", "NNG+JKS", 3, "NP_SBJ"),
        row(2, "공을", "공 을", "NNG+JKO", 3, "NP_OBJ"),
        row(3, "찼다.", "차 았 다 .", "VV+EP+EF+SF", 0, "VP"),
        "",
        "## test-0002\t새가 난다.",
        row(1, "새가", "새 가", "NNG+JKS", 2, "NP_SBJ"),
        row(2, "난다.", "날 ㄴ다 .", "VV+EF+SF", 3, "VP"),
        "",
        "## test-0003\t꽃이 핀다.",
        row(1, "꽃이", "꽃 이", "NNG+JKS", 2),
        "",
    ]
)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_read_conllu_good_sentences(tmp_path):
    sents, quar = read_conllu(write(tmp_path / "g.conllu", GOOD))
    assert quar == []
    a, b, c = sents
    assert a == {
        "id": "ok-1",
        "text": "고양이가 우유를 마셨다.",
        "words": ["고양이가", "우유를", "마셨다", "."],
        "lemmas": ["고양이+가", "우유+를", "마시+었+다", "."],
        "upos": ["NOUN", "NOUN", "VERB", "PUNCT"],
        "xpos": ["NNG+JKS", "NNG+JKO", "VV+EP+EF", "SF"],
        "heads": [3, 3, 0, 3],
        "deprels": ["nsubj", "obj", "root", "punct"],
        "source_file": str(tmp_path / "g.conllu"),
        "source_row": 1,
    }
    assert b["words"] == ["가", "ㄹ까"] and b["heads"] == [0, 1] and b["source_row"] == 8
    assert c["id"] == "g:13" and c["text"] == "바람이 분다!"


@pytest.mark.parametrize("case", sorted(BAD))
def test_read_conllu_quarantines_with_reasons(tmp_path, case):
    text = "# sent_id = bad\n" + "\n".join(BAD[case]) + "\n\n" + GOOD
    sents, quar = read_conllu(write(tmp_path / "b.conllu", text))
    assert len(sents) == 3 and len(quar) == 1
    q = quar[0]
    assert q["source_row"] == 1 and q["source_file"] == str(tmp_path / "b.conllu")
    assert q["raw"].startswith("# sent_id = bad")
    assert q["reason"].startswith(f"sentence at {tmp_path / 'b.conllu'} line 1: ")
    assert REASONS[case] in q["reason"], q["reason"]


def test_crlf_bom_truncation_and_encodings(tmp_path):
    crlf = "\ufeff" + GOOD.replace("\n", "\r\n")
    sents, quar = read_conllu(write(tmp_path / "w.conllu", crlf))
    assert quar == [] and sents[0]["id"] == "ok-1" and sents[0]["deprels"][-1] == "punct"
    cut = GOOD + "\n" + word(1, "끝", "끝", "NOUN", "NNG", 2, "nsubj")
    _, quar = read_conllu(write(tmp_path / "t.conllu", cut))
    assert "no word has head 0" in quar[0]["reason"] and "truncated file?" in quar[0]["reason"]
    legacy = write(tmp_path / "cp.conllu", GOOD, "cp949")
    with pytest.raises(ValueError, match=r"cp\.conllu: byte offset \d+ \(line \d+\) is not valid utf-8"):
        read_conllu(legacy)
    assert len(read_conllu(legacy, encoding="cp949")[0]) == 3
    with pytest.raises(FileNotFoundError, match="nope"):
        read_conllu(tmp_path / "nope.conllu")


def test_read_klue_dp(tmp_path):
    path = write(tmp_path / "k.tsv", KLUE)
    sents, quar = read_klue_dp(path)
    assert len(sents) == 1 and len(quar) == 2
    s = sents[0]
    assert (s["id"], s["text"], s["source_row"]) == ("test-0001", "아이가 공을 찼다.", 3)
    assert s["lemmas"] == ["아이+가", "공+을", "차+았+다+."] and s["xpos"][2] == "VV+EP+EF+SF"
    assert s["heads"] == [3, 3, 0] and s["deprels"] == ["NP_SBJ", "NP_OBJ", "VP"] and s["upos"] == ["_"] * 3
    assert "word 2 (line 10) has head 3, outside 0..2" in quar[0]["reason"]
    assert "line 13: 5 tab-separated fields, expected 6" in quar[1]["reason"]


def test_write_conllu_round_trip(tmp_path):
    sents, _ = read_conllu(write(tmp_path / "g.conllu", GOOD))
    text = write_conllu(sents)
    assert "3\t마셨다\t마시+었+다\tVERB\tVV+EP+EF\t_\t0\troot\t_\tSpaceAfter=No" in text
    again, quar = read_conllu(write(tmp_path / "again.conllu", text))
    assert quar == [] and [[s[k] for k in KEYS] for s in again] == [[s[k] for k in KEYS] for s in sents]
    klue, _ = read_klue_dp(write(tmp_path / "k.tsv", KLUE))
    back, quar = read_conllu(write(tmp_path / "k.conllu", write_conllu(klue)))
    assert quar == [] and back[0]["deprels"] == ["NP_SBJ", "NP_OBJ", "VP"] and back[0]["upos"] == ["_"] * 3
    with pytest.raises(ValueError, match="2 heads for 3 words"):
        write_conllu([{**sents[1], "words": ["a", "b", "c"]}])


def test_tree_problems():
    assert tree_problems([2, 0, 2]) == []
    assert tree_problems([]) == ["the sentence has no words"]
    assert tree_problems([1, 0]) == ["word 1 is its own head"]
    assert tree_problems([0, 3, 2]) == ["words 2 -> 3 -> 2 form a cycle (word 2 never reaches the root)"]
    assert any("2 words have head 0" in p for p in tree_problems([0, 0]))
    assert tree_problems([0, 5]) == ["word 2 has head 5, outside 0..2 (the sentence has 2 words)"]


def test_sample_treebank_reads_clean():
    sents, quar = read_conllu(Path(__file__).resolve().parents[2] / "data" / "sample" / "n2path_treebank.conllu")
    assert quar == [] and len(sents) >= 140
    assert all(tree_problems(s["heads"]) == [] and 3 <= len(s["words"]) <= 11 for s in sents)
    assert len({s["id"] for s in sents}) == len(sents)


# ---------------------------------------------------------------- metrics


def test_attachment_scores_and_baseline():
    gold_h, gold_r = [[2, 0, 2], [0]], [["nsubj", "root", "punct"], ["root"]]
    pred_h, pred_r = [[2, 0, 1], [0]], [["obj", "root", "punct"], ["root"]]
    s = attachment_scores(gold_h, gold_r, pred_h, pred_r)
    assert (s["uas"], s["las"], s["tokens"]) == (0.75, 0.5, 4)
    assert s["per_relation"]["nsubj"] == {"count": 1, "las": 0.0, "uas": 1.0}
    assert s["per_relation"]["root"] == {"count": 2, "las": 1.0, "uas": 1.0}
    s = attachment_scores(gold_h, gold_r, pred_h, pred_r, punct_mask=[[False, False, True], [False]])
    assert (s["uas"], s["las"], s["tokens"]) == (1.0, 2 / 3, 3) and "punct" not in s["per_relation"]
    with pytest.raises(ValueError, match="sentence 0: pred_heads has 2 entries for 3 gold words"):
        attachment_scores(gold_h, gold_r, [[2, 0], [0]], pred_r)
    assert right_neighbour_heads(3) == [2, 3, 0]
    assert right_neighbour_baseline([{"heads": [2, 3, 0]}, [0, 1]]) == 0.6


# ---------------------------------------------------------------- MST


def brute_force(scores: np.ndarray) -> tuple[float, tuple[int, ...]]:
    n = scores.shape[0] - 1
    best = (-np.inf, ())
    for heads in itertools.product(range(n + 1), repeat=n):
        if heads.count(0) == 1 and not tree_problems(heads):
            best = max(best, (tree_score(scores, np.array(heads)), heads))
    return best


def test_chu_liu_edmonds_matches_brute_force():
    rng = np.random.default_rng(7)
    for trial in range(250):
        n = int(rng.integers(1, 6))
        scores = rng.normal(size=(n + 1, n + 1)) * [0.1, 1.0, 30.0][trial % 3]
        if trial % 4 == 0:
            scores[0, 1:] += 5.0  # root edges dominate: the unconstrained tree would have several root children
        heads = chu_liu_edmonds(scores)
        best_score, best_heads = brute_force(scores)
        assert tuple(heads.tolist()) == best_heads, (scores, heads, best_heads)
        assert np.isclose(tree_score(scores, heads), best_score)
        assert list(heads).count(0) == 1


def test_chu_liu_edmonds_edges_and_speed():
    assert chu_liu_edmonds(np.zeros((1, 1))).tolist() == []
    assert chu_liu_edmonds(np.zeros((2, 2))).tolist() == [0]
    scores = np.full((4, 4), -np.inf)  # only the chain 0 -> 3 -> 2 -> 1 is allowed
    scores[0, 3] = scores[3, 2] = scores[2, 1] = 0.0
    assert chu_liu_edmonds(scores).tolist() == [2, 3, 0]
    scores[0, 1:] = 0.0  # a forbidden edge is used only when no tree avoids it: never here
    assert chu_liu_edmonds(np.where(np.isfinite(scores), scores, -np.inf)).tolist() == [2, 3, 0]
    with pytest.raises(ValueError, match="NaN"):
        chu_liu_edmonds(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="square"):
        chu_liu_edmonds(np.zeros((3, 4)))
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for _ in range(5):
        heads = chu_liu_edmonds(rng.normal(size=(101, 101)))
        assert tree_problems(heads.tolist()) == []
    assert time.perf_counter() - started < 2.0


# ---------------------------------------------------------------- real treebanks


@pytest.mark.slow
@pytest.mark.skipif(not REAL.exists(), reason="../shared/datasets not present")
def test_real_treebanks_quarantine_below_1_percent():
    files = [
        (REAL / "ud_korean_gsd" / "ko_gsd-ud-train.conllu", read_conllu),
        (REAL / "ud_korean_gsd" / "ko_gsd-ud-dev.conllu", read_conllu),
        (REAL / "ud_korean_kaist" / "ko_kaist-ud-dev.conllu", read_conllu),
        (REAL / "klue_dp" / "klue-dp-v1.1_dev.tsv", read_klue_dp),
    ]
    for path, reader in files:
        if not path.exists():
            continue
        sents, quar = reader(path)
        assert len(sents) > 500, path
        assert len(quar) / (len(sents) + len(quar)) < 0.01, (path, [q["reason"] for q in quar[:5]])
        assert all(tree_problems(s["heads"]) == [] for s in sents)
        assert all(len(s[k]) == len(s["words"]) for s in sents for k in ("lemmas", "xpos", "heads", "deprels"))
