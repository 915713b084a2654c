"""params.yaml: loading, checking against the params schema, `--set key=value` overrides.

The schema (tasks/params_schema.json: dotted key -> type) is *generated* from the project's
params.yaml, never written by hand: params.yaml stays the one place where a knob, its default and
its comment live. Whoever adds or renames a key in params.yaml runs

    python -m tasks.params --write-schema

and commits both files; tests/test_params.py fails while the two disagree. Loading checks the
user's file against the schema, so a typo (`epoch: 5`) or a wrong type (`lr: fast`) in
params.yaml itself fails with the file, the dotted key and the known keys or the expected type,
instead of training with the default silently.

Flexible keys: a key whose default is null takes any value; an empty mapping (`type_map: {}`) is
a free-form map; a list's items are not checked (extra_sources, features, kernel_sizes);
and the keys matching NULLABLE may also be null. A user's file may leave keys out.
"""

from __future__ import annotations

import copy
import difflib
import json
import sys
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

PARAMS_FILE = Path("params.yaml")
SCHEMA_FILE = Path(__file__).with_name("params_schema.json")
# Keys that may be null although their default is not: columns a file lacks, "take it from the data".
NULLABLE = ("*.data.columns.*", "*.data.extra_sources", "*.data.type_map", "*.class_design.schema")
_EXPECT = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
           "list": "a list", "map": "a mapping", "section": "a section (a mapping of the keys below)"}


class ParamsError(ValueError):
    pass


def load_params(path: str | Path = PARAMS_FILE, overrides: list[str] | None = None,
                schema: dict[str, str] | None = None) -> dict:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found: run hanflow from the project root (the folder holding params.yaml).")
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ParamsError(f"{path} is not valid YAML: {err}") from err
    except UnicodeDecodeError as err:
        raise ParamsError(f"{path}: byte offset {err.start} is not valid utf-8; save the file as UTF-8") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: expected a mapping of problem sections (n21:, n2n:, ...), "
                          f"got a {type(params).__name__}")
    params = check_params(params, load_schema() if schema is None else schema, source=str(path))
    return apply_overrides(params, overrides or [], source=str(path))


# ---------------------------------------------------------------- --set overrides


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


# ---------------------------------------------------------------- the schema


def schema_of(params: dict) -> dict[str, str]:
    """dotted key -> type name ('int', 'float', 'bool', 'str', 'list', 'map', 'section', 'any'),
    with '?' appended where null is allowed too."""
    out: dict[str, str] = {}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, dict) and value:
                out[dotted] = "section"
                walk(value, dotted + ".")
                continue
            kind = _kind(value)
            nullable = kind != "any" and any(fnmatchcase(dotted, p) for p in NULLABLE)
            out[dotted] = kind + ("?" if nullable else "")

    walk(params, "")
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "any"
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("str", str), ("list", list),
                        ("map", dict)):
        if isinstance(value, types):
            return kind
    raise ParamsError(f"cannot describe a {type(value).__name__} in the params schema")


def load_schema() -> dict[str, str]:
    if not SCHEMA_FILE.exists():
        raise ParamsError(f"{SCHEMA_FILE} is missing: run `python -m tasks.params --write-schema`")
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def write_schema(params_path: str | Path = PARAMS_FILE) -> Path:
    from tasks.io import write_json

    params = yaml.safe_load(Path(params_path).read_text(encoding="utf-8")) or {}
    return write_json(schema_of(params), SCHEMA_FILE)


# ---------------------------------------------------------------- checking a file


def check_params(params: dict, schema: dict[str, str], source: str = "params.yaml") -> dict:
    """A copy of params with values coerced to the schema's types; every problem found is reported at once."""
    params = copy.deepcopy(params)
    problems: list[str] = []

    def walk(node: dict, prefix: str) -> None:
        for key in list(node):
            dotted = f"{prefix}{key}"
            expected = schema.get(dotted)
            if expected is None:
                problems.append(_unknown(dotted, prefix.rstrip("."), schema))
            elif expected == "section":
                if isinstance(node[key], dict):
                    walk(node[key], dotted + ".")
                else:
                    problems.append(f"{dotted}: expected {_EXPECT['section']}, got {_show(node[key])}")
            else:
                try:
                    node[key] = _check_value(expected, node[key])
                except ValueError:
                    problems.append(f"{dotted}: expected {_expected(expected)}, got {_show(node[key])}")

    walk(params, "")
    if len(problems) == 1:
        raise ParamsError(f"{source}: {problems[0]}")
    if problems:
        raise ParamsError(f"{source}: {len(problems)} problems:\n  - " + "\n  - ".join(problems))
    return params


def _unknown(dotted: str, parent: str, schema: dict[str, str]) -> str:
    depth = dotted.count(".")
    known = sorted(k.rsplit(".", 1)[-1] for k in schema
                   if k.count(".") == depth and (not parent or k.startswith(parent + ".")))
    key = dotted.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {'.'.join([parent, close[0]]) if parent else close[0]!r}?)" if close else ""
    where = f"in {parent}" if parent else "at the top level"
    return (f"unknown key {dotted!r}{hint}; known keys {where}: {', '.join(known) or '(none)'}. A key new in the "
            "code? Run `python -m tasks.params --write-schema` after adding it to the project's params.yaml")


def _check_value(expected: str, value: Any) -> Any:
    kind, nullable = expected.rstrip("?"), expected.endswith("?")
    if kind == "any" or (value is None and nullable):
        return value
    if value is None:
        raise ValueError
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError
    if isinstance(value, bool):  # bool is an int subclass: epochs: true is a typo
        raise ValueError
    if kind == "int" and isinstance(value, int):
        return value
    if kind == "float":
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError
    if kind == "str" and isinstance(value, (str, int, float)):
        return str(value)
    if (kind == "list" and isinstance(value, list)) or (kind == "map" and isinstance(value, dict)):
        return value
    raise ValueError


def _expected(expected: str) -> str:
    return _EXPECT[expected.rstrip("?")] + (" or null" if expected.endswith("?") else "")


def _show(value: Any) -> str:
    name = {type(None): "null", bool: "bool", int: "int", float: "float", str: "str", list: "list",
            dict: "mapping"}.get(type(value), type(value).__name__)
    return f"{name} {value!r}" if value is not None else "null"


if __name__ == "__main__":
    if sys.argv[1:2] != ["--write-schema"]:
        sys.exit("usage: python -m tasks.params --write-schema [params.yaml]")
    print(f"wrote {write_schema(sys.argv[2] if len(sys.argv) > 2 else PARAMS_FILE)}")
