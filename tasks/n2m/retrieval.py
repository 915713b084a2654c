"""Retrieve and refine for N2M (Weston, Dinan & Miller 2018): the question plus a retrieved answer in.

Each question's source becomes `question <sep> answer-of-the-nearest-train-question`, so the
encoder-decoder can copy a known answer where one fits and rewrite it where it does not. A plain
seq2seq model on a small dialogue corpus drifts to short, generic replies; the retrieved answer gives
it something specific to say.

Nearness is cosine over TF-IDF character 1-3-grams, the same measure as the retrieval baseline. A
train row never retrieves its own question (or a copy of it): at test time the question is always
new, and a model trained on its own answer as input would learn to copy blindly.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import numpy as np
import pyarrow as pa

SEP = "<sep>"
_CHUNK = 1024  # rows per dense [chunk, memory] similarity block


def normalize(text: str) -> str:
    """Whitespace runs to one space: how questions and answers are compared."""
    return " ".join(text.split())


def match_key(text: str) -> str:
    """What two questions must share to be the same question: their letters and digits, case folded (NFKC),
    so spacing, punctuation, symbols and emoji do not count ("하이!" is "하 이"). A question with no letter or
    digit keeps its whitespace-normalized text."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    key = "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LMN")
    return key or normalize(folded)


class AnswerMemory:
    """Train questions with their answers' tokens; `nearest` finds the closest question's row."""

    def __init__(self, questions: list[str], answer_tokens: list[list[str]]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not questions or len(questions) != len(answer_tokens):
            raise ValueError(
                f"the answer memory needs matching, non-empty questions and answers "
                f"({len(questions)} questions, {len(answer_tokens)} answers)"
            )
        self.questions = [normalize(q) for q in questions]
        self.answer_tokens = [list(t) for t in answer_tokens]
        self._vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
        self._matrix = self._vectorizer.fit_transform(self.questions)
        self._copies: dict[str, list[int]] = {}
        for i, q in enumerate(self.questions):
            self._copies.setdefault(match_key(q), []).append(i)

    def vectors(self, questions: list[str]):
        """TF-IDF rows of questions in the memory's space (sparse)."""
        return self._vectorizer.transform([normalize(q) for q in questions])

    def copies(self, question: str) -> list[int]:
        """Memory rows holding this question (the same match_key: spacing, punctuation and case aside), in order."""
        return self._copies.get(match_key(question), [])

    def nearest(self, questions: list[str], exclude_same_question: bool = False) -> list[int]:
        """Row of the most similar memory question for each question."""
        return [rows[0] for rows in self.top(questions, 1, exclude_same_question)]

    def top(self, questions: list[str], k: int, exclude_same_question: bool = False) -> list[list[int]]:
        """Rows of the k most similar memory questions for each question, best first."""
        rows, _ = self.scored_top(questions, k, exclude_same_question)
        return rows.tolist()

    def scored_top(
        self,
        questions: list[str],
        k: int,
        exclude_same_question: bool = False,
        query_groups: np.ndarray | None = None,
        memory_groups: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """[questions, k] memory rows, best first, and their cosine similarities. With groups, a question never
        retrieves a memory row of its own group (the reranker's cross-validation folds).

        Without exclusion, the memory's copies of the question (spacing and punctuation aside) come first
        whatever their cosine: a question asked as it was trained must get its own answer."""
        normed = [normalize(q) for q in questions]
        k = max(1, min(k, len(self.questions)))
        rows, scores = np.zeros((len(normed), k), np.int64), np.zeros((len(normed), k))
        for start in range(0, len(normed), _CHUNK):
            chunk = normed[start : start + _CHUNK]
            sims = (self._vectorizer.transform(chunk) @ self._matrix.T).toarray()
            rank_by = sims
            for row, q in enumerate(chunk):
                copies = self.copies(q)
                if exclude_same_question:  # every memory copy of the question goes, not just the row itself
                    sims[row, copies] = -1.0
                elif copies and query_groups is None:
                    rank_by = sims.copy() if rank_by is sims else rank_by
                    rank_by[row, copies] = 2.0 + sims[row, copies]  # above any cosine, in cosine order
                if query_groups is not None:
                    sims[row, memory_groups == query_groups[start + row]] = -1.0
            best = (
                np.argpartition(-rank_by, k - 1, axis=1)[:, :k]
                if k < sims.shape[1]
                else np.tile(np.arange(sims.shape[1]), (len(chunk), 1))
            )
            best_sims = np.take_along_axis(sims, best, 1)
            order = np.argsort(-np.take_along_axis(rank_by, best, 1), axis=1, kind="stable")
            rows[start : start + len(chunk)] = np.take_along_axis(best, order, 1)
            scores[start : start + len(chunk)] = np.take_along_axis(best_sims, order, 1)
        return rows, scores

    def to_json(self) -> dict[str, Any]:
        return {"questions": self.questions, "answer_tokens": self.answer_tokens}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "AnswerMemory":
        return cls(data["questions"], data["answer_tokens"])


def memory_from(table: pa.Table) -> AnswerMemory:
    """The train split's questions and answer tokens of a tokenized N2M table."""
    import pyarrow.compute as pc

    train = table.filter(pc.equal(table.column("split"), "train"))
    if train.num_rows == 0:
        raise ValueError("no train rows to retrieve answers from; check n2m.data.split")
    return AnswerMemory(train.column("question").to_pylist(), train.column("tgt_tokens").to_pylist())


def with_retrieved(
    table: pa.Table, memory: AnswerMemory, gold_share: float = 0.0, seed: int = 13, k: int = 1, reranker=None
) -> tuple[pa.Table, dict]:
    """`src_tokens` become question <sep> answer 1 [<sep> answer 2 ...] of the k nearest train questions;
    `retrieved_answer` keeps the first readable.

    Several candidates let the model pick the one that fits the question, where the single nearest
    question can be a near miss. gold_share is Weston et al.'s alpha-blending: that share of train rows has
    its own answer in place of one candidate (at a random position). Without it the model sees mostly loose
    matches in training and learns to ignore the retrieved answers, though at test time a close match is common.
    A reranker (tasks/n2m/rerank.py) chooses the candidates of every row outside train; train rows keep their
    nearest questions, since alpha-blending already teaches the model to copy a good candidate.
    """
    from tasks.n2m.spacing import detokenize

    questions = table.column("question").to_pylist()
    splits = table.column("split").to_pylist()
    answers = table.column("tgt_tokens").to_pylist()
    hits: list[list[int]] = [[] for _ in questions]
    for split, exclude in (("train", True), (None, False)):
        rows = [i for i, s in enumerate(splits) if (s == "train") == (split == "train")]
        asked = [questions[i] for i in rows]
        if not asked:
            continue
        if reranker is not None and not exclude:
            found = reranker.ranked(asked, k)
        else:
            found = memory.top(asked, k, exclude_same_question=exclude)
        for i, rows_found in zip(rows, found):
            hits[i] = rows_found
    rng = np.random.default_rng(seed)
    candidates = [[memory.answer_tokens[j] for j in found] for found in hits]
    gold = [s == "train" and rng.random() < gold_share for s in splits]
    for i in (i for i, g in enumerate(gold) if g):
        candidates[i][int(rng.integers(len(candidates[i])))] = list(answers[i])
    src = []
    for q, cands in zip(table.column("src_tokens").to_pylist(), candidates):
        src.append([*q, *(t for c in cands for t in (SEP, *c))])
    retrieved = [detokenize(c[0]) for c in candidates]
    out = table.set_column(table.column_names.index("src_tokens"), "src_tokens", pa.array(src, pa.list_(pa.string())))
    out = out.append_column("retrieved_answer", pa.array(retrieved, pa.string()))
    report = {
        "memory_rows": len(memory.questions),
        "train_rows_given_their_own_answer": int(sum(gold)),
        "retrieved_equals_answer": sum(
            1 for r, a in zip(retrieved, table.column("answer").to_pylist()) if normalize(r) == normalize(a or "")
        ),
    }
    return out, report


def copy_map(vocabs: dict) -> list[int]:
    """Target-vocabulary id of every source-vocabulary token (<unk> where answers never use it)."""
    tgt = {token: i for i, token in enumerate(vocabs["tgt"]["itos"])}
    unk = tgt["<unk>"]
    return [tgt.get(token, unk) for token in vocabs["src"]["itos"]]
