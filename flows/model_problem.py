"""What a model directory is, and where `--model champion` points: shared by `hanflow evaluate` and `predict`.

Light on purpose (json and yaml only, no torch): predict's start time counts.
"""

from __future__ import annotations

import json
from pathlib import Path

PROBLEMS = ("n21", "n2n", "n2m", "n2path")
MODEL_CONFIG = "model_config.json"  # tasks/model_dir.py's MODEL_CONFIG; importing it would import torch
CHAMPION = "champion"


class ModelProblemError(ValueError):
    """A model directory that is missing, unreadable, or not the problem type asked for."""


def model_problem(model_dir: str | Path) -> str:
    """The problem type ("n21", "n2n", "n2m", "n2path") a trained model directory holds, from the
    "architecture" its model_config.json records (e.g. "n2n.TokenTagger")."""
    model_dir = Path(model_dir)
    config_path = model_dir / MODEL_CONFIG
    if not model_dir.is_dir():
        what = "is not a directory" if model_dir.exists() else "does not exist"
        raise ModelProblemError(
            f"model directory {model_dir} {what}: pass a folder written by `hanflow run` "
            "(e.g. data/n21/model) or --model champion"
        )
    if not config_path.is_file():
        raise ModelProblemError(
            f"{model_dir} has no {MODEL_CONFIG}: it is not a hanflow model directory "
            "(or an incomplete one); retrain with `hanflow run` or `dvc repro`"
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelProblemError(f"{config_path} is not readable JSON ({err}); retrain the model") from None
    architecture = config.get("architecture") if isinstance(config, dict) else None
    problem = architecture.split(".", 1)[0] if isinstance(architecture, str) else None
    if problem not in PROBLEMS:
        raise ModelProblemError(
            f"{config_path}: architecture {architecture!r} is not one hanflow knows "
            f"(expected one of {', '.join(p + '.*' for p in PROBLEMS)}); retrain the model"
        )
    return problem


def check_problem(model_dir: str | Path, problem: str | None) -> str:
    """The model directory's problem type; refuses a `--problem` that names another one."""
    found = model_problem(model_dir)
    if problem is not None and problem != found:
        architecture = json.loads((Path(model_dir) / MODEL_CONFIG).read_text(encoding="utf-8"))["architecture"]
        raise ModelProblemError(
            f"{model_dir} is an {found} model ({architecture}); you passed --problem {problem}: "
            f"drop --problem (it is read from the model) or pass a {problem} model directory"
        )
    return found


def is_champion(arg: str | Path) -> bool:
    text = str(arg)
    return text == CHAMPION or text.startswith(CHAMPION + ":")


def resolve_model(arg: str | Path, problem: str | None = None, params_file: str | Path = "params.yaml") -> Path:
    """`--model`'s value as a folder: `champion` (with `problem`) or `champion:n21` is the promoted
    champion, `<promote.champion_dir>/current` from params.yaml; anything else is a path, returned as is."""
    text = str(arg)
    if not is_champion(text):
        return Path(arg)
    named = text.partition(":")[2] or None
    if named is not None and named not in PROBLEMS:
        raise ModelProblemError(f"--model {text}: unknown problem {named!r}; use champion:<{'|'.join(PROBLEMS)}>")
    if named and problem and named != problem:
        raise ModelProblemError(f"--model {text} names {named} but --problem is {problem}: drop one of them")
    name = named or problem
    if name is None:
        raise ModelProblemError(
            "--model champion needs the problem type: pass --model champion:n21 "
            f"(or --problem n21); one of {', '.join(PROBLEMS)}"
        )
    from flows.champion import promote_settings
    from tasks.params import ParamsError, load_params

    try:
        section = load_params(params_file).get(name) or {}
    except ParamsError as err:
        raise ModelProblemError(f"--model {text}: {err}") from None
    except OSError as err:  # e.g. --params names a folder
        raise ModelProblemError(f"--model {text}: cannot read {params_file} ({err.strerror or err})") from None
    current = Path(promote_settings(name, section)["champion_dir"]) / "current"
    if not current.is_dir():
        raise ModelProblemError(
            f"--model {text}: no {name} champion at {current} yet: promote one with "
            f"`hanflow promote --problem {name}` or `hanflow retrain --problem {name}`, "
            f"or pass a model directory (e.g. data/{name}/model)"
        )
    return current
