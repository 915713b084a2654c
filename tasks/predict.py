"""Predictions from a trained model directory, loaded once and fed texts in batches: what `hanflow predict`
runs for texts given as arguments, on stdin, or in a file (read by tasks/predict_read.py, written by
tasks/predict_io.py).

Light to import on purpose: a one-text `hanflow predict` is a fresh process, and its start is most of its
time, so nothing here imports scikit-learn, Prefect, Great Expectations or the stage graph unless the model
needs it (N2M's retrieval needs scikit-learn). pyarrow still imports pandas on its first array.

Each problem type's Predictor subclass is in its package (tasks/<problem>/predict.py, named by its
flows/<problem>.py declaration, `Problem.predictor`); this module is what they share.

One behaviour for bad input, every problem type: a text that is empty or only whitespace, longer than
MAX_TEXT_CHARS (the line limit ingest quarantines at), or one its predictor's `check` refuses (e.g. N2Path: a
sentence of more words than the parser's max_len) gets a row without a prediction and with its `error`.
`hanflow predict` refuses such a text given as an argument or on stdin, and writes the flagged row when it
reads a file.
"""

from __future__ import annotations

from pathlib import Path

from tasks.textfile import MAX_LINE_CHARS

EMPTY = "empty text"
MAX_TEXT_CHARS = MAX_LINE_CHARS


def text_error(text: str) -> str | None:
    """Why a text cannot be predicted (any problem type), or None."""
    if not text.strip():
        return EMPTY
    if len(text) > MAX_TEXT_CHARS:
        return (
            f"text of {len(text):,} characters, over the {MAX_TEXT_CHARS:,}-character limit "
            "(ingest quarantines such lines too); split it"
        )
    return None


class Predictor:
    """A loaded model; `predict` maps texts to one row each: the text, the prediction fields, and `error`.

    A subclass says what its problem type reads and writes: the class attributes below, `parquet_fields`
    (--out .parquet), and for block formats of --data (sentences separated by blank lines) `read_block`."""

    problem = ""
    text_key = "text"  # the input's key in a row, and the --column FIELD that names it
    fields: tuple[str, ...] = ()  # the prediction's keys, None in a row that has an error
    default_batch = 128
    formats: tuple[str, ...] = ("lines",)  # the --format values of --data (tasks/predict_read.py)
    conllu = False  # it writes CoNLL-U (--output conllu, --out .conllu): each row's `conllu` field

    def __init__(self, model_dir: str | Path, batch_size: int | None = None, threads: int | None = None):
        import torch

        from tasks.model_dir import load_model_dir
        from tasks.training import pick_device

        self.model, self.bundle = load_model_dir(model_dir)
        self.params = self.bundle["params.json"]
        # torch's intra-op threads: the model's train.threads, else one. On 2 busy cores a second thread mostly
        # spins: batch prediction ran 3-8x slower with two (README). 0: torch's default (every core).
        threads = (int(self.params["train"].get("threads") or 0) or 1) if threads is None else int(threads)
        if threads > 0:
            torch.set_num_threads(threads)
        self.device = pick_device(self.params["train"].get("device", "auto"))
        self.model.to(self.device)
        self.batch_size = int(batch_size or self.default_batch)

    def check(self, text: str, words: list[str] | None = None) -> str | None:
        return text_error(text)

    def failed(self, text: str, error: str) -> dict:
        return {self.text_key: text, **{name: None for name in self.fields}, "error": error}

    def predict(
        self, texts: list[str], words: list[list[str] | None] | None = None, ids: list[str] | None = None
    ) -> list[dict]:
        """One row per text, in order. words: pre-split words per text (N2Path from a treebank), else None;
        ids: names for the texts where the output has them (N2Path's CoNLL-U sent_id), else their positions."""
        words = words if words is not None else [None] * len(texts)
        ids = [str(i) for i in ids] if ids is not None else [str(k) for k in range(1, len(texts) + 1)]
        rows: list[dict | None] = [None] * len(texts)
        todo = []
        for k, (text, split) in enumerate(zip(texts, words)):
            error = self.check(text, split)
            if error:
                rows[k] = self.failed(text, error)
            else:
                todo.append(k)
        if todo:
            for k, row in zip(
                todo, self._predict([texts[k] for k in todo], [words[k] for k in todo], [ids[k] for k in todo])
            ):
                rows[k] = {**row, "error": None}
        return rows

    def _predict(self, texts: list[str], words: list[list[str] | None], ids: list[str]) -> list[dict]:
        raise NotImplementedError

    def parquet_fields(self) -> list[tuple]:
        """(name, pyarrow type) of the prediction's columns in a .parquet --out, in `fields` order."""
        raise NotImplementedError

    @classmethod
    def format_for(cls, path: Path, fmt: str) -> str:
        """The --format of a --data file given none: `fmt` (from its suffix), unless the problem type reads
        that suffix otherwise."""
        return fmt

    @classmethod
    def read_block(cls, fmt: str, path: Path, start: int, index: int, block: list[str]):
        """The record (tasks.predict_read.Item, None for a block without one) of the `index`-th blank-line
        separated block of a `fmt` file, starting at line `start`: the block formats among `formats`."""
        raise NotImplementedError(f"{cls.problem} reads no block format ({fmt})")


def predict_texts(
    predictor: type[Predictor], model_dir: str | Path, texts: list[str], batch_size: int | None = None
) -> list[dict]:
    """`predictor` (a problem type's Predictor class) loaded from model_dir, one row per text."""
    return predictor(model_dir, batch_size).predict(list(texts))
