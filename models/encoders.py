"""Building blocks shared by every problem type.

Token tagging and parsing need one state per token and sequence classification
needs one vector per sequence, so encoders always return same-length states plus
a padding mask, and pooling is a separate module. Padding id 0 is assumed
everywhere; a mask, never the pad embedding, decides what is real.

ModelConfig is the base of every model's config dataclass (nanoGPT's GPTConfig, plus checks): it lives
here rather than in a file of its own because every model file imports this one already, so a model
stage's code deps stay what they were.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple, TypeVar

import torch
from torch import nn
from torch.nn import functional as F

PAD_ID = 0

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
POOLINGS = ("mean", "max", "last", "attention")
ConfigT = TypeVar("ConfigT", bound="ModelConfig")


class ModelConfig:
    """Base of the models' `@dataclass(frozen=True)` configs: fields without a default are required (they
    come from the data: vocabulary sizes, label names), defaulted fields are the model's defaults.

    Every field is converted to its declared type on construction (int, float, bool, str, list[...],
    `... | None`), so a config read from JSON or YAML holds exactly what the model is built from, and
    `check` (overridden per model) then rejects values that do not fit together.
    """

    # Where the required fields come from, for the error that names the missing ones.
    required_from: ClassVar[str] = "the data"

    @classmethod
    def from_dict(cls: type[ConfigT], config: Mapping[str, Any] | ConfigT) -> ConfigT:
        """The config of a dict (model_config.json, a flow's model section; "architecture" is ignored), or
        an instance as is. Missing required keys and unknown keys (typos) are errors that name them, so a
        saved model_config.json is complete and exact."""
        if isinstance(config, cls):
            return config
        if isinstance(config, ModelConfig):
            raise TypeError(f"{cls.__name__} wanted, got a {type(config).__name__}")
        config = {k: v for k, v in config.items() if k != "architecture"}
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        required = [
            f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [k for k in required if k not in config]
        if missing:
            raise ValueError(f"model config lacks {missing}: they come from {cls.required_from}")
        known = {f.name for f in fields}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; known: {sorted(known)}")
        return cls(**config)

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (lists copied): what model.config holds and model_config.json stores."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def __post_init__(self) -> None:
        hints = _type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            object.__setattr__(self, f.name, _as_type(getattr(self, f.name), hints[f.name]))
        self.check()

    def check(self) -> None:
        """Checks across fields, after the type conversion: ValueError for a config no model can be built from."""


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _as_type(value: Any, hint: Any) -> Any:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        if value is None:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        args = typing.get_args(hint)
    if typing.get_origin(hint) is list:
        return [_as_type(v, args[0]) for v in value]
    if hint in (int, float, bool, str):
        return hint(value)
    return value


def activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Bool [B, T], True on real tokens."""
    positions = torch.arange(max_len, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


class EncoderOutput(NamedTuple):
    states: torch.Tensor  # [B, T, D]
    mask: torch.Tensor  # [B, T] bool
    # [B, D] summary an encoder can give better than "state at length-1" (the
    # backward LSTM's last real state sits at position 0, not at the end).
    last: torch.Tensor | None = None


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size: int, emb_dim: int, dropout: float = 0.0, padding_idx: int = PAD_ID):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=padding_idx)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = emb_dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.embedding(ids))


@torch.no_grad()
def start_from(embedding: nn.Embedding, rows: Any, vectors: Any) -> None:
    """Pretrained vectors (arrays or tensors) for some rows (tasks/vectors.py); the rest keep their random start.
    Training then moves all of them: the vectors are a starting point, not frozen."""
    rows, vectors = torch.as_tensor(rows), torch.as_tensor(vectors)
    if vectors.shape[1:] != embedding.weight.shape[1:]:
        raise ValueError(
            f"pretrained vectors have {vectors.shape[1]} dimensions but the embedding has "
            f"{embedding.weight.shape[1]}: rerun the vectors stage after changing the embedding size"
        )
    embedding.weight[rows] = vectors.to(embedding.weight)


class BiLSTMEncoder(nn.Module):
    """Bidirectional LSTM that never lets padding reach a real position.

    The backward direction runs over each sequence reversed within its own length,
    so padding stays at the end for both directions. That needs no packing: on
    CPU, packed sequences are about 1.5x slower than plain padded batches.
    """

    def __init__(self, input_dim: int, hidden_dim: int, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        dims = [input_dim] + [2 * hidden_dim] * (num_layers - 1)
        self.forward_layers = nn.ModuleList(nn.LSTM(d, hidden_dim, batch_first=True) for d in dims)
        self.backward_layers = nn.ModuleList(nn.LSTM(d, hidden_dim, batch_first=True) for d in dims)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = 2 * hidden_dim

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        batch, max_len = x.shape[:2]
        # An empty document reaches here as one pad token; give it one step so its state is defined.
        lengths = lengths.to(x.device).clamp(min=1, max=max_len)
        mask = length_mask(lengths, max_len)
        steps = torch.arange(max_len, device=x.device).unsqueeze(0)
        # Maps position t to length-1-t inside the sequence and leaves padding in place;
        # applying it twice is the identity, so it also undoes itself.
        flip = torch.where(mask, lengths.unsqueeze(1) - 1 - steps, steps)
        for depth, (fwd, bwd) in enumerate(zip(self.forward_layers, self.backward_layers)):
            if depth:
                x = self.dropout(x)
            ahead, _ = fwd(x)
            behind, _ = bwd(_gather_steps(x, flip))
            x = torch.cat([ahead, _gather_steps(behind, flip)], dim=-1)
        x = x * mask.unsqueeze(-1).to(x.dtype)
        hidden = self.out_dim // 2
        rows = torch.arange(batch, device=x.device)
        # Each direction's final state: forward at the last real token, backward at position 0.
        last = torch.cat([x[rows, lengths - 1, :hidden], x[:, 0, hidden:]], dim=-1)
        return EncoderOutput(x, mask, last)


def _gather_steps(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(-1)))


class CNNEncoder(nn.Module):
    """Parallel convolutions of several widths, concatenated, one output per position."""

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        kernel_sizes: tuple[int, ...] | list[int] = (2, 3, 4),
        num_layers: int = 1,
        activation_name: str = "relu",
        dropout: float = 0.0,
    ):
        super().__init__()
        if not kernel_sizes:
            raise ValueError("CNNEncoder needs at least one kernel size")
        self.layers = nn.ModuleList()
        in_dim = input_dim
        for _ in range(max(1, num_layers)):
            convs = nn.ModuleList(nn.Conv1d(in_dim, hidden_dim, k) for k in kernel_sizes)
            self.layers.append(convs)
            in_dim = hidden_dim * len(kernel_sizes)
        self.act = activation(activation_name)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = in_dim

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        max_len = x.size(1)
        mask = length_mask(lengths.clamp(min=1, max=max_len), max_len)
        keep = mask.unsqueeze(-1).to(x.dtype)
        for depth, convs in enumerate(self.layers):
            # Zeroing pads before every layer stops a window at the end of a short
            # sequence from reading whatever the batch put after it.
            h = (x * keep).transpose(1, 2)
            x = self.act(torch.cat([conv(_same_pad(h, conv.kernel_size[0])) for conv in convs], dim=1))
            x = x.transpose(1, 2)
            if depth < len(self.layers) - 1:
                x = self.dropout(x)
        return EncoderOutput(x * keep, mask, None)


def _same_pad(h: torch.Tensor, width: int) -> torch.Tensor:
    # Output length T for odd and even widths alike (token tagging needs one state per token);
    # Conv1d(padding="same") warns and copies for even widths.
    return F.pad(h, ((width - 1) // 2, width // 2))


class Pooling(nn.Module):
    """Sequence states [B, T, D] -> one vector [B, D], ignoring padding."""

    def __init__(self, kind: str, dim: int):
        super().__init__()
        if kind not in POOLINGS:
            raise ValueError(f"unknown pooling {kind!r}; choose one of {list(POOLINGS)}")
        self.kind = kind
        self.out_dim = dim
        if kind == "attention":
            # Additive (Bahdanau-style) scoring: v^T tanh(W h).
            self.proj = nn.Linear(dim, dim)
            self.score = nn.Linear(dim, 1, bias=False)

    def forward(self, enc: EncoderOutput) -> torch.Tensor:
        states, mask = enc.states, enc.mask
        if self.kind == "mean":
            keep = mask.unsqueeze(-1).to(states.dtype)
            return (states * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        if self.kind == "max":
            return states.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(dim=1).values
        if self.kind == "last":
            if enc.last is not None:
                return enc.last
            last_index = mask.sum(1).clamp(min=1) - 1
            return states[torch.arange(states.size(0), device=states.device), last_index]
        weights = self.attention_weights(enc)
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1)

    def attention_weights(self, enc: EncoderOutput) -> torch.Tensor:
        """[B, T] weights summing to 1 over real tokens; exposed for inspection."""
        scores = self.score(torch.tanh(self.proj(enc.states))).squeeze(-1)
        return torch.softmax(scores.masked_fill(~enc.mask, float("-inf")), dim=-1)
