"""params: `--set key=value` overrides keep types and fail loudly; load errors name the file."""

from __future__ import annotations

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
    out = apply_overrides(BASE, ["n21.train.epochs=5", "n21.train.lr=1", "n21.tokenize.join_pos=true",
                                 "n21.train.kernel_sizes=[3, 5]", "n21.train.dropout=0.5",
                                 "n21.data.columns.split=part", "n21.tokenize.tagger=okt"])
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
    with pytest.raises(ParamsError, match=r"'n21\.trian' is not a section.*known: .*train"):
        apply_overrides(BASE, ["n21.trian.epochs=5"])
    with pytest.raises(ParamsError, match="'n21.train.epochs' is not a section"):
        apply_overrides(BASE, ["n21.train.epochs.x=5"])


@pytest.mark.parametrize(
    "item, expected",
    [("n21.train.epochs=abc", "expected int"), ("n21.train.lr=fast", "expected float"),
     ("n21.tokenize.join_pos=1", "expected bool"), ("n21.train.kernel_sizes=5", "expected list"),
     ("n21.data.split=0.1", "expected dict")],
)
def test_wrong_type_rejected(item, expected):
    with pytest.raises(ParamsError, match=expected) as err:
        apply_overrides(BASE, [item])
    assert item.split("=")[0] in str(err.value)


def test_bool_for_int_key_rejected():
    with pytest.raises(ParamsError, match="expected int"):
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
