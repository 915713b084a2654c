"""The N2N trainer on tiny in-memory tables: the joint phase and the optional per-source fine-tune."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from tasks.n2n import train as tt
from tasks.params import load_params
from tests.conftest import ROOT

TAGS = ["O", "B-PS", "I-PS", "B-DT", "I-DT"]
NAMES = ["민수", "지은", "철호", "영희"]
FILLER = list("가고는를에서와도만이")


def sentence(rng: random.Random, marks_today: bool) -> tuple[str, list[str]]:
    """A few filler syllables around a name and 오늘 ("today"): source "b" tags 오늘 as a date, "a" does not,
    as KLP tags 하루/오늘 as DT and KMOU does not."""
    parts: list[tuple[str, str | None]] = [
        ("".join(rng.choices(FILLER, k=rng.randint(1, 3))), None),
        (rng.choice(NAMES), "PS"),
        (" ", None),
        ("오늘", "DT" if marks_today else None),
        ("".join(rng.choices(FILLER, k=rng.randint(1, 3))), None),
    ]
    rng.shuffle(parts)
    text, tags = "", []
    for piece, kind in parts:
        text += piece
        tags += ["O"] * len(piece) if kind is None else [f"B-{kind}"] + [f"I-{kind}"] * (len(piece) - 1)
    return text, tags


def tiny_table(rows: dict[tuple[str, str], int], seed: int = 0) -> pa.Table:
    """An encoded N2N table: `rows` counts sentences per (domain, split)."""
    rng = random.Random(seed)
    chars = sorted(set("".join(NAMES) + "".join(FILLER) + "오늘 "))
    index = {c: i + 2 for i, c in enumerate(chars)}  # 0 pad, 1 unk
    cols: dict[str, list] = {"text": [], "split": [], "domain": [], "char_ids": [], "tag_ids": []}
    for (domain, split), n in rows.items():
        for _ in range(n):
            text, tags = sentence(rng, marks_today=domain == "b")
            cols["text"].append(text)
            cols["split"].append(split)
            cols["domain"].append(domain)
            cols["char_ids"].append([index[c] for c in text])
            cols["tag_ids"].append([TAGS.index(t) for t in tags])
    ids = pa.list_(pa.int32())
    return pa.table({k: v if k in ("text", "split", "domain") else pa.array(v, ids) for k, v in cols.items()})


MODEL = {
    "architecture": "n2n.TokenTagger",
    "vocab_size": 40,
    "num_tags": len(TAGS),
    "tag_names": TAGS,
    "char_emb_dim": 16,
    "hidden_dim": 24,
    "num_layers": 1,
    "dropout": 0.0,
    "use_crf": True,
}
CFG = {
    **load_params(ROOT / "params.yaml")["n2n"]["train"],  # the defaults the train stage is given
    "seed": 13,
    "threads": 1,
    "device": "cpu",
    "batch_size": 16,
    "epochs": 3,
    "patience": 0,
    "lr": 0.01,
    "max_len": 100,
}
# Source "a" outnumbers "b" nine to one, so the joint model mostly learns "오늘 is not an entity".
ROWS = {("a", "train"): 360, ("b", "train"): 40, ("a", "dev"): 40, ("b", "dev"): 40}


def quiet(_: str) -> None:
    pass


def test_no_finetune_by_default():
    _, history = tt.train_tagger(tiny_table(ROWS), MODEL, CFG, log=quiet)
    assert "finetune" not in history
    assert [r["phase"] for r in history["epochs"]] == ["joint"] * 3


def test_finetune_trains_on_its_source_and_keeps_only_a_gain(monkeypatch):
    table = tiny_table(ROWS)
    domains = table.column("domain").to_pylist()
    seen: list[set[str]] = []
    original = tt._TaggerFit.train_epoch

    def spy(self, optimizer, train_idx):
        seen.append({domains[i] for i in train_idx})
        return original(self, optimizer, train_idx)

    monkeypatch.setattr(tt._TaggerFit, "train_epoch", spy)
    cfg = {**CFG, "finetune": {**CFG["finetune"], "domain": "b", "epochs": 4, "lr": 0.01, "patience": 0}}
    model, history = tt.train_tagger(table, MODEL, cfg, log=quiet)
    report = history["finetune"]
    assert seen == [{"a", "b"}] * 3 + [{"b"}] * 4
    assert (report["train_rows"], report["dev_rows"]) == (40, 40)
    assert [r["phase"] for r in history["epochs"]][3:] == ["finetune[b]"] * 4
    assert [r["epoch"] for r in history["epochs"]] == list(range(1, 8))
    # "b" tags 오늘 and "a" does not: four epochs on "b" alone must beat the joint model on b's dev rows.
    assert report["kept"] and report["best_dev_f1"] > report["joint_dev_f1"] + 0.05
    assert history["best_epoch"] > 3 and history["best_dev_f1"] == report["best_dev_f1"]
    # The weights returned are the best epoch's: re-scoring b's dev rows gives the recorded F1.
    dev_b = table.filter(
        pa.compute.and_(pa.compute.equal(table.column("split"), "dev"), pa.compute.equal(table.column("domain"), "b"))
    )
    gold = [
        tt.spans_from_tags([TAGS[i] for i in row], text)
        for row, text in zip(dev_b.column("tag_ids").to_pylist(), dev_b.column("text").to_pylist())
    ]
    pred = tt.predict_table(model, dev_b, 100, device="cpu")
    assert tt.entity_metrics(gold, pred, ["DT", "PS"])["f1"] == pytest.approx(report["best_dev_f1"])


def test_finetune_that_never_beats_the_joint_model_keeps_the_joint_weights():
    # lr 0: fine-tune epochs cannot change the weights, so none beats the joint phase's best.
    cfg = {**CFG, "finetune": {**CFG["finetune"], "domain": "b", "epochs": 2, "lr": 0.0, "patience": 0}}
    _, history = tt.train_tagger(tiny_table(ROWS), MODEL, cfg, log=quiet)
    report = history["finetune"]
    assert not report["kept"]
    assert history["best_epoch"] == report["joint_best_epoch"] <= 3
    assert report["best_dev_f1"] == report["joint_dev_f1"]


def test_finetune_on_an_unknown_source_names_the_known_ones():
    cfg = {**CFG, "finetune": {**CFG["finetune"], "domain": "klp"}}
    with pytest.raises(ValueError, match=r"finetune.domain.*'klp'.*\['a', 'b'\]"):
        tt.train_tagger(tiny_table(ROWS), MODEL, cfg, log=quiet)
