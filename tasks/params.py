"""params.yaml: loading, `--set key=value` overrides, and checks a user can act on."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

PARAMS_FILE = Path("params.yaml")


class ParamsError(ValueError):
    pass


def load_params(path: str | Path = PARAMS_FILE, overrides: list[str] | None = None) -> dict:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found: run hanflow from the project root (the folder holding params.yaml).")
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ParamsError(f"{path} is not valid YAML: {err}") from err
    return apply_overrides(params, overrides or [], source=str(path))


def apply_overrides(params: dict, overrides: list[str], source: str = "params.yaml") -> dict:
    """Return a copy of params with each `a.b.c=value` applied.

    Values are parsed as YAML (so `5`, `0.1`, `true`, `[2,3]` keep their types). Only keys that
    already exist may be set, and a value must keep the key's type: a typo should fail loudly,
    not train with the default silently.
    """
    params = copy.deepcopy(params)
    for item in overrides:
        if "=" not in item:
            raise ParamsError(f"--set {item!r}: expected key=value, e.g. --set n21.train.epochs=5")
        dotted, raw = item.split("=", 1)
        keys = dotted.strip().split(".")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise ParamsError(f"--set {item!r}: the value is not valid YAML ({err.problem})") from err
        node = params
        for depth, key in enumerate(keys[:-1]):
            child = node.get(key) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                where = ".".join(keys[: depth + 1])
                raise ParamsError(f"--set {dotted}: {where!r} is not a section of {source}; known: {_known(node)}")
            node = child
        last = keys[-1]
        if last not in node:
            raise ParamsError(f"--set {dotted}: unknown key {last!r} in {source}; known: {_known(node)}")
        node[last] = _coerce(dotted, node[last], value)
    return params


def _coerce(dotted: str, old: Any, new: Any) -> Any:
    if old is None or new is None:
        return new
    if isinstance(old, bool) != isinstance(new, bool):  # bool is an int subclass: epochs=true is a typo
        raise ParamsError(f"--set {dotted}={new!r}: expected {type(old).__name__} (like the current value {old!r})")
    if isinstance(new, type(old)):
        return new
    if isinstance(old, float) and isinstance(new, str):  # PyYAML reads 1e-3 as a string
        try:
            return float(new)
        except ValueError:
            pass
    if isinstance(old, float) and isinstance(new, int) and not isinstance(new, bool):
        return float(new)
    if isinstance(old, str):
        return str(new)
    raise ParamsError(
        f"--set {dotted}={new!r}: expected {type(old).__name__} (like the current value {old!r}), "
        f"got {type(new).__name__}"
    )


def _known(node: Any) -> str:
    return ", ".join(sorted(node)) if isinstance(node, dict) else "(none)"


def section(params: dict, problem: str) -> dict:
    if problem not in params:
        raise ParamsError(f"params.yaml has no section {problem!r}; sections: {_known(params)}")
    return params[problem]
