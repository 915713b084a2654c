"""Predictions from a trained model directory, loaded once and fed texts in batches: what `hanflow predict`
runs for texts given as arguments, on stdin, or in a file (read by tasks/predict_read.py, written by
tasks/predict_io.py).

Light to import on purpose: a one-text `hanflow predict` is a fresh process, and its start is most of its
time, so nothing here imports scikit-learn, Prefect, Great Expectations or the stage graph unless the model
needs it (N2M's retrieval needs scikit-learn). pyarrow still imports pandas on its first array.

One behaviour for bad input, all four problem types: a text that is empty or only whitespace, longer than
MAX_TEXT_CHARS (the line limit ingest quarantines at), or (N2Path) a sentence of more words than the parser's
max_len gets a row without a prediction and with its `error`. `hanflow predict` refuses such a text given as
an argument or on stdin, and writes the flagged row when it reads a file.
"""

from __future__ import annotations

from pathlib import Path

from tasks.textfile import MAX_LINE_CHARS

PROBLEMS = ("n21", "n2n", "n2m", "n2path")
QUESTION_CHARS_PER_TOKEN = 8  # N2M: a morpheme is 1-3 syllables; 8 characters each leaves room for spaces and marks
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
    """A loaded model; `predict` maps texts to one row each: the text, the prediction fields, and `error`."""

    problem = ""
    text_key = "text"
    fields: tuple[str, ...] = ()  # the prediction's keys, None in a row that has an error
    default_batch = 128

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


class N21Predictor(Predictor):
    problem = "n21"
    fields = ("label", "name", "confidence", "probabilities")
    default_batch = 256

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


class N2NPredictor(Predictor):
    problem = "n2n"
    fields = ("entities",)

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


class N2MPredictor(Predictor):
    """Answers; a question the model was trained on (spacing, punctuation and case aside) gets its training
    answer as is (`exact_match`), chosen among its answers by the reranker when it has several."""

    problem = "n2m"
    text_key = "question"
    fields = ("answer", "exact_match")

    def __init__(self, model_dir: str | Path, batch_size: int | None = None, threads: int | None = None):
        super().__init__(model_dir, batch_size, threads)
        # The question is read up to QUESTION_CHARS_PER_TOKEN characters per morpheme of the longest question the
        # model takes (train.max_src_len, else validate.max_src_tokens: no training question was longer), so a
        # pasted page costs what a long question does; the encoder reads its first max_src_len morphemes.
        longest = int(self.params["train"].get("max_src_len") or 0) or int(
            (self.params.get("validate") or {}).get("max_src_tokens") or 100
        )
        self.question_chars = QUESTION_CHARS_PER_TOKEN * longest
        self.retrieval = None
        if self.bundle["vocab.json"].get("retrieve"):
            from tasks.n2m.rerank import load_retrieval

            self.retrieval = load_retrieval(self.bundle)

    def _predict(self, texts: list[str], words: list, ids: list[str]) -> list[dict]:
        from tasks.n2m.evaluate import decode_settings
        from tasks.n2m.encode import tokens_and_ids
        from tasks.n2m.train import answers_for

        asked = [text[: self.question_chars] for text in texts]
        answers = self.exact_answers(asked)
        todo = [k for k in range(len(texts)) if k not in answers]
        if todo:
            encoded = tokens_and_ids([asked[k] for k in todo], None, self.bundle, self.retrieval)
            cut = int(self.params["train"].get("max_src_len") or 0)  # as in training
            generated = answers_for(
                self.model,
                encoded,
                self.bundle["vocab.json"]["tgt"]["itos"],
                decode_settings(self.bundle),
                self.batch_size,
                self.device,
                cut,
            )
            answers.update(zip(todo, generated))
        return [{"question": q, "answer": answers[k], "exact_match": k not in todo} for k, q in enumerate(texts)]

    def exact_answers(self, texts: list[str]) -> dict[int, str]:
        """{position: the training answer} for the questions the answer memory holds."""
        if self.retrieval is None:
            return {}
        memory, reranker = self.retrieval
        asked = [k for k, q in enumerate(texts) if memory.copies(q)]
        if not asked:
            return {}
        questions = [texts[k] for k in asked]
        best = reranker.ranked(questions, 1) if reranker is not None else memory.top(questions, 1)
        if reranker is not None:  # its answers are the training file's text, whitespace runs joined
            return {k: reranker.answers[rows[0]] for k, rows in zip(asked, best)}
        from tasks.n2m.spacing import detokenize

        return {k: detokenize(memory.answer_tokens[rows[0]]) for k, rows in zip(asked, best)}


class N2PathPredictor(Predictor):
    """Trees for raw sentences, split into words as UD Korean does (tasks/n2path/ud_tokens.py); tagger morphemes."""

    problem = "n2path"
    fields = ("words", "heads", "deprels", "conllu")
    default_batch = 64

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


PREDICTORS = {cls.problem: cls for cls in (N21Predictor, N2NPredictor, N2MPredictor, N2PathPredictor)}


def load_predictor(
    problem: str, model_dir: str | Path, batch_size: int | None = None, threads: int | None = None
) -> Predictor:
    if problem not in PREDICTORS:
        raise ValueError(f"unknown problem type {problem!r}; use one of {', '.join(PROBLEMS)}")
    return PREDICTORS[problem](model_dir, batch_size, threads)


def predict_texts(problem: str, model_dir: str | Path, texts: list[str], batch_size: int | None = None) -> list[dict]:
    return load_predictor(problem, model_dir, batch_size).predict(list(texts))
