"""Rebuild dvc_plots/offline.html: DVC's HTML page with vega, vega-lite and vega-embed inlined.

`dvc plots show` writes a page that loads those three scripts from a CDN, so it is blank on a
machine without internet. DVC fills `{plot_divs}` (and `{refresh_tag}`) of a custom template and
adds its CDN <script> tags only where the template has `{scripts}`: this one has none.

    cd /tmp && npm pack vega@5 vega-lite@5 vega-embed@6
    python dvc_plots/build_offline_template.py /tmp      # the folder holding the three .tgz files
"""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

PACKAGES = (
    ("vega", "build/vega.min.js"),
    ("vega-lite", "build/vega-lite.min.js"),
    ("vega-embed", "build/vega-embed.min.js"),
)
OUT = Path(__file__).resolve().parent / "offline.html"


def _read(tgz: Path, member: str) -> str:
    with tarfile.open(tgz) as tar:
        return tar.extractfile(f"package/{member}").read().decode("utf-8")


def build(folder: Path) -> str:
    scripts, versions, license_text = [], [], ""
    for name, member in PACKAGES:
        matches = sorted(folder.glob(f"{name}-[0-9]*.tgz"))
        if not matches:
            raise SystemExit(f"no {name}-*.tgz in {folder}: run `npm pack vega@5 vega-lite@5 vega-embed@6` there")
        tgz = matches[-1]
        version = tgz.name[len(name) + 1 : -len(".tgz")]
        versions.append(f"{name}@{version}")
        code = _read(tgz, member)
        if "</script" in code or "{plot_divs}" in code or "{scripts}" in code:
            raise SystemExit(f"{tgz.name}: the script cannot be inlined as is")
        scripts.append(f'    <script type="text/javascript">/* {name}@{version} */\n{code}\n    </script>\n')
        if name == "vega-lite":
            license_text = _read(tgz, "LICENSE")
    head = (
        "<!DOCTYPE html>\n"
        "<!-- Offline template for `dvc plots show` (DVC's default page loads vega from a CDN and is blank offline).\n"
        "     Used through .dvc/config (plots.html_template) or `dvc plots show --html-template dvc_plots/offline.html`.\n"
        f"     Inlines {', '.join(versions)} (build/*.min.js from the npm registry;\n"
        "     regenerate with dvc_plots/build_offline_template.py). Those three packages are BSD-3-Clause,\n"
        "     University of Washington Interactive Data Lab:\n" + license_text.replace("--", "- -") + "-->\n"
        '<html>\n<head>\n    {refresh_tag}\n    <meta charset="utf-8">\n'
        "    <title>hanflow plots (DVC, offline)</title>\n"
    )
    tail = (
        "    <style>\n        body { font-family: sans-serif; }\n        table { border-spacing: 15px; }\n"
        "    </style>\n</head>\n<body>\n    {plot_divs}\n</body>\n</html>\n"
    )
    return head + "".join(scripts) + tail


if __name__ == "__main__":
    OUT.write_text(build(Path(sys.argv[1] if len(sys.argv) > 1 else ".")), encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB)")
