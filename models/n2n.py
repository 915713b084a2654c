"""Sequence (n) to one tag per token (n): named entities, tagged per syllable.

Tagging syllables rather than morphemes lets an entity span map back to exact
character offsets even where the analyser splits or merges characters. Morpheme,
POS and boundary ids are optional extra features per syllable: each is on when its
size in the config is > 0 and must then be passed to `forward`, so a model never
runs without a feature it was trained with.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from models.crf import CRF, bio_constraints, decode_constrained
from models.encoders import BiLSTMEncoder, length_mask

DEFAULTS: dict[str, Any] = {
    "morph_vocab_size": 0,
    "pos_vocab_size": 0,
    # Syllable position in its word/morpheme: 0 pad, 1 word start, 2 morpheme start, 3 inside.
    "boundary_vocab_size": 0,
    "char_emb_dim": 64,
    "morph_emb_dim": 64,
    "pos_emb_dim": 16,
    "boundary_emb_dim": 8,
    "domain_vocab_size": 0,
    "domain_emb_dim": 8,
    "hidden_dim": 128,
    "num_layers": 2,
    "dropout": 0.3,
    "use_crf": True,
}
REQUIRED = ("vocab_size", "num_tags", "tag_names")
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


class TokenTagger(nn.Module):
    architecture = "n2n.TokenTagger"

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = resolve_config(config)
        c = self.config
        self.char_embedding = nn.Embedding(c["vocab_size"], c["char_emb_dim"], padding_idx=0)
        self.feature_embeddings = nn.ModuleDict()
        input_dim = c["char_emb_dim"]
        for name, size_key, dim_key in FEATURES:
            if c[size_key] > 0:
                self.feature_embeddings[name] = nn.Embedding(c[size_key], c[dim_key], padding_idx=0)
                input_dim += c[dim_key]
        self.dropout = nn.Dropout(c["dropout"])
        self.encoder = BiLSTMEncoder(input_dim, c["hidden_dim"], c["num_layers"], c["dropout"])
        self.output = nn.Linear(self.encoder.out_dim, c["num_tags"])
        allowed, allowed_start = bio_constraints(c["tag_names"])
        # Rebuilt from tag_names on load, so kept out of the state_dict.
        self.register_buffer("allowed", allowed, persistent=False)
        self.register_buffer("allowed_start", allowed_start, persistent=False)
        self.crf = CRF(c["num_tags"], allowed, allowed_start) if c["use_crf"] else None

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


def resolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and reject typos, so a saved model_config.json is complete and exact."""
    config = {k: v for k, v in config.items() if k != "architecture"}
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ValueError(f"model config lacks {missing}: they come from the vocabulary and tag schema")
    unknown = sorted(set(config) - set(DEFAULTS) - set(REQUIRED))
    if unknown:
        raise ValueError(f"unknown model config keys {unknown}; known: {sorted(set(DEFAULTS) | set(REQUIRED))}")
    resolved = {**DEFAULTS, **config}
    for key in (
        "vocab_size",
        "num_tags",
        "morph_vocab_size",
        "pos_vocab_size",
        "boundary_vocab_size",
        "domain_vocab_size",
        "char_emb_dim",
        "morph_emb_dim",
        "pos_emb_dim",
        "boundary_emb_dim",
        "domain_emb_dim",
        "hidden_dim",
        "num_layers",
    ):
        resolved[key] = int(resolved[key])
    resolved["dropout"] = float(resolved["dropout"])
    resolved["use_crf"] = bool(resolved["use_crf"])
    resolved["tag_names"] = [str(t) for t in resolved["tag_names"]]
    if len(resolved["tag_names"]) != resolved["num_tags"]:
        raise ValueError(f"num_tags is {resolved['num_tags']} but tag_names has {len(resolved['tag_names'])} names")
    if resolved["boundary_vocab_size"] not in (0, BOUNDARY_VOCAB):
        raise ValueError(f"boundary_vocab_size is 0 (off) or {BOUNDARY_VOCAB}, not {resolved['boundary_vocab_size']}")
    return resolved
