"""PyTorch models, one file per problem type's head. `architecture` maps the name stored in model_config.json
to its class through a fixed table, so loading a model directory never imports a name it read from disk; a
model file is imported only when its architecture is built, so one problem type's stages never depend on
another's model code."""

from __future__ import annotations

import importlib

ARCHITECTURES = {  # model_config.json's "architecture" -> (module, class)
    "n21.SequenceClassifier": ("models.n21", "SequenceClassifier"),
    "n2n.TokenTagger": ("models.n2n", "TokenTagger"),
    "n2m.Seq2Seq": ("models.n2m", "Seq2Seq"),
    "n2path.BiaffineParser": ("models.n2path", "BiaffineParser"),
}


def architecture(name: str) -> type:
    """The model class of an architecture name; ValueError for a name outside the table."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(ARCHITECTURES)}")
    module, cls = ARCHITECTURES[name]
    return getattr(importlib.import_module(module), cls)
