"""Sequence (n) to one tag per token (n): named entities, tagged per syllable.

Tagging syllables rather than morphemes lets an entity span map back to exact
character offsets even where the analyser splits or merges characters. Morpheme,
POS and boundary ids are optional extra features per syllable: each is on when its
size in the config is > 0 and must then be passed to `forward`, so a model never
runs without a feature it was trained with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from models.crf import CRF, bio_constraints, decode_constrained
from models.encoders import BiLSTMEncoder, ModelConfig, length_mask

BOUNDARY_VOCAB = 4
# Optional features: (forward argument, config size key, config dim key).
FEATURES = (
    ("morphs", "morph_vocab_size", "morph_emb_dim"),
    ("pos", "pos_vocab_size", "pos_emb_dim"),
    ("boundary", "boundary_vocab_size", "boundary_emb_dim"),
    # The sentence's source corpus, repeated per syllable: corpora annotate differently
    # (one tags 이틀 동안 as a date, another not), and the model can learn each convention.
    ("domain", "domain_vocab_size", "domain_emb_dim"),
)


@dataclass(frozen=True)
class N2NConfig(ModelConfig):
    vocab_size: int
    num_tags: int
    tag_names: list[str]
    morph_vocab_size: int = 0
    pos_vocab_size: int = 0
    # Syllable position in its word/morpheme: 0 pad, 1 word start, 2 morpheme start, 3 inside.
    boundary_vocab_size: int = 0
    char_emb_dim: int = 64
    morph_emb_dim: int = 64
    pos_emb_dim: int = 16
    boundary_emb_dim: int = 8
    domain_vocab_size: int = 0
    domain_emb_dim: int = 8
    hidden_dim: int = 128
    num_layers: int = 2
    dropout: float = 0.3
    use_crf: bool = True

    required_from = "the vocabulary and tag schema"

    def check(self) -> None:
        if len(self.tag_names) != self.num_tags:
            raise ValueError(f"num_tags is {self.num_tags} but tag_names has {len(self.tag_names)} names")
        if self.boundary_vocab_size not in (0, BOUNDARY_VOCAB):
            raise ValueError(f"boundary_vocab_size is 0 (off) or {BOUNDARY_VOCAB}, not {self.boundary_vocab_size}")


class TokenTagger(nn.Module):
    architecture = "n2n.TokenTagger"

    def __init__(self, config: dict[str, Any] | N2NConfig):
        super().__init__()
        self.cfg = c = N2NConfig.from_dict(config)
        self.config = c.as_dict()  # a plain dict: model_config.json, and what callers read
        self.char_embedding = nn.Embedding(c.vocab_size, c.char_emb_dim, padding_idx=0)
        self.feature_embeddings = nn.ModuleDict()
        input_dim = c.char_emb_dim
        for name, size_key, dim_key in FEATURES:
            size, dim = getattr(c, size_key), getattr(c, dim_key)
            if size > 0:
                self.feature_embeddings[name] = nn.Embedding(size, dim, padding_idx=0)
                input_dim += dim
        self.dropout = nn.Dropout(c.dropout)
        self.encoder = BiLSTMEncoder(input_dim, c.hidden_dim, c.num_layers, c.dropout)
        self.output = nn.Linear(self.encoder.out_dim, c.num_tags)
        allowed, allowed_start = bio_constraints(c.tag_names)
        # Rebuilt from tag_names on load, so kept out of the state_dict.
        self.register_buffer("allowed", allowed, persistent=False)
        self.register_buffer("allowed_start", allowed_start, persistent=False)
        self.crf = CRF(c.num_tags, allowed, allowed_start) if c.use_crf else None

    def forward(
        self,
        chars: torch.Tensor,
        lengths: torch.Tensor,
        morphs: torch.Tensor | None = None,
        pos: torch.Tensor | None = None,
        boundary: torch.Tensor | None = None,
        domain: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Emission scores [B, T, num_tags]; padding rows hold junk that the mask ignores."""
        given = {"morphs": morphs, "pos": pos, "boundary": boundary, "domain": domain}
        parts = [self.char_embedding(chars)]
        for name, size_key, _ in FEATURES:
            ids = given[name]
            if name in self.feature_embeddings:
                if ids is None:
                    raise ValueError(f"this model was built with {size_key} > 0: pass {name}")
                parts.append(self.feature_embeddings[name](ids))
            elif ids is not None:
                raise ValueError(f"this model was built without {name} ({size_key} = 0); do not pass it")
        x = self.dropout(torch.cat(parts, dim=-1))
        enc = self.encoder(x, lengths)
        return self.output(self.dropout(enc.states))

    def loss(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """CRF: mean sequence NLL. Softmax: token cross-entropy averaged over real tokens."""
        mask = self._mask(emissions, lengths)
        if self.crf is not None:
            return self.crf.neg_log_likelihood(emissions, tags, mask)
        logits = emissions.float()[mask]
        if logits.numel() == 0:
            return emissions.sum() * 0.0
        return F.cross_entropy(logits, tags[mask])

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """Best valid BIO tag ids per row, each list exactly lengths[i] long."""
        mask = self._mask(emissions, lengths)
        if self.crf is not None:
            return self.crf.decode(emissions, mask)
        return decode_constrained(emissions, mask, self.allowed, self.allowed_start)

    @staticmethod
    def _mask(emissions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        max_len = emissions.size(1)
        lengths = lengths.to(emissions.device)
        if bool((lengths > max_len).any()):
            raise ValueError(f"a length exceeds the padded width {max_len}")
        return length_mask(lengths, max_len)
