"""BiaffineParser: config checks, well-formed decoding, and a quick training run on the sample treebank."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from models import architecture
from models.n2path import BiaffineParser, N2PathConfig
from tasks.n2path.formats import read_conllu, tree_problems
from tasks.n2path.metrics import attachment_scores, right_neighbour_baseline

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "n2path_treebank.conllu"
RELS = ["root", "nsubj", "obj", "advmod", "punct"]
BASE = {
    "word_vocab_size": 30,
    "morph_vocab_size": 40,
    "tag_vocab_size": 12,
    "char_vocab_size": 50,
    "num_rels": len(RELS),
    "rel_names": RELS,
}
TINY = {
    "word_emb_dim": 16,
    "morph_emb_dim": 16,
    "tag_emb_dim": 8,
    "char_emb_dim": 8,
    "char_cnn_dim": 16,
    "hidden_dim": 24,
    "num_layers": 2,
    "arc_mlp": 32,
    "rel_mlp": 16,
}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matrices: with other jobs on the machine, extra intra-op threads only wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def random_batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    b, t = len(lengths), max(lengths)
    mask = torch.arange(t).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    words = torch.randint(1, 30, (b, t), generator=g) * mask
    morphs = torch.randint(0, 40, (b, t, 3), generator=g) * mask.unsqueeze(-1)
    tags = torch.randint(0, 12, (b, t, 3), generator=g) * mask.unsqueeze(-1)
    chars = torch.randint(0, 50, (b, t, 4), generator=g) * mask.unsqueeze(-1)
    return words, morphs, tags, chars, torch.tensor(lengths)


def test_registered_and_config_checks():
    assert architecture("n2path.BiaffineParser") is BiaffineParser
    c = N2PathConfig.from_dict({**BASE, "architecture": "n2path.BiaffineParser"})
    assert c.hidden_dim == 200 and c.num_layers == 3 and c.rel_mlp == 100 and c.dropout == 0.33
    with pytest.raises(ValueError, match="unknown model config keys.*hiden_dim"):
        N2PathConfig.from_dict({**BASE, "hiden_dim": 10})
    with pytest.raises(ValueError, match="lacks.*rel_names"):
        N2PathConfig.from_dict({k: v for k, v in BASE.items() if k != "rel_names"})
    with pytest.raises(ValueError, match="num_rels is 4"):
        N2PathConfig.from_dict({**BASE, "num_rels": 4})


def test_shapes_loss_and_decode_always_one_tree():
    torch.manual_seed(0)
    model = BiaffineParser({**BASE, **TINY, "char_kernel": 2})  # even kernel: the CNN must keep the width
    lengths = [7, 3, 1, 5, 12, 2]
    batch = random_batch(lengths)
    arc, rel = model(*batch)
    assert arc.shape == (6, 13, 13) and rel.shape == (6, 13, 13, len(RELS))
    heads = torch.zeros(6, 12, dtype=torch.long)  # every word on the root: a valid target for the loss
    loss = model.loss(arc, rel, heads, torch.ones(6, 12, dtype=torch.long), batch[-1])
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.eval()
    for seed in range(5):
        for p in model.parameters():  # random scores, not the all-zero init, so decoding has work to do
            torch.nn.init.normal_(p, std=0.5)
        batch = random_batch(lengths, seed)
        for (pred, rels), n in zip(model.decode(*model(*batch), batch[-1]), lengths):
            assert len(pred) == len(rels) == n
            assert tree_problems(pred) == []
            assert [r == 0 for r in rels] == [h == 0 for h in pred]  # 'root' exactly on the root's child


def test_loss_rejects_impossible_gold_heads():
    model = BiaffineParser({**BASE, **TINY})
    batch = random_batch([3])
    arc, rel = model(*batch)
    with pytest.raises(ValueError, match="word 2: gold head 2"):
        model.loss(arc, rel, torch.tensor([[0, 2, 1]]), torch.zeros(1, 3, dtype=torch.long), batch[-1])


# ---------------------------------------------------------------- training on the sample treebank


class Vocab:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def add(self, key: str) -> int:
        return self.ids.setdefault(key, len(self.ids) + 2)  # 0 pad, 1 unknown

    def get(self, key: str) -> int:
        return self.ids.get(key, 1)

    def __len__(self) -> int:
        return len(self.ids) + 2


def encode(sents: list[dict], v: dict[str, Vocab], rels: dict[str, int], grow: bool) -> list[torch.Tensor]:
    look = (lambda voc, k: voc.add(k)) if grow else (lambda voc, k: voc.get(k))
    b, t = len(sents), max(len(s["words"]) for s in sents)
    m = max(len(x.split("+")) for s in sents for x in s["lemmas"] + s["xpos"])
    c = max(len(w) for s in sents for w in s["words"])
    words, heads, rel = (torch.zeros(b, t, dtype=torch.long) for _ in range(3))
    morphs, tags, chars = (
        torch.zeros(b, t, m, dtype=torch.long),
        torch.zeros(b, t, m, dtype=torch.long),
        torch.zeros(b, t, c, dtype=torch.long),
    )
    for i, s in enumerate(sents):
        for j, w in enumerate(s["words"]):
            words[i, j] = look(v["word"], w)
            for k, x in enumerate(s["lemmas"][j].split("+")):
                morphs[i, j, k] = look(v["morph"], x)
            for k, x in enumerate(s["xpos"][j].split("+")):
                tags[i, j, k] = look(v["tag"], x)
            for k, x in enumerate(w):
                chars[i, j, k] = look(v["char"], x)
            heads[i, j] = s["heads"][j]
            rel[i, j] = rels[s["deprels"][j]]
    return [words, morphs, tags, chars, torch.tensor([len(s["words"]) for s in sents]), heads, rel]


def test_training_on_sample_beats_right_neighbour_baseline():
    sents, quarantined = read_conllu(SAMPLE)
    assert len(sents) >= 140 and quarantined == []
    held = sents[::5]
    train = [s for k, s in enumerate(sents) if k % 5]
    torch.manual_seed(0)
    vocabs = {name: Vocab() for name in ("word", "morph", "tag", "char")}
    rel_names = sorted({r for s in sents for r in s["deprels"]})
    rels = {r: k for k, r in enumerate(rel_names)}
    batches = [encode(train[k : k + 16], vocabs, rels, grow=True) for k in range(0, len(train), 16)]
    model = BiaffineParser(
        {
            "word_vocab_size": len(vocabs["word"]),
            "morph_vocab_size": len(vocabs["morph"]),
            "tag_vocab_size": len(vocabs["tag"]),
            "char_vocab_size": len(vocabs["char"]),
            "num_rels": len(rel_names),
            "rel_names": rel_names,
            **TINY,
            "hidden_dim": 48,
            "arc_mlp": 64,
            "rel_mlp": 32,
            "dropout": 0.2,
        }
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, betas=(0.9, 0.9))
    started = time.perf_counter()
    for _ in range(25):
        model.train()
        for batch in batches:
            opt.zero_grad()
            arc, rel = model(*batch[:5])
            model.loss(arc, rel, batch[5], batch[6], batch[4]).backward()
            opt.step()
    model.eval()
    test = encode(held, vocabs, rels, grow=False)
    pred = model.decode(*model(*test[:5]), test[4])
    scores = attachment_scores(
        [s["heads"] for s in held],
        [s["deprels"] for s in held],
        [p[0] for p in pred],
        [[rel_names[r] for r in p[1]] for p in pred],
    )
    baseline = right_neighbour_baseline(held)
    assert all(tree_problems(p[0]) == [] for p in pred)
    assert scores["uas"] > baseline + 0.2, (scores["uas"], scores["las"], baseline)
    assert scores["las"] > baseline, (scores["las"], baseline)
    assert time.perf_counter() - started < 25
