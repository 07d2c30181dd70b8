"""Reads from the question bank."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import Q, QuerySet

from quizbank.models import Question

SPLITS = ("all", "train", "val", "test")
SPLIT_SEED = "quizsite-split-v1"


def question_split(question: Question, *, seed: str = SPLIT_SEED) -> str:
    """train (80%) / val (10%) / test (10%), from a seeded hash of the question's first version.

    Each question's split depends on itself only, so it never moves when the bank grows or the
    question is edited; within every subject the proportions hold up to sampling noise.
    """
    key = question.root.content_hash if question.root is not None else question.content_hash
    bucket = int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:8], 16) % 100
    return "test" if bucket < 10 else "val" if bucket < 20 else "train"


def subject_filter(subject: str) -> Q:
    subject = subject.strip().strip("/")
    return Q(subject__path=subject) | Q(subject__path__startswith=f"{subject}/")


def question_queryset(*, subject: str = "", qtype: str = "", current_only: bool = True) -> QuerySet[Question]:
    queryset = Question.objects.select_related("subject", "root").order_by("id")
    if current_only:
        queryset = queryset.filter(is_current=True)
    if subject:
        queryset = queryset.filter(subject_filter(subject))
    if qtype:
        queryset = queryset.filter(qtype=qtype)
    return queryset


def questions_iter(
    *,
    subject: str = "",
    split: str = "all",
    qtype: str = "",
    allow_non_commercial: bool = True,
    created_after: datetime | None = None,
    exclude_locked: bool = False,
) -> Iterator[Question]:
    """Questions in id order, streamed; `allow_non_commercial=False` leaves out evaluation-only data,
    `exclude_locked` the questions of exams still open (training data must not teach their keys)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    queryset = question_queryset(subject=subject, qtype=qtype)
    if created_after is not None:
        queryset = queryset.filter(created_at__gt=created_after)
    if exclude_locked:
        from quizbank.selectors.exams import locked_question_ids

        queryset = queryset.exclude(pk__in=locked_question_ids())
    for question in queryset.iterator(chunk_size=2000):
        if not allow_non_commercial and question.is_non_commercial:
            continue
        if split == "all" or question_split(question) == split:
            yield question


def question_list(*, subject: str = "", split: str = "all", qtype: str = "") -> list[Question]:
    return list(questions_iter(subject=subject, split=split, qtype=qtype))


def question_search(
    *,
    subject: str = "",
    qtype: str = "",
    difficulty: int | None = None,
    tag: str = "",
    source: str = "",
    search: str = "",
    include_old_versions: bool = False,
) -> QuerySet[Question]:
    """The teacher's bank view: current versions, filtered."""
    queryset = question_queryset(subject=subject, qtype=qtype, current_only=not include_old_versions)
    if difficulty is not None:
        queryset = queryset.filter(difficulty=difficulty)
    if tag:
        queryset = queryset.filter(tags__name=tag)
    if source:
        queryset = queryset.filter(Q(source_dataset__iexact=source) | Q(source_file__icontains=source))
    if search:
        queryset = queryset.filter(Q(stem__icontains=search) | Q(explanation__icontains=search))
    return queryset.prefetch_related("tags", "knowledge_points").distinct()


def questions_by_ids(ids: Iterable[int]) -> QuerySet[Question]:
    """These questions, with their subjects."""
    return Question.objects.filter(pk__in=ids).select_related("subject")


def question_current_version(*, question: Question) -> Question | None:
    """The current version of a question (itself, if it is current), or None when no version is."""
    if question.is_current:
        return question
    root_id = question.root_id or question.pk
    return Question.objects.filter(Q(pk=root_id) | Q(root_id=root_id), is_current=True).first()
