"""N2N's `hanflow predict`: the entities of each text, with character offsets; --data may be a corpus in one of
the NER block formats, read with tasks/n2n/formats.py's own sentence parsers."""

from __future__ import annotations

from pathlib import Path

from tasks.predict import Predictor

PREDICT_FORMATS = ("lines", "jsonl", "kmou", "klp", "klue")  # --data's formats (tasks/predict_read.py)


class N2NPredictor(Predictor):
    problem = "n2n"
    fields = ("entities",)
    formats = PREDICT_FORMATS

    def _predict(self, texts: list[str], words: list, ids: list[str]) -> list[dict]:
        from tasks.n2n.evaluate import prepare_texts
        from tasks.n2n.train import predict_table

        encoded = prepare_texts(texts, self.bundle)
        # Syllables past train.max_len are tagged O, as in evaluation.
        spans = predict_table(
            self.model, encoded, int(self.params["train"].get("max_len", 0)) or None, self.batch_size, self.device
        )
        return [
            {"text": text, "entities": [{"start": s, "end": e, "type": t, "text": text[s:e]} for s, e, t in row]}
            for text, row in zip(texts, spans)
        ]

    def parquet_fields(self) -> list[tuple]:
        import pyarrow as pa

        s = pa.string()
        return [
            ("entities", pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64()), ("type", s), ("text", s)])))
        ]

    @classmethod
    def format_for(cls, path: Path, fmt: str) -> str:
        return "klue" if path.suffix.lower() == ".tsv" else fmt

    @classmethod
    def read_block(cls, fmt: str, path: Path, start: int, index: int, block: list[str]):
        from tasks.n2n.formats import _PARSERS, _Bad
        from tasks.predict_read import Item

        try:
            record = _PARSERS[fmt](block, path, start, index)
        except _Bad as err:
            return Item(start, f"{path.stem}:{start}", "", error=str(err))
        return Item(start, str(record.get("id") or start), record["text"]) if record is not None else None
