"""Great Expectations suite for N2Path (tasks/n2path/suite.yaml): every sentence must be one
dependency tree the parser can learn from.

Tree checks GX has no expectation for (one root, heads in range, no cycle, relations in the schema, one
head and relation per word) become boolean columns that GX expects to be all true, so a failure names
the sentences by id in the same report as the built-in checks; `row_problems` says what is wrong in each.
tasks/validate_text.py adds the Korean-text columns (Hangul share, control characters, leakage).
"""

from __future__ import annotations

import pyarrow as pa

from tasks.validation import ValidationFailed, check
from tasks.validate_suite import run_suite_file
from tasks.validate_text import add_text_columns, bad_chars

ROW_CHECKS = ("words_nonempty", "lists_aligned", "one_root", "heads_in_range", "no_cycles", "relations_in_schema")
MAX_ROW_PROBLEMS = 20


def has_cycle(heads: list[int]) -> bool:
    """True when following heads from some word comes back to it (out-of-range heads end a walk)."""
    n = len(heads)
    state = [0] * (n + 1)  # 0 unseen, 1 on the current path, 2 done
    state[0] = 2
    for start in range(1, n + 1):
        path, node = [], start
        while 0 < node <= n and state[node] == 0:
            state[node] = 1
            path.append(node)
            node = heads[node - 1]
        if 0 < node <= n and state[node] == 1:
            return True
        for p in path:
            state[p] = 2
    return False


def row_checks(table: pa.Table, relations: list[str]) -> tuple[dict[str, list[bool]], list[dict]]:
    """One boolean per sentence and check, and what is wrong with the failing sentences (by id)."""
    from tasks.n2path.formats import tree_problems

    known = set(relations)
    out: dict[str, list[bool]] = {name: [] for name in ROW_CHECKS}
    problems: list[dict] = []
    columns = [table.column(c).to_pylist() for c in ("id", "words", "heads", "deprels")]
    for sid, words, heads, rels in zip(*columns):
        words, heads, rels = words or [], heads or [], rels or []
        n = len(words)
        checks = {
            "words_nonempty": n > 0 and all(w and w.strip() for w in words),
            "lists_aligned": len(heads) == n == len(rels),
            "one_root": sum(h == 0 for h in heads) == 1,
            "heads_in_range": all(0 <= h <= len(heads) and h != i for i, h in enumerate(heads, 1)),
            "no_cycles": not has_cycle(heads),
            "relations_in_schema": all(r in known for r in rels),
        }
        for name, ok in checks.items():
            out[name].append(ok)
        if not all(checks.values()) and len(problems) < MAX_ROW_PROBLEMS:
            found = [f"{name} failed" for name in ("words_nonempty", "lists_aligned") if not checks[name]]
            found += tree_problems(heads) if heads else []
            unknown = sorted({r for r in rels if r not in known})
            if unknown:
                found.append(f"relation(s) {unknown} not in the relation schema")
            problems.append({"id": sid, "problems": found})
    return out, problems


def validate_n2path(table: pa.Table, relations: list[str], cfg: dict, docs_dir=None) -> dict:
    """Run tasks/n2path/suite.yaml; a JSON-able report (never raises on bad data)."""
    if not relations:
        raise ValueError(
            "no relations to validate against: list them in the schema file of n2path.class_design.schema "
            "or make sure the train split has sentences"
        )
    df = table.select(["id", "split"]).to_pandas()
    words = table.column("words").to_pylist()
    df["n_words"] = [len(w or []) for w in words]
    checks, problems = row_checks(table, relations)
    for name, values in checks.items():
        df[name] = values
    # The sentence as written where the treebank gives it (# text =), else its words joined.
    given = table.column("text").to_pylist() if "text" in table.column_names else [None] * len(words)
    df["text"] = [t if t else " ".join(w or []) for t, w in zip(given, words)]
    add_text_columns(df, "text", splits=df["split"].tolist())
    # The parser reads the words (and lemmas), not `# text`: a control character in one is checked there.
    lemmas = table.column("lemmas").to_pylist() if "lemmas" in table.column_names else [None] * len(words)
    df["words_bad_chars"] = [bad_chars(" ".join([*(w or []), *(lem or [])])) for w, lem in zip(words, lemmas)]
    report = run_suite_file("n2path", {"rows": df}, cfg, rows=int(table.num_rows), docs_dir=docs_dir)
    report["relations"] = list(relations)
    report["row_problems"] = problems
    return report


def check_n2path(report: dict, source: str) -> None:
    """tasks.validation.check, plus what is wrong in each failing sentence, named by id."""
    try:
        check(report, source, unit="sentences")
    except ValidationFailed as err:
        rows = report["row_problems"]
        details = [f"  - {r['id']}: {'; '.join(r['problems'])}" for r in rows[:10]]
        more = [f"  ... and {len(rows) - 10} more in validation.json"] if len(rows) > 10 else []
        hint = (
            "Relations outside the schema: add them to the schema file that n2path.class_design.schema names "
            "(with schema: null the train split's relations are the schema). Sentence length, Hangul share "
            "and leakage limits: n2path.validate."
        )
        raise ValidationFailed("\n".join([str(err), "Sentences (by id):", *details, *more, hint]), report) from None
