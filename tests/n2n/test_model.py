"""CRF against brute force, BIO validity of every decoder, and the N2N TokenTagger."""

from __future__ import annotations

import itertools

import pytest
import torch

from models import architecture
from models.crf import CRF, bio_constraints, decode_constrained
from models.n2n import N2NConfig, TokenTagger

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def brute_force(crf: CRF, emissions: torch.Tensor, length: int) -> tuple[torch.Tensor, list[int]]:
    """(log Z, best path) for one row by scoring every tag sequence of that row's length."""
    trans, start = crf._soft_scores()
    scores, paths = [], []
    for path in itertools.product(range(crf.num_tags), repeat=length):
        s = start[path[0]] + emissions[0, path[0]] + crf.end[path[-1]]
        for t in range(1, length):
            s = s + trans[path[t - 1], path[t]] + emissions[t, path[t]]
        scores.append(s)
        paths.append(list(path))
    scores = torch.stack(scores)
    return torch.logsumexp(scores, 0), paths[int(scores.argmax())]


def is_valid_bio(tags: list[int], names: list[str] = TAGS) -> bool:
    prev = "O"
    for tag in tags:
        name = names[tag]
        if name.startswith("I-") and prev not in (f"B-{name[2:]}", name):
            return False
        prev = name
    return True


def random_allowed(k: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    allowed = torch.rand(k, k, generator=generator) > 0.3
    allowed[:, 0] = True  # keep one tag always reachable, so a valid path exists
    start = torch.rand(k, generator=generator) > 0.3
    start[0] = True
    return allowed, start


@pytest.mark.parametrize("constrained", [False, True])
def test_crf_nll_and_viterbi_match_brute_force(constrained):
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    k, t = 3, 3
    allowed, start = random_allowed(k, g) if constrained else (None, None)
    crf = CRF(k, allowed, start)
    lengths = torch.tensor([3, 2])
    mask = torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)
    for _ in range(5):
        emissions = torch.randn(2, t, k, generator=g) * 2
        # Gold paths on allowed transitions: a -1e4 score would drown float32 precision.
        gold = torch.tensor([[0, 0, 0], [0, 0, -100]])
        expected_nll, expected_paths = [], []
        for row in range(2):
            n = int(lengths[row])
            log_z, best = brute_force(crf, emissions[row], n)
            gold_score = brute_force_score(crf, emissions[row], gold[row, :n].tolist())
            expected_nll.append(log_z - gold_score)
            expected_paths.append(best)
        nll = crf.neg_log_likelihood(emissions, gold, mask)
        assert torch.allclose(nll, torch.stack(expected_nll).mean(), atol=1e-4)
        assert crf.decode(emissions, mask) == expected_paths


def brute_force_score(crf: CRF, emissions: torch.Tensor, path: list[int]) -> torch.Tensor:
    trans, start = crf._soft_scores()
    s = start[path[0]] + emissions[0, path[0]] + crf.end[path[-1]]
    for t in range(1, len(path)):
        s = s + trans[path[t - 1], path[t]] + emissions[t, path[t]]
    return s


def test_bio_constraints():
    allowed, start = bio_constraints(TAGS + ["<pad>"])
    i_per, b_per, i_loc = TAGS.index("I-PER"), TAGS.index("B-PER"), TAGS.index("I-LOC")
    assert allowed[b_per, i_per] and allowed[i_per, i_per]
    assert not allowed[0, i_per] and not allowed[i_loc, i_per] and not allowed[b_per, i_loc]
    assert not start[i_per] and start[b_per] and start[0]
    assert not allowed[:, 5].any() and not start[5]  # a special tag is never decoded
    with pytest.raises(ValueError, match="not BIO"):
        bio_constraints(["O", "B_PER"])


@pytest.mark.parametrize("scale", [3.0, 1e5])
def test_every_decoder_emits_valid_bio(scale):
    # 1e5 dwarfs the -1e4 training penalty: decoding must still refuse invalid paths.
    torch.manual_seed(1)
    allowed, start = bio_constraints(TAGS)
    crf = CRF(len(TAGS), allowed, start)
    emissions = torch.randn(200, 12, len(TAGS)) * scale
    emissions[..., TAGS.index("I-PER")] += scale  # push hard toward invalid I- tags
    lengths = torch.randint(0, 13, (200,))
    mask = torch.arange(12).unsqueeze(0) < lengths.unsqueeze(1)
    for paths in (crf.decode(emissions, mask), decode_constrained(emissions, mask, allowed, start)):
        assert [len(p) for p in paths] == lengths.tolist()
        assert all(is_valid_bio(p) for p in paths)


def test_unconstrained_softmax_decoding_is_argmax():
    emissions = torch.randn(4, 6, 5)
    mask = torch.ones(4, 6, dtype=torch.bool)
    assert decode_constrained(emissions, mask) == emissions.argmax(-1).tolist()


def make_tagger(**extra) -> TokenTagger:
    config = dict(
        vocab_size=20, num_tags=len(TAGS), tag_names=TAGS, char_emb_dim=16, hidden_dim=24, num_layers=1, dropout=0.0
    )
    return TokenTagger({**config, **extra})


def features(batch: int, width: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        "morphs": torch.randint(1, 30, (batch, width), generator=g),
        "pos": torch.randint(1, 10, (batch, width), generator=g),
        "boundary": torch.randint(1, 4, (batch, width), generator=g),
    }


@pytest.mark.parametrize("use_crf", [True, False])
def test_tagger_decode_lengths_and_padding(use_crf):
    torch.manual_seed(0)
    model = make_tagger(use_crf=use_crf, morph_vocab_size=30, pos_vocab_size=10, boundary_vocab_size=4).eval()
    g = torch.Generator().manual_seed(0)
    chars = torch.randint(1, 20, (4, 7), generator=g)
    lengths = torch.tensor([7, 3, 1, 0])
    extra = features(4, 7, g)
    emissions = model(chars, lengths, **extra)
    assert emissions.shape == (4, 7, len(TAGS))
    paths = model.decode(emissions, lengths)
    assert [len(p) for p in paths] == [7, 3, 1, 0]
    assert all(is_valid_bio(p) for p in paths)
    # Junk after a row's length must not change its real positions.
    junk = chars.clone()
    junk[1, 3:] = 19
    assert torch.allclose(model(junk, lengths, **extra)[1, :3], emissions[1, :3], atol=1e-6)
    tags = torch.randint(0, len(TAGS), (4, 7), generator=g).masked_fill(torch.arange(7) >= lengths[:, None], -100)
    assert torch.isfinite(model.loss(emissions, tags, lengths))


def test_tagger_requires_exactly_its_configured_features():
    g = torch.Generator().manual_seed(0)
    chars, lengths = torch.randint(1, 20, (2, 5), generator=g), torch.tensor([5, 2])
    with pytest.raises(ValueError, match="pass pos"):
        make_tagger(pos_vocab_size=10)(chars, lengths)
    with pytest.raises(ValueError, match="without morphs"):
        make_tagger()(chars, lengths, morphs=chars)


def planted_batch(g: torch.Generator, batch: int = 32, width: int = 16) -> tuple[torch.Tensor, ...]:
    """Random syllables 3..19 with "3 4 5" tagged PER and "6 7" tagged LOC.

    Ids 3 and 6 also occur alone as noise, so the tagger must read context, not single ids.
    """
    chars = torch.randint(3, 20, (batch, width), generator=g)
    tags = torch.zeros(batch, width, dtype=torch.long)
    for row in range(batch):
        t = 0
        while t < width - 3:
            roll = int(torch.randint(0, 4, (1,), generator=g))
            if roll == 0:
                chars[row, t : t + 3] = torch.tensor([3, 4, 5])
                tags[row, t : t + 3] = torch.tensor([1, 2, 2])
                t += 3
            elif roll == 1:
                chars[row, t : t + 2] = torch.tensor([6, 7])
                tags[row, t : t + 2] = torch.tensor([3, 4])
                t += 2
            else:
                t += 1
        # The planted patterns only: stray 4/5/7 would make "3 4 5" ambiguous at the edges.
        stray = (tags == 0) & ((chars == 4) | (chars == 5) | (chars == 7))
        chars[row][stray[row]] = 8
    lengths = torch.randint(width // 2, width + 1, (batch,), generator=g)
    pad = torch.arange(width) >= lengths[:, None]
    return chars.masked_fill(pad, 0), tags.masked_fill(pad, -100), lengths


@pytest.mark.parametrize("use_crf", [True, False])
def test_tagger_learns_planted_entities(use_crf):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = make_tagger(use_crf=use_crf, hidden_dim=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(100):
        chars, tags, lengths = planted_batch(g)
        loss = model.loss(model(chars, lengths), tags, lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    chars, tags, lengths = planted_batch(torch.Generator().manual_seed(99), batch=64)
    paths = model.decode(model(chars, lengths), lengths)
    gold = [row[:n].tolist() for row, n in zip(tags, lengths.tolist())]
    flat_pred = [t for p in paths for t in p]
    flat_gold = [t for p in gold for t in p]
    accuracy = sum(p == q for p, q in zip(flat_pred, flat_gold)) / len(flat_gold)
    entity = [(p, q) for p, q in zip(flat_pred, flat_gold) if q != 0]
    assert accuracy > 0.9
    assert sum(p == q for p, q in entity) / len(entity) > 0.9  # not just "everything is O"


def test_config_fills_defaults_and_rejects_mistakes():
    resolved = N2NConfig.from_dict({"vocab_size": 10, "num_tags": 5, "tag_names": TAGS, "architecture": "x"}).as_dict()
    assert resolved["use_crf"] is True and resolved["hidden_dim"] == 128 and "architecture" not in resolved
    with pytest.raises(ValueError, match="unknown model config keys"):
        N2NConfig.from_dict({"vocab_size": 10, "num_tags": 5, "tag_names": TAGS, "hiden_dim": 3})
    with pytest.raises(ValueError, match="lacks"):
        N2NConfig.from_dict({"vocab_size": 10, "num_tags": 5})
    with pytest.raises(ValueError, match="tag_names has"):
        N2NConfig.from_dict({"vocab_size": 10, "num_tags": 4, "tag_names": TAGS})


@pytest.mark.parametrize("use_crf", [True, False])
def test_state_dict_round_trip_gives_identical_outputs(use_crf):
    torch.manual_seed(0)
    model = make_tagger(use_crf=use_crf, pos_vocab_size=10).eval()
    torch.manual_seed(1)
    copy = make_tagger(use_crf=use_crf, pos_vocab_size=10).eval()
    copy.load_state_dict(model.state_dict())
    g = torch.Generator().manual_seed(0)
    chars, lengths = torch.randint(1, 20, (3, 6), generator=g), torch.tensor([6, 4, 2])
    pos = torch.randint(1, 10, (3, 6), generator=g)
    a, b = model(chars, lengths, pos=pos), copy(chars, lengths, pos=pos)
    assert torch.equal(a, b)
    assert model.decode(a, lengths) == copy.decode(b, lengths)


def test_same_seed_same_loss():
    def one_step() -> float:
        torch.manual_seed(0)
        model = make_tagger(dropout=0.3)
        chars, tags, lengths = planted_batch(torch.Generator().manual_seed(0))
        return model.loss(model(chars, lengths), tags, lengths).item()

    assert one_step() == one_step()


def test_registered_architecture():
    assert architecture("n2n.TokenTagger") is TokenTagger
