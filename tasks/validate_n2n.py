"""Great Expectations suite for N2N: the entity spans and tag sequences must be usable.

Row-level checks that GX has no built-in expectation for (spans inside the text, a valid
BIO sequence) become boolean columns, and GX expects them to be all true, so a failure
still names the rows by id in the same report as the built-in checks.
"""

from __future__ import annotations

import pyarrow as pa

from tasks.validate import SPLITS, run_suite

CFG_KEYS = ("min_chars", "max_chars")


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


def validate_n2n(table: pa.Table, types: list[str], cfg: dict) -> dict:
    """Run the N2N suite; a JSON-able report (never raises on bad data)."""
    import great_expectations.expectations as gxe

    missing = [k for k in CFG_KEYS if cfg.get(k) is None]
    if missing:
        raise KeyError(f"validation settings missing: set {', '.join('n2n.validate.' + k for k in missing)}")
    df = table.select(["id", "text", "split"]).to_pandas()
    for name, values in row_checks(table, types).items():
        df[name] = values
    exps = [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("id", "text")]
    exps += [
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)),
        gxe.ExpectColumnValueLengthsToBeBetween(column="text", min_value=int(cfg["min_chars"]),
                                                max_value=int(cfg["max_chars"])),
    ]
    exps += [gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[True])
             for c in ("spans_inside_text", "types_in_schema", "bio_valid", "tags_per_syllable")]
    return run_suite(df, exps, "n2n", rows=int(table.num_rows))
