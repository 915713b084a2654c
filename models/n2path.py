"""Sequence (n) to a tree over it (path): dependency parsing of eojeols, Dozat & Manning (2017).

Each eojeol is one vector built from its own id, the mean of its morpheme embeddings, the mean of its
POS-tag embeddings and a small CNN over its syllables: Korean eojeols are open-class (stem + particles
+ endings), so the word id alone is mostly unknown at test time while the morphemes and tags carry the
attachment signal (JKS -> subject of a later predicate, ETM -> modifies the next noun).

Score convention: position 0 is a learned ROOT prepended inside the model, word i sits at position i.
arc_scores[b, i, j] is the score of head j for dependent i (row = dependent, column = head), so a
softmax over the last dimension is the head distribution of word i; rel_scores[b, i, j, r] scores
relation r on the arc j -> i. Columns past a sentence's length and the diagonal are masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from models.encoders import BiLSTMEncoder, ModelConfig, length_mask
from models.mst import chu_liu_edmonds

ROOT_REL = "root"


@dataclass(frozen=True)
class N2PathConfig(ModelConfig):
    word_vocab_size: int
    morph_vocab_size: int
    tag_vocab_size: int
    char_vocab_size: int
    num_rels: int
    rel_names: list[str]
    word_emb_dim: int = 100
    morph_emb_dim: int = 100
    tag_emb_dim: int = 50
    char_emb_dim: int = 50
    # Syllable CNN output size (max-pooled over the eojeol); 0: mean of syllable embeddings instead.
    char_cnn_dim: int = 100
    char_kernel: int = 3
    hidden_dim: int = 200
    num_layers: int = 3
    arc_mlp: int = 400
    rel_mlp: int = 100
    dropout: float = 0.33

    required_from = "the vocabularies and relation schema"

    def check(self) -> None:
        for key in ("word_vocab_size", "morph_vocab_size", "tag_vocab_size", "char_vocab_size"):
            if getattr(self, key) < 2:
                raise ValueError(
                    f"{key} is {getattr(self, key)}: a vocabulary needs the pad id 0 and at least one entry"
                )
        for key in ("hidden_dim", "num_layers", "arc_mlp", "rel_mlp", "char_kernel"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1, got {getattr(self, key)}")
        if len(self.rel_names) != self.num_rels:
            raise ValueError(f"num_rels is {self.num_rels} but rel_names has {len(self.rel_names)} names")
        if len(set(self.rel_names)) != len(self.rel_names):
            raise ValueError("rel_names holds a name twice; each relation id needs its own name")


class BiaffineParser(nn.Module):
    architecture = "n2path.BiaffineParser"

    def __init__(self, config: dict[str, Any] | N2PathConfig):
        super().__init__()
        self.cfg = c = N2PathConfig.from_dict(config)
        self.config = c.as_dict()  # a plain dict: model_config.json, and what callers read
        self.word_embedding = nn.Embedding(c.word_vocab_size, c.word_emb_dim, padding_idx=0)
        self.morph_embedding = nn.Embedding(c.morph_vocab_size, c.morph_emb_dim, padding_idx=0)
        self.tag_embedding = nn.Embedding(c.tag_vocab_size, c.tag_emb_dim, padding_idx=0)
        self.char_embedding = nn.Embedding(c.char_vocab_size, c.char_emb_dim, padding_idx=0)
        char_out = c.char_emb_dim
        self.char_cnn = None
        if c.char_cnn_dim > 0:
            self.char_cnn = nn.Conv1d(c.char_emb_dim, c.char_cnn_dim, c.char_kernel, padding=c.char_kernel // 2)
            char_out = c.char_cnn_dim
        input_dim = c.word_emb_dim + c.morph_emb_dim + c.tag_emb_dim + char_out
        # The ROOT token has no word, morphemes or syllables: it gets its own learned input vector.
        self.root = nn.Parameter(torch.randn(input_dim) * 0.1)
        self.dropout = nn.Dropout(c.dropout)
        self.encoder = BiLSTMEncoder(input_dim, c.hidden_dim, c.num_layers, c.dropout)
        d = self.encoder.out_dim
        self.arc_dep, self.arc_head = _mlp(d, c.arc_mlp, c.dropout), _mlp(d, c.arc_mlp, c.dropout)
        self.rel_dep, self.rel_head = _mlp(d, c.rel_mlp, c.dropout), _mlp(d, c.rel_mlp, c.dropout)
        # Biaffine arc: [dep; 1]^T U head -- the extra row is a prior over heads ("is j a likely head?").
        # Zero init, as Dozat & Manning do: every head starts equally likely.
        self.arc_weight = nn.Parameter(torch.zeros(c.arc_mlp + 1, c.arc_mlp))
        self.rel_weight = nn.Parameter(torch.zeros(c.num_rels, c.rel_mlp + 1, c.rel_mlp + 1))
        self.root_rel = c.rel_names.index(ROOT_REL) if ROOT_REL in c.rel_names else None

    def forward(
        self, words: torch.Tensor, morphs: torch.Tensor, tags: torch.Tensor, chars: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """words [B,T], morphs/tags [B,T,M], chars [B,T,C], lengths [B] -> arc [B,T+1,T+1], rel [B,T+1,T+1,R]."""
        batch, width = words.shape
        for name, ids in (("morphs", morphs), ("tags", tags), ("chars", chars)):
            if ids.dim() != 3 or ids.shape[:2] != words.shape:
                raise ValueError(
                    f"{name} must be [B, T, K] with B, T as in words {tuple(words.shape)}, got {tuple(ids.shape)}"
                )
        parts = [
            self.word_embedding(words),
            _mean(self.morph_embedding(morphs), morphs),
            _mean(self.tag_embedding(tags), tags),
            self._chars(chars),
        ]
        x = self.dropout(torch.cat(parts, dim=-1))
        x = torch.cat([self.root.expand(batch, 1, -1), x], dim=1)
        lengths = lengths.to(words.device)
        enc = self.encoder(x, lengths + 1)
        states = enc.states
        dep, head = self.arc_dep(states), self.arc_head(states)
        arc = torch.einsum("bix,xy,bjy->bij", _with_one(dep), self.arc_weight, head)
        rel_dep, rel_head = _with_one(self.rel_dep(states)), _with_one(self.rel_head(states))
        rel = torch.einsum("biry,bjy->bijr", torch.einsum("bix,rxy->biry", rel_dep, self.rel_weight), rel_head)
        # A very negative finite value rather than -inf: a fully masked padding row must stay NaN-free
        # through log_softmax and its gradient.
        valid = enc.mask.unsqueeze(1) & ~torch.eye(width + 1, dtype=torch.bool, device=words.device)
        arc = arc.masked_fill(~valid, torch.finfo(arc.dtype).min)
        return arc, rel

    def _chars(self, chars: torch.Tensor) -> torch.Tensor:
        emb = self.char_embedding(chars)  # [B, T, C, E]
        if self.char_cnn is None:
            return _mean(emb, chars)
        b, t, c, e = emb.shape
        h = self.char_cnn(emb.reshape(b * t, c, e).transpose(1, 2))[..., :c]  # even kernels pad one extra
        h = h.transpose(1, 2).reshape(b, t, c, -1)
        real = (chars != 0).unsqueeze(-1)
        h = h.masked_fill(~real, torch.finfo(h.dtype).min).max(dim=2).values
        # An eojeol without syllables (padding) would keep finfo.min: zero it.
        return torch.where(real.any(dim=2), h, torch.zeros_like(h))

    def loss(
        self,
        arc_scores: torch.Tensor,
        rel_scores: torch.Tensor,
        heads: torch.Tensor,
        rels: torch.Tensor,
        lengths: torch.Tensor,
    ) -> torch.Tensor:
        """Head cross-entropy per real word plus relation cross-entropy at the gold head, both token means.

        heads [B,T]: 1-based gold heads (0 = root); rels [B,T]: relation ids; padding entries are ignored.
        """
        width = heads.size(1)
        lengths = lengths.to(heads.device)
        if bool((lengths > width).any()):
            raise ValueError(f"a length exceeds the padded width {width}")
        mask = length_mask(lengths, width)
        if not bool(mask.any()):
            return arc_scores.sum() * 0.0
        self_head = heads == torch.arange(1, width + 1, device=heads.device)
        bad = mask & ((heads < 0) | (heads > lengths.unsqueeze(1)) | self_head)
        if bool(bad.any()):
            # A masked gold head would give a loss near 1e38: say which row is broken instead.
            b, i = bad.nonzero()[0].tolist()
            raise ValueError(
                f"batch row {b} word {i + 1}: gold head {int(heads[b, i])} is not another word or the "
                f"root (0..{int(lengths[b])}); check the treebank with tasks.n2path.formats.tree_problems"
            )
        dep_arc = arc_scores[:, 1:]  # [B, T, T+1]: rows of the real dependents
        arc_loss = F.cross_entropy(dep_arc[mask].float(), heads[mask])
        gold = heads.clamp(min=0).unsqueeze(-1).unsqueeze(-1).expand(-1, -1, 1, rel_scores.size(-1))
        at_gold = rel_scores[:, 1:].gather(2, gold).squeeze(2)  # [B, T, R]
        rel_loss = F.cross_entropy(at_gold[mask].float(), rels[mask])
        return arc_loss + rel_loss

    @torch.no_grad()
    def decode(
        self, arc_scores: torch.Tensor, rel_scores: torch.Tensor, lengths: torch.Tensor
    ) -> list[tuple[list[int], list[int]]]:
        """Per sentence (heads 1-based with 0 = root, relation ids): always one tree with one root child.

        With a 'root' relation in rel_names, the root's child gets it and no other word does.
        """
        out = []
        log_probs = F.log_softmax(arc_scores.float(), dim=-1).cpu()
        rel_scores = rel_scores.float().cpu()
        for b, n in enumerate(lengths.tolist()):
            n = int(n)
            if n <= 0:
                out.append(([], []))
                continue
            heads = chu_liu_edmonds(log_probs[b, : n + 1, : n + 1].T.numpy())
            index = torch.as_tensor(heads, dtype=torch.long)
            rel = rel_scores[b, torch.arange(1, n + 1), index].clone()  # [n, R]
            if self.root_rel is not None:
                is_root = index == 0
                rel[~is_root, self.root_rel] = float("-inf")
                rel[is_root] = float("-inf")
                rel[is_root, self.root_rel] = 0.0
            out.append((heads.tolist(), rel.argmax(dim=-1).tolist()))
        return out


def _mlp(in_dim: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.LeakyReLU(0.1), nn.Dropout(dropout))


def _with_one(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x.new_ones(*x.shape[:-1], 1)], dim=-1)


def _mean(emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Mean over the non-pad entries of dim 2 ([B,T,K,E] -> [B,T,E]); zero where all are padding."""
    keep = (ids != 0).unsqueeze(-1).to(emb.dtype)
    return (emb * keep).sum(2) / keep.sum(2).clamp(min=1.0)
