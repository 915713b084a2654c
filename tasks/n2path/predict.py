"""N2Path's `hanflow predict`: a dependency tree per sentence, as fields and as CoNLL-U; --data may be a
treebank (CoNLL-U, KLUE-DP), whose own words are parsed as given."""

from __future__ import annotations

from pathlib import Path

from tasks.predict import Predictor, text_error

PREDICT_FORMATS = ("lines", "conllu", "klue_dp")  # --data's formats (tasks/predict_read.py)


class N2PathPredictor(Predictor):
    """Trees for raw sentences, split into words as UD Korean does (tasks/n2path/ud_tokens.py); tagger morphemes."""

    problem = "n2path"
    fields = ("words", "heads", "deprels", "conllu")
    default_batch = 64
    formats = PREDICT_FORMATS
    conllu = True

    def check(self, text: str, words: list[str] | None = None) -> str | None:
        from tasks.n2path.evaluate import max_words
        from tasks.n2path.ud_tokens import ud_words

        error = text_error(text if words is None else " ".join(words))
        if error:
            return error
        n, limit = len(words if words is not None else ud_words(text)), max_words(self.bundle)
        if limit and n > limit:
            return (
                f"sentence of {n:,} words, over the {limit} words this parser takes (its train.max_len): "
                "split it into sentences"
            )
        return None

    def _predict(self, texts: list[str], words: list, ids: list[str]) -> list[dict]:
        import pyarrow as pa

        from tasks.n2path.evaluate import _parse, parsed_sentences, prepare_sentences
        from tasks.n2path.formats import write_conllu
        from tasks.n2path.ud_tokens import ud_words

        sentences = []
        for sid, text, split in zip(ids, texts, words):
            split = split if split is not None else ud_words(text)
            sentences.append({"id": sid, "text": " ".join(text.split()) or " ".join(split), "words": split})
        encoded, _ = prepare_sentences(sentences, self.bundle, morphemes="tagger")
        # The tagger's analysis fills LEMMA/XPOS of the CoNLL-U output.
        encoded = encoded.set_column(
            encoded.schema.get_field_index("lemmas"),
            "lemmas",
            pa.array(
                [["+".join(m) for m in row] for row in encoded.column("morphs").to_pylist()], pa.list_(pa.string())
            ),
        )
        encoded = encoded.set_column(
            encoded.schema.get_field_index("xpos"),
            "xpos",
            pa.array(
                [["+".join(t) or "_" for t in row] for row in encoded.column("tags").to_pylist()], pa.list_(pa.string())
            ),
        )
        parsed = parsed_sentences(encoded, _parse(self.model, self.bundle, encoded, self.batch_size))
        return [
            {
                "text": text,
                "words": sent["words"],
                "heads": sent["heads"],
                "deprels": sent["deprels"],
                "conllu": write_conllu([sent]),
            }
            for text, sent in zip(texts, parsed)
        ]

    def parquet_fields(self) -> list[tuple]:
        import pyarrow as pa

        s = pa.string()
        return [("words", pa.list_(s)), ("heads", pa.list_(pa.int64())), ("deprels", pa.list_(s)), ("conllu", s)]

    @classmethod
    def format_for(cls, path: Path, fmt: str) -> str:
        return "klue_dp" if path.suffix.lower() == ".tsv" else fmt

    @classmethod
    def read_block(cls, fmt: str, path: Path, start: int, index: int, block: list[str]):
        """The words of one CoNLL-U or KLUE-DP sentence (other columns are not read: predict makes the tree)."""
        from tasks.predict_read import Item

        sid, text, words = None, None, []
        for k, line in enumerate(block):
            if line.startswith("##" if fmt == "klue_dp" else "#"):
                if fmt == "klue_dp":
                    sid, _, text = line[2:].strip(" ").partition("\t")
                else:
                    key, eq, value = line[1:].partition("=")
                    sid = value.strip() if eq and key.strip() == "sent_id" else sid
                    text = value.strip() if eq and key.strip() == "text" else text
                continue
            cols = line.split("\t")
            if len(cols) != (6 if fmt == "klue_dp" else 10):
                return Item(
                    start,
                    sid or f"{path.stem}:{start}",
                    "",
                    error=f"line {start + k}: {len(cols)} tab-separated fields, expected {6 if fmt == 'klue_dp' else 10}",
                )
            if cols[0].isdigit():
                words.append(cols[1])
        if not words:
            return None  # a comment-only block: file notes
        return Item(
            start, (sid or "").strip() or f"{path.stem}:{start}", (text or "").strip() or " ".join(words), words
        )
