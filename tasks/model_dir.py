"""The model directory: weights, config and JSON files written as one folder swapped in whole, and read back.

The architecture named in model_config.json (models.architecture) rebuilds the model, so any problem
type's folder loads through the same two functions.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models import architecture
from tasks.folders import MARKER, check_model_dir, mark
from tasks.io import atomic_path, read_json, remove_stale_temps, swap_in, temp_prefix, write_json
from tasks.training import pick_device

WEIGHTS = "weights.pt"
MODEL_CONFIG = "model_config.json"
MANIFEST = "manifest.json"


def build_model(model_config: dict[str, Any]) -> nn.Module:
    return architecture(model_config["architecture"])(model_config)


def save_model_dir(
    model_dir: str | Path, model: nn.Module, model_config: dict[str, Any], files: dict[str, Any]
) -> Path:
    """Write weights, config and `files` (name -> JSON-able, or bytes) to a fresh folder, then swap it in.

    Readers see the old complete folder or the new complete one, never a mix of
    new weights with an old vocabulary. The folder replaced must be hanflow's (tasks/folders.py): one
    holding anything else is refused, never deleted.
    """
    model_dir = check_model_dir(model_dir)
    reserved = {WEIGHTS, MODEL_CONFIG, MANIFEST, MARKER} & set(files)
    if reserved:
        raise ValueError(f"{sorted(reserved)} are written by save_model_dir itself")
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(model_dir)  # folders left by a run killed mid-save
    tmp = Path(tempfile.mkdtemp(prefix=f"{temp_prefix(model_dir)}new.", dir=model_dir.parent))
    try:
        # The model's own resolved config wins: it is what the weights were shaped by.
        config = {**model_config, **getattr(model, "config", {})}
        config["architecture"] = getattr(model, "architecture", None) or model_config.get("architecture")
        with atomic_path(tmp / WEIGHTS, ".pt") as path:
            # CPU tensors, state only: loadable with weights_only=True on a machine without a GPU.
            torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
        write_json(config, tmp / MODEL_CONFIG)
        for name, obj in files.items():
            if isinstance(obj, bytes):  # a binary file (e.g. n2m's reranker.skops), kept as is
                (tmp / name).write_bytes(obj)
            else:
                write_json(obj, tmp / name)
        write_json({"files": sorted([WEIGHTS, MODEL_CONFIG, *files])}, tmp / MANIFEST)
        mark(tmp, "model")
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        swap_in(tmp, check_model_dir(model_dir))  # again: another process may have filled it meanwhile
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return model_dir


def load_model_dir(
    model_dir: str | Path, device: str | torch.device = "cpu", required: tuple[str, ...] = ()
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model (eval mode) and read every JSON file of the folder into `bundle[file name]` (and the
    bytes of every .skops and .npz file)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(
            f"model directory {model_dir} does not exist: train a model first (`hanflow run` or `dvc repro`)."
        )
    expected = [WEIGHTS, MODEL_CONFIG, *required]
    if (model_dir / MANIFEST).exists():
        expected += read_json(model_dir / MANIFEST)["files"]
    missing = sorted({name for name in expected if not (model_dir / name).exists()})
    if missing:
        raise FileNotFoundError(
            f"model directory {model_dir} lacks {', '.join(missing)}: it is incomplete or "
            "from an older version; retrain (`hanflow run` or `dvc repro`)."
        )
    bundle = {p.name: read_json(p) for p in sorted(model_dir.glob("*.json")) if p.name != MANIFEST}
    # skops trees and numpy arrays, kept as bytes: loading either runs no pickled code
    bundle.update({p.name: p.read_bytes() for p in sorted([*model_dir.glob("*.skops"), *model_dir.glob("*.npz")])})
    model = build_model(bundle[MODEL_CONFIG])
    device = pick_device(device) if isinstance(device, str) else device
    state = torch.load(model_dir / WEIGHTS, map_location=device, weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval(), bundle
