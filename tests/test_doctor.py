"""`hanflow doctor`'s fix lines name an install command that brings the missing package."""

from __future__ import annotations

from importlib import metadata


def test_missing_kiwi_is_a_failed_required_check_with_its_install_command(monkeypatch):
    import tasks.tokenize
    from flows import doctor

    real_version = metadata.version

    def version(name: str) -> str:
        if name == "kiwipiepy":
            raise metadata.PackageNotFoundError(name)
        return real_version(name)

    def make_tagger(name: str):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(doctor.metadata, "version", version)
    monkeypatch.setattr(tasks.tokenize, "TAGGERS", ("kiwi",))
    monkeypatch.setattr(tasks.tokenize, "make_tagger", make_tagger)
    lines: list[str] = []
    doctor.run_checks(lines.append)
    text = "\n".join(lines)
    kiwi = [line for line in lines if line.startswith("[FAIL] kiwipiepy")]
    # a dependency now (N21's pretrained vectors), so make install brings it
    assert kiwi == ["[FAIL] kiwipiepy: not installed\n       fix: pip install kiwipiepy  (or: make install)"]
    tagger = next(line for line in lines if line.startswith("[warn] tagger kiwi"))
    assert "fix: pip install kiwipiepy  (or: make install)" in tagger
    assert "some required checks failed" in text
