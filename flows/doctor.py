"""`hanflow doctor`: what the machine has, what works, and what to do about what doesn't."""

from __future__ import annotations

import shutil
import subprocess
from importlib import metadata
from typing import Callable

REQUIRED = (
    "prefect",
    "torch",
    "pandas",
    "pyarrow",
    "konlpy",
    "great-expectations",
    "dvc",
    "JPype1",
    "mecab-python3",
    "python-mecab-ko-dic",
    "scikit-learn",
    "typer",
    "kiwipiepy",
    "kiwipiepy_model",
)
TAGGER_PACKAGES = {"kiwi": "kiwipiepy", "mecab": "mecab-python3 python-mecab-ko-dic"}  # the taggers without a JVM
SAMPLE = "한국어 형태소 분석기가 잘 동작하나요?"


def install_hint(package: str) -> str:
    return f"pip install {package}  (or: make install)"


def run_checks(say: Callable[[str], None]) -> bool:
    ok = True

    def report(good: bool, what: str, detail: str, fix: str = "", required: bool = True) -> None:
        nonlocal ok
        ok &= good or not required
        mark = "ok  " if good else ("FAIL" if required else "warn")
        say(f"[{mark}] {what}: {detail}" + (f"\n       fix: {fix}" if fix and not good else ""))

    for package in REQUIRED:
        try:
            report(True, package, metadata.version(package))
        except metadata.PackageNotFoundError:
            report(False, package, "not installed", install_hint(package))

    java = shutil.which("java")
    if java:
        out = subprocess.run([java, "-version"], capture_output=True, text=True)
        version = (out.stderr or out.stdout).splitlines()[0] if (out.stderr or out.stdout) else "?"
        report(out.returncode == 0, "java", f"{java} ({version})")
    else:
        report(
            False,
            "java",
            "not on PATH",
            "install a JDK (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk) "
            "or set JAVA_HOME; only the okt/komoran/hannanum/kkma taggers need it",
            required=False,
        )

    from tasks.tokenize import TAGGERS, make_tagger

    for name in TAGGERS:
        needs_java = name not in TAGGER_PACKAGES
        try:
            pos = make_tagger(name)
            report(True, f"tagger {name}", " ".join(f"{m}/{t}" for m, t in pos(SAMPLE)[:6]) + " …")
        except Exception as err:  # each tagger fails in its own way; show it, keep checking the rest
            report(
                False,
                f"tagger {name}",
                f"{type(err).__name__}: {err}",
                "see the java check above" if needs_java else install_hint(TAGGER_PACKAGES[name]),
                required=name == "mecab",
            )

    try:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        report(True, "torch device", f"{device} (torch {torch.__version__}, {torch.get_num_threads()} threads)")
    except Exception as err:
        report(False, "torch", str(err), "pip install torch")
    say("all required checks passed" if ok else "some required checks failed: see the fix lines above")
    return ok
