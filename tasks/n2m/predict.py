"""N2M's `hanflow predict`: an answer per question; a question the model was trained on gets its training answer."""

from __future__ import annotations

from pathlib import Path

from tasks.predict import Predictor

PREDICT_FORMATS = ("lines", "csv", "tsv", "chatbot", "jsonl")  # --data's formats (tasks/predict_read.py)
QUESTION_CHARS_PER_TOKEN = 8  # a morpheme is 1-3 syllables; 8 characters each leaves room for spaces and marks


class N2MPredictor(Predictor):
    """Answers; a question the model was trained on (spacing, punctuation and case aside) gets its training
    answer as is (`exact_match`), chosen among its answers by the reranker when it has several."""

    problem = "n2m"
    text_key = "question"
    fields = ("answer", "exact_match")
    formats = PREDICT_FORMATS

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
        from tasks.n2m.encode import tokens_and_ids
        from tasks.n2m.evaluate import decode_settings
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

    def parquet_fields(self) -> list[tuple]:
        import pyarrow as pa

        return [("answer", pa.string()), ("exact_match", pa.bool_())]

    @classmethod
    def format_for(cls, path: Path, fmt: str) -> str:
        if fmt != "csv":
            return fmt
        from tasks.n2m.formats import format_for  # Chatbot_data's Q,A,label header, as `hanflow evaluate` reads it

        return format_for(path)
