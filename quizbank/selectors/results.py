"""Teacher reads: sessions of a paper, the grading queue, and item statistics with Moodle's formulas.

facility = mean mark / max mark; discrimination index = Pearson correlation between the question's
mark and the rest of the test (total − this question), over finished sessions. A negative index
means stronger students did worse on the question than weaker ones: the item is flagged.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet

from quizbank.models import UNGRADED, Answer, Paper, QuizSession, SchoolClass, SessionState
from quizbank.selectors.exams import grade_of


def paper_sessions(*, paper: Paper, school_class: SchoolClass | None = None) -> QuerySet[QuizSession]:
    """The paper's attempts (of one class's students, given the class)."""
    sessions = QuizSession.objects.filter(paper=paper)
    if school_class is not None:
        sessions = sessions.filter(user__enrolments__school_class=school_class)
    return sessions.select_related("user").order_by("user__username", "number")


def student_grades(*, paper: Paper, sessions: Iterable[QuizSession]) -> list[dict]:
    """Each student's grade by the paper's grading method, from the paper's attempts already loaded
    (`paper_sessions`): `user`, `attempts`, `finished` (how many submitted) and `grade`."""
    by_user: dict[int, list[QuizSession]] = {}
    for session in sessions:
        by_user.setdefault(session.user_id, []).append(session)
    return [
        {
            "user": attempts[0].user,
            "attempts": len(attempts),
            "finished": sum(1 for s in attempts if s.state == SessionState.FINISHED),
            "grade": grade_of(paper=paper, sessions=attempts),
        }
        for attempts in by_user.values()
    ]


def answers_by_session(*, paper: Paper, school_class: SchoolClass | None = None) -> dict[int, list[Answer]]:
    """The paper's answers with their questions and slots, grouped by attempt in question order."""
    answers = (
        _of_class(Answer.objects.filter(session__paper=paper), school_class)
        .select_related("question", "item")
        .order_by("session_id", "item__position")
    )
    grouped: dict[int, list[Answer]] = defaultdict(list)
    for answer in answers:
        if answer.session_id is not None:  # always: the filter goes through the session
            grouped[answer.session_id].append(answer)
    return grouped


def answers_for_teacher() -> QuerySet[Answer]:
    """Answers with what a teacher's page about one of them shows (pick one by its id)."""
    return Answer.objects.select_related("question", "user", "item", "session__paper", "graded_by")


def finished_count(*, paper: Paper, school_class: SchoolClass | None = None) -> int:
    return _of_class(paper.sessions.filter(state=SessionState.FINISHED), school_class).count()


def _of_class(queryset: QuerySet, school_class: SchoolClass | None) -> QuerySet:
    """Rows with a `user` of this class's students (all rows without a class)."""
    return queryset if school_class is None else queryset.filter(user__enrolments__school_class=school_class)


def grading_queue(*, paper: Paper | None = None) -> QuerySet[Answer]:
    """Answers of finished sessions that a teacher (or the model) still has to grade, oldest first."""
    queryset = Answer.objects.filter(grade_status__in=UNGRADED, session__state=SessionState.FINISHED)
    if paper is not None:
        queryset = queryset.filter(session__paper=paper)
    return queryset.select_related("question", "user", "session__paper", "item").order_by("submitted_at", "id")


@dataclass(frozen=True)
class ItemStatistics:
    question_id: int
    position: int | None
    stem: str
    qtype: str
    attempts: int
    max_mark: Decimal
    mean_mark: float | None
    facility: float | None
    discrimination: float | None

    @property
    def flagged(self) -> bool:
        return self.discrimination is not None and self.discrimination < 0


def _pearson(xs: list[float], ys: list[float]) -> float | None:
    n = len(xs)
    if n < 2:
        return None
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    syy = sum((y - mean_y) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return sxy / math.sqrt(sxx * syy)


def item_statistics(*, paper: Paper, school_class: SchoolClass | None = None) -> list[ItemStatistics]:
    """One row per question met in the paper's finished sessions (a random paper's whole pool; one
    class's students, given the class). Answers still waiting for a grade count in neither their
    question's row nor the totals."""
    rows = (
        _of_class(Answer.objects.filter(session__paper=paper, session__state=SessionState.FINISHED), school_class)
        .exclude(grade_status__in=UNGRADED)
        .order_by("session_id", "item__position")
        .values_list(
            "session_id", "question_id", "score", "max_score", "item__position", "question__stem", "question__qtype"
        )
    )
    totals: dict[int, float] = defaultdict(float)
    marks: dict[int, dict[int, float]] = defaultdict(dict)
    info: dict[int, tuple] = {}
    for session_id, question_id, score, max_score, position, stem, qtype in rows:
        mark = float(score or 0)
        totals[session_id] += mark
        marks[question_id][session_id] = mark
        info.setdefault(question_id, (position, stem, qtype, max_score or Decimal(0)))
    result = []
    for question_id, by_session in marks.items():
        position, stem, qtype, max_mark = info[question_id]
        values = list(by_session.values())
        mean = sum(values) / len(values)
        rest = [totals[session_id] - mark for session_id, mark in by_session.items()]
        result.append(
            ItemStatistics(
                question_id=question_id,
                position=position,
                stem=stem,
                qtype=qtype,
                attempts=len(values),
                max_mark=max_mark,
                mean_mark=mean,
                facility=mean / float(max_mark) if max_mark else None,
                discrimination=_pearson(values, rest),
            )
        )
    return sorted(result, key=lambda row: (row.position or 0, row.question_id))
