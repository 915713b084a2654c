"""Great Expectations suite for N2N (tasks/n2n/suite.yaml): the entity spans and tag sequences must be usable.

Row-level checks that GX has no built-in expectation for (spans inside the text, a valid
BIO sequence, types in the schema) become boolean columns, and the suite expects them to be
all true, so a failure still names the rows by id in the same report as the built-in checks;
tasks/validate_text.py adds the Korean-text columns (Hangul share, control characters, leakage).
"""

from __future__ import annotations

import pyarrow as pa

from tasks.validate_suite import run_suite_file
from tasks.validate_text import add_text_columns


def bio_problem(tags: list[str]) -> str:
    """'' when the sequence is valid BIO, else the first problem."""
    previous = "O"
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return f"I- without B- at syllable {i} ({tag} after {previous})"
        previous = tag
    return ""


def row_checks(table: pa.Table, types: list[str]) -> dict[str, list]:
    known = set(types)
    texts = table.column("text").to_pylist()
    entities = table.column("entities").to_pylist()
    tags = table.column("tags").to_pylist()
    chars = table.column("char_ids").to_pylist() if "char_ids" in table.column_names else tags
    out: dict[str, list] = {"spans_inside_text": [], "types_in_schema": [], "bio_valid": [], "tags_per_syllable": []}
    for text, ents, tag_row, char_row in zip(texts, entities, tags, chars):
        out["spans_inside_text"].append(all(0 <= e["start"] < e["end"] <= len(text) for e in ents))
        out["types_in_schema"].append(all(e["type"] in known for e in ents))
        out["bio_valid"].append(bio_problem(tag_row) == "")
        out["tags_per_syllable"].append(len(tag_row) == len(text) == len(char_row))
    return out


def validate_n2n(table: pa.Table, types: list[str], cfg: dict, docs_dir=None) -> dict:
    """Run tasks/n2n/suite.yaml; a JSON-able report (never raises on bad data)."""
    df = table.select(["id", "text", "split"]).to_pandas()
    for name, values in row_checks(table, types).items():
        df[name] = values
    add_text_columns(df, "text", splits=df["split"].tolist())
    return run_suite_file("n2n", {"rows": df}, cfg, rows=int(table.num_rows), docs_dir=docs_dir)
