"""N21's `hanflow predict`: the class of each text, its confidence and every class's probability."""

from __future__ import annotations

from tasks.predict import Predictor

PREDICT_FORMATS = ("lines", "csv", "tsv", "nsmc", "jsonl", "parquet")  # --data's formats (tasks/predict_read.py)


class N21Predictor(Predictor):
    problem = "n21"
    fields = ("label", "name", "confidence", "probabilities")
    default_batch = 256
    formats = PREDICT_FORMATS

    def _predict(self, texts: list[str], words: list, ids: list[str]) -> list[dict]:
        from tasks.n21.evaluate import class_probabilities, prepare_texts

        labels = self.bundle["label_schema.json"]["labels"]
        encoded = prepare_texts(texts, self.bundle)
        # Tokens past train.max_len are cut, as in training; the text is bounded by MAX_TEXT_CHARS.
        probs, _ = class_probabilities(self.model, self.bundle, encoded, self.batch_size, self.device)
        pred = probs.argmax(axis=1)
        return [
            {
                "text": text,
                "label": labels[k]["value"],
                "name": labels[k]["name"],
                "confidence": round(float(p[k]), 4),
                "probabilities": {entry["name"]: round(float(x), 4) for entry, x in zip(labels, p)},
            }
            for text, k, p in zip(texts, pred, probs)
        ]

    def parquet_fields(self) -> list[tuple]:
        import pyarrow as pa

        s = pa.string()
        return [
            ("label", s),
            ("name", s),
            ("confidence", pa.float64()),
            (
                "probabilities",
                pa.struct([(e["name"], pa.float64()) for e in self.bundle["label_schema.json"]["labels"]]),
            ),
        ]
