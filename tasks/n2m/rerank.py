"""A learned reranker for N2M retrieval: which of the k nearest train questions' answers to hand the model.

Why: the nearest question's answer (TF-IDF) is often a near miss while a better one is close by. On the
Chatbot data's dev blocks the nearest answer scores chrF 16.8 and the best of the 20 nearest 29.6, and a
choice by consensus alone (minimum Bayes risk) falls to 9-11: it prefers generic replies. So a gradient-boosted
regressor (scikit-learn's HistGradientBoostingRegressor) scores each candidate from what is known at
question time only: retrieval rank and similarity, how well the answer fits the question, lengths, how common
the answer is, agreement among the candidates, the question's predicted label (Chatbot data: daily /
breakup / love) against the candidate's, and shared characters. Its target is the candidate's sentence
chrF against the gold answer, centred per question, so it learns which candidate is better, not how easy a
question is.

Training must look like test time: a test question's paraphrases sit in its own held-out block, so a train
question retrieves only from the other folds of a 5-fold split grouped like the data split (blocks of
`split.block_rows` rows, else the question). Retrieving from its own block instead (its paraphrases) would
train on top-1 chrF 27.6 where test sees 16.4.

Stored in the model directory as `reranker.json` (answers, labels, label model) and `reranker.skops` (the
trees, in skops' format: loading runs no pickled code, and only the tree type is trusted).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from tasks.n2m.retrieval import AnswerMemory, normalize

FEATURES = (
    "rank",
    "sim",
    "sim_gap",
    "sim_ratio",
    "top1_sim",
    "question_answer_fit",
    "own_question_answer_fit",
    "answer_chars",
    "answer_words",
    "question_chars",
    "length_ratio",
    "relative_length",
    "log_frequency",
    "consensus",
    "consensus_top5",
    "consensus_weighted",
    "consensus_gap",
    "votes",
    "vote_similarity",
    "label_probability",
    "label_agrees",
    "candidate_label",
    "char_jaccard",
    "answer_chars_in_question",
    "question_chars_in_answer",
)
TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
EXACT_FIRST = 1e6  # added to a copy's score: above any centred chrF the trees predict
ORDER = 6  # sacrebleu's chrF: character n-grams up to 6, beta 2, whitespace ignored


class CharStats:
    """Sentence chrF between many pairs of short answers, with each answer's n-grams counted once.

    sacrebleu.sentence_chrf re-extracts both sides per call, which for 20 x 20 candidate pairs per question is
    most of the reranker's time; the n-grams come from sacrebleu's own extractor, and `f` is its formula
    (tests/n2m/test_rerank.py checks the two agree)."""

    def __init__(self):
        self._grams: dict[str, list[tuple[Counter, int]]] = {}

    def grams(self, text: str) -> list[tuple[Counter, int]]:
        if text not in self._grams:
            from sacrebleu.metrics.helpers import extract_all_char_ngrams

            counts = extract_all_char_ngrams(text, ORDER, False)
            self._grams[text] = [(c, sum(c.values())) for c in counts]
        return self._grams[text]

    def chrf(self, hyp: str, ref: str) -> float:
        precision = recall = 0.0
        orders = 0
        for (h, nh), (r, nr) in zip(self.grams(hyp), self.grams(ref)):
            if nh and nr:
                small, big = (h, r) if len(h) <= len(r) else (r, h)
                match = sum(min(v, big[g]) for g, v in small.items() if g in big)
                precision, recall, orders = precision + match / nh, recall + match / nr, orders + 1
        if not orders or precision + recall == 0:
            return 0.0
        precision, recall = precision / orders, recall / orders
        return 100 * 5 * precision * recall / (4 * precision + recall)


class AnswerReranker:
    """Scores the `candidates` nearest memory answers of a question; `ranked` orders them best first."""

    def __init__(self, memory: AnswerMemory, answers: list[str], labels: list[Any], candidates: int = 20):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.memory, self.candidates = memory, int(candidates)
        self.answers = [normalize(a or "") for a in answers]
        self.labels = ["" if v is None else str(v).strip() for v in labels]
        self.label_values = sorted({v for v in self.labels if v})
        self._label_index = np.array([self.label_values.index(v) if v else -1 for v in self.labels])
        # One character TF-IDF space over train questions and answers: does this answer fit this question?
        self._fit_space = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True).fit(
            memory.questions + self.answers
        )
        self._answer_vectors = self._fit_space.transform(self.answers)
        own = self._fit_space.transform(memory.questions)
        self._own_fit = np.asarray(self._answer_vectors.multiply(own).sum(1)).ravel()
        self._frequency = Counter(self.answers)
        self._chrf = CharStats()
        self.label_model: dict | None = None  # logistic regression weights, question TF-IDF -> label
        self.model = None

    # ---------------------------------------------------------------- training

    def fit(self, groups: list[str], folds: int = 5, seed: int = 13) -> dict:
        """Train on the memory's own rows, each retrieving from the other folds; returns a report."""
        from sklearn.ensemble import HistGradientBoostingRegressor
        from sklearn.model_selection import GroupKFold

        n = len(self.answers)
        group_ids = np.unique(np.asarray(groups), return_inverse=True)[1]
        folds = min(folds, int(group_ids.max()) + 1)
        if folds < 2 or n < 50:
            raise ValueError(
                f"the reranker needs at least 50 train pairs in 2 groups (has {n} in {folds}); "
                "set n2m.encode.rerank: false"
            )
        fold = np.zeros(n, np.int64)
        for f, (_, held) in enumerate(GroupKFold(folds).split(np.zeros(n), groups=group_ids)):
            fold[held] = f
        questions = self.memory.questions
        proba = self._fit_labels(fold)
        rows, sims = self.memory.scored_top(questions, self.candidates, True, fold, fold)
        in_fold = [Counter(a for a, f in zip(self.answers, fold) if f == k) for k in range(folds)]

        def frequency(i: int, answer: str) -> float:  # the count in the memory this row retrieves from, scaled up
            gone = in_fold[fold[i]][answer] + sum(
                1 for j in self.memory.copies(questions[i]) if fold[j] != fold[i] and self.answers[j] == answer
            )
            return (self._frequency[answer] - gone) * n / max(1, n - sum(in_fold[fold[i]].values()))

        features = self._features(questions, rows, sims, proba, frequency)
        target = np.array(
            [[self._chrf.chrf(self.answers[j], self.answers[i]) for j in row] for i, row in enumerate(rows)]
        )
        self.model = HistGradientBoostingRegressor(
            max_iter=300, learning_rate=0.05, max_leaf_nodes=31, min_samples_leaf=50, random_state=seed
        )
        self.model.fit(features, (target - target.mean(1, keepdims=True)).ravel())
        picked = self.model.predict(features).reshape(rows.shape).argmax(1)
        return {
            "rows": n,
            "candidates": int(rows.shape[1]),
            "folds": folds,
            "train_top1_sentence_chrf": round(float(target[:, 0].mean()), 2),
            "train_reranked_sentence_chrf": round(float(target[np.arange(n), picked].mean()), 2),
            "train_best_candidate_sentence_chrf": round(float(target.max(1).mean()), 2),
        }

    def _fit_labels(self, fold: np.ndarray) -> np.ndarray:
        """Fit the label model on every row; return out-of-fold label probabilities for the rows themselves."""
        from sklearn.linear_model import LogisticRegression

        proba = np.zeros((len(self.answers), max(1, len(self.label_values))))
        known = self._label_index >= 0
        if len(self.label_values) < 2:
            return proba
        x = self.memory.vectors(self.memory.questions)
        full = LogisticRegression(C=4.0, max_iter=2000).fit(x[known], self._label_index[known])
        self.label_model = {
            "coef": full.coef_.tolist(),
            "intercept": full.intercept_.tolist(),
            "classes": full.classes_.tolist(),
        }
        for f in np.unique(fold):
            fit_rows = known & (fold != f)
            if len(np.unique(self._label_index[fit_rows])) < 2:
                continue
            part = LogisticRegression(C=4.0, max_iter=2000).fit(x[fit_rows], self._label_index[fit_rows])
            proba[np.ix_(fold == f, part.classes_)] = part.predict_proba(x[fold == f])
        return proba

    def _label_proba(self, questions: list[str]) -> np.ndarray:
        proba = np.zeros((len(questions), max(1, len(self.label_values))))
        if self.label_model is None:
            return proba
        scores = self.memory.vectors(questions) @ np.array(self.label_model["coef"]).T
        scores = scores + np.array(self.label_model["intercept"])
        if scores.shape[1] == 1:  # two classes: sklearn keeps one weight row
            scores = np.hstack([-scores, scores]) / 2
        scores = np.exp(scores - scores.max(1, keepdims=True))
        proba[:, self.label_model["classes"]] = scores / scores.sum(1, keepdims=True)
        return proba

    # ---------------------------------------------------------------- use

    def ranked(self, questions: list[str], k: int = 1) -> list[list[int]]:
        """Memory rows of the k best candidates for each question, best first. The memory's copies of a question
        (AnswerMemory.copies: spacing, punctuation and case aside) come first, in the reranker's order: a question
        asked as it was trained gets one of its own answers, whatever the features say."""
        if self.model is None:
            raise RuntimeError("the reranker is not trained")
        normed = [normalize(q) for q in questions]
        rows, sims = self.memory.scored_top(normed, self.candidates)
        scores = self.model.predict(
            self._features(normed, rows, sims, self._label_proba(normed), lambda _, answer: self._frequency[answer])
        ).reshape(rows.shape)
        for i, q in enumerate(normed):
            if copies := self.memory.copies(q):
                scores[i, np.isin(rows[i], copies)] += EXACT_FIRST
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(rows, order, 1).tolist()

    def _features(
        self, questions: list[str], rows: np.ndarray, sims: np.ndarray, proba: np.ndarray, frequency
    ) -> np.ndarray:
        k = rows.shape[1]
        fit = self._fit_space.transform(questions)
        off = ~np.eye(k, dtype=bool)
        out = np.zeros((len(questions), k, len(FEATURES)))
        for i, q in enumerate(questions):
            cands = [self.answers[j] for j in rows[i]]
            s = sims[i]
            pair = np.array(
                [
                    [self._chrf.chrf(a, b) if a_i != b_i else 0.0 for b_i, b in enumerate(cands)]
                    for a_i, a in enumerate(cands)
                ]
            )
            weight = np.clip(s, 1e-6, None)
            consensus = pair.sum(1) / max(1, k - 1)
            top5 = (pair[:, :5] * off[:, :5]).sum(1) / np.maximum(off[:, :5].sum(1), 1)
            weighted = (pair * weight[None, :]).sum(1) / np.maximum((off * weight[None, :]).sum(1), 1e-9)
            question_fit = np.asarray((self._answer_vectors[rows[i]] @ fit[i].T).todense()).ravel()
            chars = np.array([len(c.replace(" ", "")) for c in cands], float)
            q_chars = max(1, len(q.replace(" ", "")))
            votes, vote_sim = Counter(cands), Counter()
            for c, v in zip(cands, s):
                vote_sim[c] += v
            q_set = set(q.replace(" ", ""))
            predicted = int(proba[i].argmax())
            for c_i, (j, c) in enumerate(zip(rows[i], cands)):
                c_set = set(c.replace(" ", ""))
                shared = len(q_set & c_set)
                label = int(self._label_index[j])
                out[i, c_i] = (
                    c_i,
                    s[c_i],
                    s[c_i] - s[0],
                    s[c_i] / max(s[0], 1e-6),
                    s[0],
                    question_fit[c_i],
                    self._own_fit[j],
                    chars[c_i],
                    len(c.split()),
                    q_chars,
                    chars[c_i] / q_chars,
                    chars[c_i] / max(chars.mean(), 1e-6),
                    np.log1p(frequency(i, c)),
                    consensus[c_i],
                    top5[c_i],
                    weighted[c_i],
                    consensus[c_i] - consensus.max(),
                    votes[c],
                    vote_sim[c],
                    proba[i, label] if label >= 0 else 0.0,
                    float(label == predicted and label >= 0),
                    label,
                    shared / max(1, len(q_set | c_set)),
                    shared / max(1, len(c_set)),
                    shared / max(1, len(q_set)),
                )
        return out.reshape(-1, len(FEATURES))

    # ---------------------------------------------------------------- model directory files

    def to_files(self) -> tuple[dict, bytes]:
        import skops.io

        return (
            {
                "candidates": self.candidates,
                "answers": self.answers,
                "labels": self.labels,
                "label_model": self.label_model,
                "features": list(FEATURES),
            },
            skops.io.dumps(self.model),
        )

    @classmethod
    def from_files(cls, memory: AnswerMemory, data: dict, trees: bytes) -> "AnswerReranker":
        import skops.io

        untrusted = set(skops.io.get_untrusted_types(data=trees)) - set(TRUSTED)
        if untrusted:
            raise ValueError(
                f"reranker.skops holds types a reranker never has ({sorted(untrusted)}); "
                "retrain the model instead of loading this file"
            )
        reranker = cls(memory, data["answers"], data["labels"], data["candidates"])
        reranker.label_model = data["label_model"]
        reranker.model = skops.io.loads(trees, trusted=TRUSTED)
        return reranker


# ---------------------------------------------------------------- the encode stage's part


def fit_for_table(table, memory: AnswerMemory, encode_cfg: dict, split_cfg: dict) -> tuple[AnswerReranker, dict]:
    """A reranker over the train split of a tokenized N2M table (the rows `memory` was built from), its
    folds grouped as the split groups rows: blocks of `split.block_rows` source rows, else the question."""
    import pyarrow.compute as pc

    train = table.filter(pc.equal(table.column("split"), "train"))
    block = int(split_cfg["block_rows"])
    if block > 0:
        groups = [
            f"{f}:{int(r) // block}"
            for f, r in zip(train.column("source_file").to_pylist(), train.column("source_row").to_pylist())
        ]
    else:
        groups = [normalize(q) for q in train.column("question").to_pylist()]
    labels = train.column("label").to_pylist() if "label" in train.column_names else [None] * train.num_rows
    reranker = AnswerReranker(memory, train.column("answer").to_pylist(), labels, int(encode_cfg["rerank_candidates"]))
    return reranker, reranker.fit(groups, int(encode_cfg["rerank_folds"]))


def save(reranker: AnswerReranker | None, folder) -> None:
    """`folder`/reranker.json (+ reranker.skops); without a reranker, a reranker.json that says so."""
    from pathlib import Path

    from tasks import io

    folder = Path(folder)
    if reranker is None:
        io.write_json({"enabled": False}, folder / "reranker.json")
        (folder / "reranker.skops").unlink(missing_ok=True)
        return
    data, trees = reranker.to_files()
    with io.atomic_path(folder / "reranker.skops", ".skops") as tmp:
        tmp.write_bytes(trees)
    io.write_json({"enabled": True, **data}, folder / "reranker.json")


def load(memory: AnswerMemory, data: dict | None, trees: bytes | None) -> AnswerReranker | None:
    """The reranker of a model directory's files, None when it was trained without one."""
    if not data or not data.get("enabled"):
        return None
    if trees is None:
        raise FileNotFoundError(
            "reranker.json says a reranker was trained but reranker.skops is missing; "
            "retrain (`hanflow run --problem n2m` or `dvc repro`)"
        )
    return AnswerReranker.from_files(memory, data, trees)


def load_retrieval(bundle: dict) -> tuple[AnswerMemory, AnswerReranker | None]:
    """A model directory's answer memory and reranker (None when trained without one), from its files."""
    memory = AnswerMemory.from_json(bundle["retrieval.json"])
    # .get: a model directory trained before the reranker has no reranker files.
    return memory, load(memory, bundle.get("reranker.json"), bundle.get("reranker.skops"))
