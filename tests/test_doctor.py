"""`hanflow doctor`'s fix lines name an install command that brings the missing package."""

from __future__ import annotations

from importlib import metadata


def test_missing_kiwi_points_at_the_extra_not_make_install(monkeypatch):
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
    kiwi = [line for line in lines if line.startswith("[warn] kiwipiepy")]
    assert kiwi == [
        "[warn] kiwipiepy: not installed (optional)\n"
        "       fix: pip install 'hanflow[kiwi]'  (or: pip install kiwipiepy; make install leaves it out)"
    ]
    tagger = next(line for line in lines if line.startswith("[warn] tagger kiwi"))
    assert "fix: pip install 'hanflow[kiwi]'" in tagger
    assert "(or: make install)" not in text.split("[warn] kiwipiepy")[1]
