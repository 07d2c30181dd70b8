"""Reads of what the model learns from: the bank's questions as instruction records, and the answers
teachers graded (the grader's data). Open exams' questions are left out of both: their keys must not
be taught."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.db.models import Q

from quizbank.models import GRADED_TYPES, Answer, GradeStatus
from quizbank.prompt_inputs import question_record
from quizbank.selectors.exams import locked_question_ids
from quizbank.selectors.questions import question_split, questions_iter


def dataset_alpaca(
    *,
    subject: str = "",
    split: str = "all",
    allow_non_commercial: bool = False,
    created_after: datetime | None = None,
) -> list[dict]:
    """The bank as the seed's instruction records, for training: evaluation-only sources and the questions
    of exams still open left out."""
    return [
        record
        for _, record in dataset_questions(
            subject=subject, split=split, allow_non_commercial=allow_non_commercial, created_after=created_after
        )
    ]


def dataset_questions(
    *,
    subject: str = "",
    split: str = "all",
    allow_non_commercial: bool = False,
    created_after: datetime | None = None,
) -> list[tuple[int, dict]]:
    """dataset_alpaca's records with the id of the question (version) each was made from."""
    questions = questions_iter(
        subject=subject,
        split=split,
        allow_non_commercial=allow_non_commercial,
        created_after=created_after,
        exclude_locked=True,
    )
    pairs = ((question.pk, question_record(question)) for question in questions)
    return [(question_id, record) for question_id, record in pairs if record is not None]


def teacher_graded_answers(
    *, subject: str = "", split: str = "all", allow_non_commercial: bool = True
) -> Iterator[Answer]:
    """Answers to short-answer and essay questions whose grade a teacher set, in id order; the split
    is the question's, so no question of the test split teaches the grader. Answers to the questions of
    exams still open are left out: the grading prompt carries the key."""
    queryset = (
        Answer.objects.filter(grade_status=GradeStatus.TEACHER, question__qtype__in=GRADED_TYPES, score__isnull=False)
        .exclude(response="")
        .exclude(question_id__in=locked_question_ids())
        .select_related("question", "question__root")
        .order_by("id")
    )
    if subject:
        path = subject.strip().strip("/")
        queryset = queryset.filter(Q(question__subject__path=path) | Q(question__subject__path__startswith=f"{path}/"))
    for answer in queryset.iterator(chunk_size=500):
        if not allow_non_commercial and answer.question.is_non_commercial:
            continue
        if split == "all" or question_split(answer.question) == split:
            yield answer
