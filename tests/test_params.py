"""params: `--set key=value` overrides keep types and fail loudly; load errors name the file."""

from __future__ import annotations

import json
import copy
from pathlib import Path

import pytest
import yaml

from tasks.params import ParamsError, apply_overrides, load_params, section

BASE = {
    "n21": {
        "work_dir": "data/n21",
        "data": {"columns": {"text": "text", "split": None}, "split": {"dev": 0.1, "seed": 13}},
        "tokenize": {"tagger": "mecab", "join_pos": False, "workers": 1},
        "train": {"epochs": 15, "lr": 0.002, "dropout": 0.3, "kernel_sizes": [2, 3, 4], "device": "auto"},
    }
}


def test_overrides_keep_types():
    out = apply_overrides(
        BASE,
        [
            "n21.train.epochs=5",
            "n21.train.lr=1",
            "n21.tokenize.join_pos=true",
            "n21.train.kernel_sizes=[3, 5]",
            "n21.train.dropout=0.5",
            "n21.data.columns.split=part",
            "n21.tokenize.tagger=okt",
        ],
    )
    train, tokenize = out["n21"]["train"], out["n21"]["tokenize"]
    assert train["epochs"] == 5 and type(train["epochs"]) is int
    assert train["lr"] == 1.0 and type(train["lr"]) is float  # float key given an int
    assert tokenize["join_pos"] is True
    assert train["kernel_sizes"] == [3, 5]
    assert train["dropout"] == 0.5
    assert out["n21"]["data"]["columns"]["split"] == "part"  # a null key takes any value
    assert tokenize["tagger"] == "okt"


def test_string_key_keeps_string_type():
    out = apply_overrides(BASE, ["n21.work_dir=123", "n21.train.device=", "n21.data.columns.text=a=b"])
    assert out["n21"]["work_dir"] == "123"
    assert out["n21"]["train"]["device"] == ""
    assert out["n21"]["data"]["columns"]["text"] == "a=b"  # split on the first '=' only


def test_later_override_wins():
    out = apply_overrides(BASE, ["n21.train.epochs=5", "n21.train.epochs=7"])
    assert out["n21"]["train"]["epochs"] == 7


def test_unknown_key_lists_known_keys():
    with pytest.raises(ParamsError) as err:
        apply_overrides(BASE, ["n21.train.epoch=5"])
    msg = str(err.value)
    assert "'epoch'" in msg
    assert "device, dropout, epochs, kernel_sizes, lr" in msg
    assert "params.yaml" in msg


def test_unknown_section_names_it():
    with pytest.raises(ParamsError, match=r"unknown key 'trian' in n21 .*did you mean 'n21\.train'.*known: .*train"):
        apply_overrides(BASE, ["n21.trian.epochs=5"])
    with pytest.raises(ParamsError, match="'n21.train.epochs' is not a section .*an integer.* no key 'x'"):
        apply_overrides(BASE, ["n21.train.epochs.x=5"])


@pytest.mark.parametrize(
    "item, expected",
    [
        ("n21.train.epochs=abc", "expected an integer, got str 'abc'"),
        ("n21.train.lr=fast", "expected a number, got str 'fast'"),
        ("n21.tokenize.join_pos=1", "expected true or false, got int 1"),
        ("n21.train.kernel_sizes=5", "expected a list, got int 5"),
        (
            "n21.data.split=0.1",
            "n21.data.split is a section: expected a mapping of its keys (dev, seed), got float 0.1",
        ),
        ("n21.work_dir=[a, b]", "expected a string, got list ['a', 'b']"),  # not stringified
        ("n21.train.epochs=null", "expected an integer, got null"),
    ],
)
def test_wrong_type_rejected(item, expected):
    with pytest.raises(ParamsError) as err:
        apply_overrides(BASE, [item])
    assert str(err.value) == f"--set {item}: {expected}"


def test_bool_for_int_key_rejected():
    with pytest.raises(ParamsError, match="expected an integer"):
        apply_overrides(BASE, ["n21.train.epochs=true"])


def test_malformed_value_is_params_error():
    with pytest.raises(ParamsError, match="kernel_sizes"):
        apply_overrides(BASE, ["n21.train.kernel_sizes=[2,3"])


def test_scientific_notation_float():
    assert apply_overrides(BASE, ["n21.train.lr=1e-3"])["n21"]["train"]["lr"] == pytest.approx(0.001)


def test_missing_equals_rejected():
    with pytest.raises(ParamsError, match="expected key=value"):
        apply_overrides(BASE, ["n21.train.epochs"])


def test_input_not_mutated():
    before = copy.deepcopy(BASE)
    out = apply_overrides(BASE, ["n21.train.epochs=5", "n21.train.kernel_sizes=[7]"])
    assert BASE == before
    assert out is not BASE
    out["n21"]["train"]["kernel_sizes"].append(9)
    assert BASE["n21"]["train"]["kernel_sizes"] == [2, 3, 4]
    with pytest.raises(ParamsError):
        apply_overrides(BASE, ["n21.train.epochs=5", "n21.train.nope=1"])
    assert BASE == before  # a failed call leaves it alone too


def test_load_params_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "params.yaml"
    with pytest.raises(ParamsError, match="not found") as err:
        load_params(path)
    assert str(path) in str(err.value)


def test_load_params_invalid_yaml(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("n21:\n  train: [1, 2\n  epochs: 3\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="not valid YAML") as err:
        load_params(path)
    assert str(path) in str(err.value)


def test_load_params_with_overrides_names_the_file(tmp_path):
    path = tmp_path / "my_params.yaml"
    path.write_text(yaml.safe_dump(BASE, allow_unicode=True), encoding="utf-8")
    params = load_params(path, ["n21.train.epochs=2"])
    assert params["n21"]["train"]["epochs"] == 2
    assert params["n21"]["train"]["lr"] == 0.002
    with pytest.raises(ParamsError, match="my_params.yaml"):
        load_params(path, ["n21.train.bogus=1"])
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert load_params(empty) == {}


def test_section():
    assert section(BASE, "n21") is BASE["n21"]
    with pytest.raises(ParamsError, match="no section 'n99'; sections: n21"):
        section(BASE, "n99")


def test_project_params_file_loads():
    root = Path(__file__).resolve().parents[1]
    params = load_params(root / "params.yaml", ["n21.train.epochs=1"])
    assert params["n21"]["train"]["epochs"] == 1
    assert params["n21"]["tokenize"]["tagger"] in ("mecab", "okt", "komoran", "hannanum", "kkma", "kiwi")


# --- the params schema: checks the user's params.yaml itself -----------------------------------

from tasks.params import DEFAULTS_FILE, SCHEMA_FILE, check_params, load_defaults, load_schema, schema_of  # noqa: E402

SCHEMA = schema_of(
    {
        "n21": {
            "work_dir": "data/n21",
            "data": {"columns": {"id": "id", "split": None}, "type_map": {}, "max_quarantine_share": 0.1},
            "class_design": {"schema": "data/schema/labels.yaml"},
            "train": {"epochs": 15, "lr": 0.002, "kernel_sizes": [2, 3], "use_crf": True, "predict_domain": None},
        },
    }
)


def test_schema_types_and_flexible_keys():
    assert SCHEMA["n21"] == SCHEMA["n21.data"] == "section"
    assert SCHEMA["n21.data.columns.id"] == "str?"  # a column the file lacks: null
    assert SCHEMA["n21.data.columns.split"] == "any"  # null default: any value
    assert SCHEMA["n21.data.type_map"] == "map?"  # user-defined items
    assert SCHEMA["n21.class_design.schema"] == "str?"  # null: take the classes from the data
    assert SCHEMA["n21.train.kernel_sizes"] == "list"
    assert (SCHEMA["n21.train.epochs"], SCHEMA["n21.train.lr"], SCHEMA["n21.train.use_crf"]) == (
        "int [1, inf)",
        "float (0, inf)",
        "bool",
    )  # numbers carry their allowed interval (RANGES)


def test_check_params_coerces_and_accepts_flexible_values():
    user = {
        "n21": {
            "work_dir": 7,
            "data": {
                "columns": {"id": None, "split": "part"},
                "max_quarantine_share": 0,
                "type_map": {"PER": "PS", "POH": None},
            },
            "class_design": {"schema": None},
            "train": {"epochs": 3, "lr": "1e-3", "kernel_sizes": [5], "predict_domain": {"any": "thing"}},
        }
    }
    out = check_params(user, SCHEMA)
    assert out["n21"]["work_dir"] == "7"
    assert out["n21"]["train"]["lr"] == pytest.approx(0.001)  # PyYAML reads 1e-3 as a string
    assert (
        out["n21"]["data"]["max_quarantine_share"] == 0.0 and type(out["n21"]["data"]["max_quarantine_share"]) is float
    )
    assert out["n21"]["data"]["type_map"] == {"PER": "PS", "POH": None}
    assert user["n21"]["train"]["lr"] == "1e-3"  # input not mutated
    assert check_params({}, SCHEMA) == {}  # keys may be left out


@pytest.mark.parametrize(
    "section, expected",
    [
        ({"train": {"epochs": True}}, "n21.train.epochs: expected an integer, got bool True"),
        ({"train": {"epochs": 2.5}}, "n21.train.epochs: expected an integer, got float 2.5"),
        ({"train": {"use_crf": "yes"}}, "n21.train.use_crf: expected true or false, got str 'yes'"),
        ({"train": {"kernel_sizes": 3}}, "n21.train.kernel_sizes: expected a list, got int 3"),
        ({"train": {"lr": None}}, "n21.train.lr: expected a number, got null"),
        ({"work_dir": ["a"]}, "n21.work_dir: expected a string, got list ['a']"),
        ({"data": {"columns": {"id": [1]}}}, "n21.data.columns.id: expected a string or null, got list [1]"),
        ({"data": 3}, "n21.data: expected a section (a mapping of the keys below), got int 3"),
    ],
)
def test_check_params_wrong_types(section, expected):
    with pytest.raises(ParamsError) as err:
        check_params({"n21": section}, SCHEMA, source="my.yaml")
    assert str(err.value) == f"my.yaml: {expected}"


def test_check_params_unknown_keys_suggest_and_list_known():
    with pytest.raises(ParamsError) as err:
        check_params({"n21": {"trian": {"epochs": 1}}}, SCHEMA, source="p.yaml")
    assert str(err.value).startswith(
        "p.yaml: unknown key 'n21.trian' (did you mean 'n21.train'?); known keys in "
        "n21: class_design, data, train, work_dir."
    )
    with pytest.raises(ParamsError, match=r"unknown key 'n99'; known keys at the top level: n21\."):
        check_params({"n99": {}}, SCHEMA)


def test_load_params_checks_the_file_before_overrides(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("n21:\n  train:\n    epochs: 5\n    lr: 1e-3\n", encoding="utf-8")
    params = load_params(path, ["n21.train.epochs=2"], schema=SCHEMA)
    assert params["n21"]["train"]["epochs"] == 2 and params["n21"]["train"]["lr"] == 0.001
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="expected a mapping of problem sections"):
        load_params(path, schema=SCHEMA)


def test_schema_file_matches_the_project_params():
    """The generated schema knows every key of params.yaml and no other: else run
    `python -m tasks.params --write-schema` (tasks/params.py)."""
    root = Path(__file__).resolve().parents[1]
    project = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    schema = load_schema()
    assert sorted(schema_of(project)) == sorted(schema), (
        f"{SCHEMA_FILE} is stale: run python -m tasks.params --write-schema"
    )
    assert load_defaults() == json.loads(json.dumps(project)), f"{DEFAULTS_FILE} is stale: run the same command"
    check_params(project, schema)


def test_a_users_file_that_leaves_keys_out_gets_params_yamls_values(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "n21:\n  data:\n    path: reviews.csv\n    format: csv\n  train:\n    epochs: 3\n", encoding="utf-8"
    )
    params = load_params(path)
    project = load_params(PROJECT)
    assert params["n21"]["data"]["path"] == "reviews.csv" and params["n21"]["train"]["epochs"] == 3
    assert params["n21"]["data"]["header"] == project["n21"]["data"]["header"]  # filled, key by key
    assert params["n21"]["train"]["lr"] == project["n21"]["train"]["lr"]
    assert params["n21"]["evaluate"] == project["n21"]["evaluate"]  # a whole section left out
    assert "n2n" not in params  # a problem section the file does not have stays out


# --- --set is checked against the schema like the file: nested keys, lists, ranges ------------------------

PROJECT = Path(__file__).resolve().parents[1] / "params.yaml"


def test_a_mapping_for_a_section_is_merged_key_by_key():
    params = load_params(PROJECT)
    assert load_params(PROJECT, ["n21.train={}"])["n21"]["train"] == params["n21"]["train"]  # sets nothing
    merged = load_params(PROJECT, ["n21.train={epochs: 3, lr: 1e-3}", "n21.data={columns: {text: body}}"])["n21"]
    assert merged["train"] == {**params["n21"]["train"], "epochs": 3, "lr": 0.001}
    assert merged["data"]["columns"] == {**params["n21"]["data"]["columns"], "text": "body"}
    assert merged["data"]["path"] == params["n21"]["data"]["path"]
    free = load_params(PROJECT, ["n2n.data.type_map={PER: PS}", "n2n.data.type_map.LOC=LC"])  # a free-form map
    assert free["n2n"]["data"]["type_map"] == {"PER": "PS", "LOC": "LC"}


@pytest.mark.parametrize(
    "item, message",
    [
        (
            "n21.train={epochz: 3}",
            "--set n21.train={epochz: 3}: unknown key 'epochz' in n21.train of {f} (did you mean 'n21.train.epochs'?)",
        ),
        (
            "n21.train.epoch=5",
            "--set n21.train.epoch=5: unknown key 'epoch' in n21.train of {f} (did you mean 'n21.train.epochs'?)",
        ),
        (
            "n21.trian.epochs=5",
            "--set n21.trian.epochs=5: unknown key 'trian' in n21 of {f} (did you mean 'n21.train'?)",
        ),
        (
            "n21.train={epochs: [3]}",
            "--set n21.train={epochs: [3]}: n21.train.epochs: expected an integer, got list [3]",
        ),
        ("n21.work_dir=[a]", "--set n21.work_dir=[a]: expected a string, got list ['a']"),
        ("n21.train=3", "--set n21.train=3: n21.train is a section: expected a mapping of its keys (activation, "),
    ],
)
def test_unknown_nested_keys_and_wrong_types_are_refused_up_front(item, message):
    with pytest.raises(ParamsError) as err:
        load_params(PROJECT, [item])
    assert str(err.value).startswith(message.replace("{f}", str(PROJECT)))


@pytest.mark.parametrize(
    "item, message",
    [
        ("n21.train.epochs=-3", "-3 is out of range: expected an integer >= 1"),
        ("n21.train.batch_size=0", "0 is out of range: expected an integer >= 1"),
        ("n21.train.lr=0", "0.0 is out of range: expected a number > 0"),
        ("n21.train.dropout=1.5", "1.5 is out of range: expected a number in [0, 1)"),
        ("n21.data.max_quarantine_share=2", "2.0 is out of range: expected a number in [0, 1]"),
        ("n21.tokenize.workers=-1", "-1 is out of range: expected an integer >= 0"),
        ("n2m.evaluate.decode.beam_width=0", "0 is out of range: expected an integer >= 1"),
        ("n21.train={epochs: -3}", "n21.train.epochs: -3 is out of range: expected an integer >= 1"),
    ],
)
def test_out_of_range_values_are_refused_with_key_value_and_range(item, message):
    with pytest.raises(ParamsError) as err:
        load_params(PROJECT, [item])
    assert str(err.value) == f"--set {item}: {message}"


def test_out_of_range_values_in_the_file_name_the_file():
    with pytest.raises(ParamsError) as err:
        check_params(
            {"n21": {"train": {"epochs": -3, "batch_size": 0}, "tokenize": {"workers": 0}}},
            load_schema(),
            source="my.yaml",
        )
    assert str(err.value) == (
        "my.yaml: 2 problems:\n  - n21.train.epochs: -3 is out of range: expected an integer >= 1"
        "\n  - n21.train.batch_size: 0 is out of range: expected an integer >= 1"
    )


def test_every_range_pattern_applies_to_a_key():
    """A pattern that matches no key of params.yaml is stale (a renamed key): the range would silently not apply."""
    from fnmatch import fnmatchcase

    from tasks.params import RANGES

    numbers = [k for k, v in load_schema().items() if v.split(" ")[0].rstrip("?") in ("int", "float")]
    claimed = {
        next(p for p, _ in RANGES if fnmatchcase(k, p)) for k in numbers if any(fnmatchcase(k, p) for p, _ in RANGES)
    }
    assert [p for p, _ in RANGES if p not in claimed] == []
    assert [k for k in numbers if " " not in load_schema()[k]] == [
        f"{p}.promote.min_gain" for p in ("n21", "n2n", "n2m", "n2path")
    ]


def test_keys_a_users_file_leaves_out_can_still_be_set(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("n21:\n  work_dir: data/a\n", encoding="utf-8")
    params = load_params(path, ["n21.train.epochs=2", "n21.data.columns.text=body"])
    assert params["n21"]["train"]["epochs"] == 2 and params["n21"]["data"]["columns"]["text"] == "body"
