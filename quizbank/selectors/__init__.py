"""Reads, one module per concern: the bank (questions), papers and sessions (exams), results (results)."""

from quizbank.selectors.questions import (
    SPLIT_SEED,
    SPLITS,
    dataset_alpaca,
    question_list,
    question_queryset,
    question_search,
    question_split,
    questions_iter,
    subject_filter,
)

__all__ = [
    "SPLITS",
    "SPLIT_SEED",
    "dataset_alpaca",
    "question_list",
    "question_queryset",
    "question_search",
    "question_split",
    "questions_iter",
    "subject_filter",
]
