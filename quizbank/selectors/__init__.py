"""Reads, one module per concern: the bank (questions), papers and sessions (exams), results (results),
what the model learns from (datasets)."""

from quizbank.selectors.datasets import dataset_alpaca, dataset_questions, teacher_graded_answers
from quizbank.selectors.questions import (
    SPLIT_SEED,
    SPLITS,
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
    "dataset_questions",
    "question_list",
    "question_queryset",
    "question_search",
    "question_split",
    "questions_iter",
    "subject_filter",
    "teacher_graded_answers",
]
