"""The load protections model directories rely on have known bypasses below these versions: pyproject must not
allow them, and the environment the tests run in must meet them (constraints.txt pins torch for CI)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from packaging.version import Version

from tests.conftest import ROOT

# torch.load(weights_only=True) (every weights.pt), skops' trusted types (N2M's reranker.skops)
FLOORS = {"torch": Version("2.6"), "skops": Version("0.12")}


def test_pyproject_floors_exclude_versions_with_known_load_bypasses():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    for name, floor in FLOORS.items():
        spec = next(d for d in deps if re.match(rf"{name}\s*[<>=!~]", d))
        low = re.search(r">=\s*([\d.]+)", spec)
        assert low and Version(low.group(1)) >= floor, f"pyproject allows {spec}: needs {name}>={floor}"
        assert Version(metadata.version(name).split("+")[0]) >= floor
    pinned = re.search(r"^torch==([\d.]+)", (ROOT / "constraints.txt").read_text(encoding="utf-8"), re.M)
    assert pinned and Version(pinned.group(1)) >= FLOORS["torch"]
