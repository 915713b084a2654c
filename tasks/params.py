"""params.yaml: loading, checking against the params schema, `--set key=value` overrides.

The schema (tasks/params_schema.json: dotted key -> type) is *generated* from the project's
params.yaml, never written by hand: params.yaml stays the one place where a knob, its default and
its comment live. Whoever adds or renames a key in params.yaml runs

    python -m tasks.params --write-schema

and commits both files; tests/test_params.py fails while the two disagree. Loading checks the
user's file against the schema, so a typo (`epoch: 5`) or a wrong type (`lr: fast`) in
params.yaml itself fails with the file, the dotted key and the known keys or the expected type,
instead of training with the default silently. Every `--set` is checked the same way, nested keys
of a mapping value included (a mapping given for a section is merged into it key by key), and so is
every number against its allowed range (RANGES).

Flexible keys: a key whose default is null takes any value; an empty mapping (`type_map: {}`) is
a free-form map; a list's items are not checked (extra_sources, features, kernel_sizes);
and the keys matching NULLABLE may also be null. A user's file may leave keys out: loading fills them
from the project's params.yaml as generated beside the schema (tasks/params_defaults.json), so the code
reads every key of its section and params.yaml is the one source of each default.

A schema entry is a type name ('int', 'float', 'bool', 'str', 'list', 'map', 'section', 'any'), '?'
appended where null is allowed too, and for numbers the allowed interval after a space:
"int [1, inf)", "float [0, 1]".
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
import sys
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

PARAMS_FILE = Path("params.yaml")
SCHEMA_FILE = Path(__file__).with_name("params_schema.json")
DEFAULTS_FILE = Path(__file__).with_name("params_defaults.json")  # params.yaml's values, written with the schema
# Keys that may be null although their default is not: columns a file lacks, "take it from the data".
NULLABLE = (
    "*.data.columns.*",
    "*.data.extra_sources",
    "*.data.type_map",
    "*.class_design.schema",
    "*.data.corrections",
)
# Allowed intervals of numeric keys; the first pattern that matches a key wins. 0 where params.yaml says
# "0: auto / off / no cut" (workers, threads, max_len, buckets, char_cnn_dim, patience: never stop).
RANGES = (
    ("*.evaluate.decode.beam_width", "[1, inf)"),
    ("*.evaluate.decode.max_len", "[1, inf)"),
    ("*.evaluate.decode.repetition_penalty", "(0, inf)"),
    ("*.evaluate.decode.*", "[0, inf)"),
    ("*.train.epochs", "[1, inf)"),
    ("*.train.finetune.epochs", "[1, inf)"),
    ("*.batch_size", "[1, inf)"),
    ("*.chunk_size", "[1, inf)"),
    ("*.train.char_cnn_dim", "[0, inf)"),
    ("*.train.*_dim", "[1, inf)"),
    ("*.train.*_mlp", "[1, inf)"),
    ("*.train.num_layers", "[1, inf)"),
    ("*dropout", "[0, 1)"),
    ("*.train.label_smoothing", "[0, 1)"),
    ("*.lr", "(0, inf)"),
    ("*.train.lr_decay", "(0, inf)"),
    ("*.train.weight_decay", "[0, inf)"),
    ("*.patience", "[0, inf)"),
    ("*.train.grad_clip", "[0, inf)"),
    ("*.train.threads", "[0, inf)"),
    ("*max_len", "[0, inf)"),
    ("*max_src_len", "[0, inf)"),
    ("*.seed", "[0, inf)"),
    ("*.workers", "[0, inf)"),
    ("*.data.max_quarantine_share", "[0, 1]"),
    ("*.data.split.dev", "[0, 1]"),
    ("*.data.split.test", "[0, 1]"),
    ("*.data.split.block_rows", "[0, inf)"),
    ("*min_freq", "[0, inf)"),
    ("*.encode.max_size", "[1, inf)"),
    ("*.encode.ngrams.buckets", "[0, inf)"),
    ("*.vectors.landmarks", "[1, inf)"),
    ("*.encode.retrieve_k", "[1, inf)"),
    ("*.encode.retrieve_gold_share", "[0, 1]"),
    ("*.encode.rerank_candidates", "[1, inf)"),
    ("*.encode.rerank_folds", "[2, inf)"),
    ("*.train.linear.weight", "[0, 1]"),
    ("*.train.linear.min_df", "[1, inf)"),
    ("*.train.linear.C", "(0, inf)"),
    ("*.label_review.folds", "[2, inf)"),
    ("*.label_review.min_df", "[1, inf)"),
    ("*.label_review.C", "(0, inf)"),
    ("*.label_review.*", "[0, inf)"),
    ("*.label_queue.near_duplicate", "[0, 1]"),
    ("*_share", "[0, 1]"),
    ("*_mostly", "[0, 1]"),
    ("*.class_design.drift_warn", "[0, 1]"),
    ("*.validate.*", "[0, inf)"),
    ("*.class_design.*", "[0, inf)"),
    ("*.evaluate.*", "[0, inf)"),
)
_EXPECT = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "list": "a list",
    "map": "a mapping",
    "section": "a section (a mapping of the keys below)",
}
_INTERVAL = re.compile(r"^([\[(])\s*([^,]*?)\s*,\s*([^\])]*?)\s*([\])])$")


class ParamsError(ValueError):
    pass


def load_params(
    path: str | Path = PARAMS_FILE, overrides: list[str] | None = None, schema: dict[str, str] | None = None
) -> dict:
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
        raise ParamsError(
            f"{path}: expected a mapping of problem sections (n21:, n2n:, ...), got a {type(params).__name__}"
        )
    schema = load_schema() if schema is None else schema
    params = with_defaults(check_params(params, schema, source=str(path)), load_defaults(), schema)
    return apply_overrides(params, overrides or [], source=str(path), schema=schema)


def with_defaults(params: dict, defaults: dict, schema: dict[str, str]) -> dict:
    """params with every key a problem section it has leaves out taken from `defaults` (the project's
    params.yaml); sections it does not have stay out, and a free-form map or a list it sets is kept whole."""

    def fill(node: dict, default: dict, prefix: str) -> None:
        for key, value in default.items():
            dotted = f"{prefix}{key}"
            if key not in node:
                node[key] = copy.deepcopy(value)
            elif schema.get(dotted) == "section" and isinstance(node[key], dict) and isinstance(value, dict):
                fill(node[key], value, dotted + ".")

    out = copy.deepcopy(params)
    for problem, section in out.items():
        if isinstance(section, dict) and isinstance(defaults.get(problem), dict):
            fill(section, defaults[problem], f"{problem}.")
    return out


# ---------------------------------------------------------------- --set overrides


def apply_overrides(
    params: dict, overrides: list[str], source: str = "params.yaml", schema: dict[str, str] | None = None
) -> dict:
    """Return a copy of params with each `a.b.c=value` applied.

    Values are parsed as YAML (so `5`, `0.1`, `true`, `[2,3]` keep their types) and checked against the
    schema (without one: the types and ranges of params itself): only known keys may be set, a value must
    have the key's type and lie in its range, and a mapping given for a section sets the keys it names. A
    typo should fail loudly, not train with the default silently.

    A work_dir set without model_dir takes the model along: when `model_dir` is `<work_dir>/model` in
    params, it becomes `<new work_dir>/model` (params.yaml keeps concrete paths: DVC reads them).
    """
    original = params
    params = copy.deepcopy(params)
    schema = schema_of(params) if schema is None else schema
    assigned: set[str] = set()
    for item in overrides:
        if "=" not in item:
            raise ParamsError(f"--set {item!r}: expected key=value, e.g. --set n21.train.epochs=5")
        dotted, raw = item.split("=", 1)
        dotted = dotted.strip()
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise ParamsError(f"--set {item!r}: the value is not valid YAML ({err.problem})") from err
        keys = dotted.split(".")
        node = params
        for depth, key in enumerate(keys[:-1]):
            here = ".".join(keys[: depth + 1])
            if key not in node and schema.get(here) == "section":
                node[key] = {}  # a section the user's file left out
            child = node.get(key)
            if not isinstance(child, dict) or schema.get(here) not in ("section", "map", "map?"):
                if key not in node:
                    raise ParamsError(f"--set {item}: {_unknown_override(here, node, schema, source)}")
                raise ParamsError(
                    f"--set {item}: {here!r} is not a section of {source} (it takes "
                    f"{_expected(schema.get(here, 'any'))}), so it has no key {keys[depth + 1]!r}"
                )
            node = child
        _assign(node, keys[-1], dotted, value, schema, source, item, assigned)
    _follow_work_dir(original, params, assigned)
    return params


def _assign(
    node: dict, key: str, dotted: str, value: Any, schema: dict[str, str], source: str, item: str, assigned: set[str]
) -> None:
    parent = dotted.rsplit(".", 1)[0] if "." in dotted else ""
    expected = schema.get(dotted)
    if expected is None:
        if schema.get(parent, "").startswith("map"):  # a free-form map's items: any key, any value
            node[key] = value
            assigned.add(dotted)
            return
        raise ParamsError(f"--set {item}: {_unknown_override(dotted, node, schema, source)}")
    if expected == "section":
        if not isinstance(value, dict):
            raise ParamsError(
                f"--set {item}: {dotted} is a section: expected a mapping of its keys "
                f"({', '.join(_children(dotted, schema))}), got {_show(value)}"
            )
        target = node.get(key)
        if not isinstance(target, dict):
            target = node[key] = {}
        for child, child_value in value.items():  # merged key by key: keys it does not name keep their values
            _assign(target, str(child), f"{dotted}.{child}", child_value, schema, source, item, assigned)
        return
    try:
        node[key] = _check_value(expected, value)
    except _Invalid as err:
        named = "" if item.split("=", 1)[0].strip() == dotted else f"{dotted}: "  # a key inside a mapping value
        raise ParamsError(f"--set {item}: {named}{err}") from None
    assigned.add(dotted)


def _follow_work_dir(original: dict, params: dict, assigned: set[str]) -> None:
    for name, section in params.items():
        before = original.get(name)
        if (
            f"{name}.work_dir" not in assigned
            or f"{name}.model_dir" in assigned
            or not isinstance(before, dict)
            or not isinstance(before.get("work_dir"), str)
            or not isinstance(before.get("model_dir"), str)
        ):
            continue
        if Path(before["model_dir"]) == Path(before["work_dir"]) / "model":
            section["model_dir"] = str(Path(section["work_dir"]) / "model")


def _unknown_override(dotted: str, node: dict, schema: dict[str, str], source: str) -> str:
    parent, _, key = dotted.rpartition(".")
    known = sorted(set(node) | set(_children(parent, schema)))
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {'.'.join([parent, close[0]]) if parent else close[0]!r}?)" if close else ""
    where = f"in {parent}" if parent else "at the top level"
    return f"unknown key {key!r} {where} of {source}{hint}; known: {', '.join(known) or '(none)'}"


def _children(parent: str, schema: dict[str, str]) -> list[str]:
    depth = parent.count(".") + 1 if parent else 0
    return sorted(
        k.rsplit(".", 1)[-1] for k in schema if k.count(".") == depth and (not parent or k.startswith(parent + "."))
    )


def _known(node: Any) -> str:
    return ", ".join(sorted(node)) if isinstance(node, dict) else "(none)"


def section(params: dict, problem: str) -> dict:
    if problem not in params:
        raise ParamsError(f"params.yaml has no section {problem!r}; sections: {_known(params)}")
    return params[problem]


# ---------------------------------------------------------------- the schema


def schema_of(params: dict) -> dict[str, str]:
    """dotted key -> type name, '?' appended where null is allowed too, and the interval numbers must lie in."""
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
            interval = (
                next((r for p, r in RANGES if fnmatchcase(dotted, p)), None) if kind in ("int", "float") else None
            )
            out[dotted] = kind + ("?" if nullable else "") + (f" {interval}" if interval else "")

    walk(params, "")
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "any"
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("str", str), ("list", list), ("map", dict)):
        if isinstance(value, types):
            return kind
    raise ParamsError(f"cannot describe a {type(value).__name__} in the params schema")


def load_schema() -> dict[str, str]:
    if not SCHEMA_FILE.exists():
        raise ParamsError(f"{SCHEMA_FILE} is missing: run `python -m tasks.params --write-schema`")
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def load_defaults() -> dict:
    if not DEFAULTS_FILE.exists():
        raise ParamsError(f"{DEFAULTS_FILE} is missing: run `python -m tasks.params --write-schema`")
    return json.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))


def write_schema(params_path: str | Path = PARAMS_FILE) -> Path:
    """The schema and the defaults, both from the project's params.yaml."""
    from tasks.io import write_json

    params = yaml.safe_load(Path(params_path).read_text(encoding="utf-8")) or {}
    write_json(params, DEFAULTS_FILE)
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
                except _Invalid as err:
                    problems.append(f"{dotted}: {err}")

    walk(params, "")
    if len(problems) == 1:
        raise ParamsError(f"{source}: {problems[0]}")
    if problems:
        raise ParamsError(f"{source}: {len(problems)} problems:\n  - " + "\n  - ".join(problems))
    return params


def _unknown(dotted: str, parent: str, schema: dict[str, str]) -> str:
    known = _children(parent, schema)
    key = dotted.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {'.'.join([parent, close[0]]) if parent else close[0]!r}?)" if close else ""
    where = f"in {parent}" if parent else "at the top level"
    return (
        f"unknown key {dotted!r}{hint}; known keys {where}: {', '.join(known) or '(none)'}. A key new in the "
        "code? Run `python -m tasks.params --write-schema` after adding it to the project's params.yaml"
    )


class _Invalid(ValueError):
    """A value of the wrong type or out of range; the message says what was expected and what came."""


def _check_value(expected: str, value: Any) -> Any:
    head, _, interval = expected.partition(" ")
    kind, nullable = head.rstrip("?"), head.endswith("?")
    if kind == "any" or (value is None and nullable):
        return value
    try:
        checked = _typed(kind, value)
    except ValueError:
        raise _Invalid(f"expected {_expected(head)}, got {_show(value)}") from None
    if interval and not _within(checked, interval):
        raise _Invalid(f"{checked!r} is out of range: expected {_expected(expected)}")
    return checked


def _typed(kind: str, value: Any) -> Any:
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


def _bounds(interval: str) -> tuple[float, bool, float, bool]:
    """(low, low included, high, high included) of "[1, inf)", "(0, 1]", ..."""
    match = _INTERVAL.match(interval)
    if not match:
        raise ParamsError(f"bad interval {interval!r} in tasks/params.py RANGES")
    left, low, high, right = match.groups()
    return (float(low or "-inf"), left == "[", float(high or "inf"), right == "]")


def _within(value: float, interval: str) -> bool:
    low, low_in, high, high_in = _bounds(interval)
    if isinstance(value, float) and math.isnan(value):
        return False
    return (value > low or (low_in and value == low)) and (value < high or (high_in and value == high))


def _range_words(interval: str) -> str:
    low, low_in, high, high_in = _bounds(interval)
    if math.isinf(high):
        return f"{'>=' if low_in else '>'} {low:g}"
    if math.isinf(low):
        return f"{'<=' if high_in else '<'} {high:g}"
    return f"in {'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"


def _expected(expected: str) -> str:
    head, _, interval = expected.partition(" ")
    words = _EXPECT.get(head.rstrip("?"), "any value")
    return words + (f" {_range_words(interval)}" if interval else "") + (" or null" if head.endswith("?") else "")


def _show(value: Any) -> str:
    name = {
        type(None): "null",
        bool: "bool",
        int: "int",
        float: "float",
        str: "str",
        list: "list",
        dict: "mapping",
    }.get(type(value), type(value).__name__)
    return f"{name} {value!r}" if value is not None else "null"


if __name__ == "__main__":
    if sys.argv[1:2] != ["--write-schema"]:
        sys.exit("usage: python -m tasks.params --write-schema [params.yaml]")
    print(f"wrote {write_schema(sys.argv[2] if len(sys.argv) > 2 else PARAMS_FILE)} and {DEFAULTS_FILE}")
