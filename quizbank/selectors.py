"""Reads from the question bank."""

from __future__ import annotations

from django.db.models import QuerySet

from quizbank import prompts
from quizbank.models import Question

SPLITS = ("all", "train", "val", "test")


def question_split(question: Question) -> str:
    """A stable split from the content hash: 80% train, 10% val, 10% test."""
    bucket = int(question.content_hash[:8], 16) % 10
    return "test" if bucket == 0 else "val" if bucket == 1 else "train"


def question_list(*, subject: str = "", split: str = "all", qtype: str = "") -> list[Question]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    queryset: QuerySet[Question] = Question.objects.select_related("subject").order_by("id")
    if subject:
        queryset = queryset.filter(subject__path__startswith=subject)
    if qtype:
        queryset = queryset.filter(qtype=qtype)
    return [question for question in queryset if split == "all" or question_split(question) == split]


def question_instruction_record(question: Question) -> dict:
    return prompts.instruction_record(
        qtype=question.qtype,
        stem=question.stem,
        options=question.options,
        answer=question.answer,
        explanation=question.explanation,
    )


def dataset_alpaca(*, subject: str = "", split: str = "all") -> list[dict]:
    """The bank as the seed's instruction records, in question order."""
    return [question_instruction_record(question) for question in question_list(subject=subject, split=split)]
