"""Who may do what with a bank or a paper, and which students a paper is for.

A bank is a top-level subject and everything under it. A bank or a paper without an owner is the
school's: every teacher may view, use and edit it (what the bank was before banks had owners). An
owner's bank or paper is theirs alone until they share it with a level (view < use < edit); admins
reach everything. A paper assigned to classes is for their students only; an unassigned one is
open to every student, as open practice and school-wide papers are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from core.recent import Recent
from quizbank.models import AccessLevel, BankShare, Enrolment, Paper, PaperAssignment, PaperShare, Question, Subject
from quizbank.models.school import LEVEL_ORDER
from quizbank.roles import is_admin, is_teacher


def level_reaches(level: str | None, wanted: str) -> bool:
    """Whether a share of `level` (None: no share) allows what `wanted` allows."""
    return level is not None and LEVEL_ORDER[AccessLevel(level)] >= LEVEL_ORDER[AccessLevel(wanted)]


def bank_root(subject: Subject) -> Subject:
    """The top-level subject (the bank) a subject belongs to."""
    root_path = subject.path.split("/", 1)[0]
    if subject.parent_id is None or root_path == subject.path:
        return subject
    return Subject.objects.get(path=root_path)


def bank_level(*, user: User, subject: Subject) -> str | None:
    """The user's level on the bank holding `subject`: "edit", "use", "view" or None."""
    if not is_teacher(user):
        return None
    root = bank_root(subject)
    if is_admin(user) or root.owner_id is None or root.owner_id == user.pk:
        return AccessLevel.EDIT
    return BankShare.objects.filter(subject=root, teacher=user).values_list("level", flat=True).first()


def bank_allows(*, user: User, subject: Subject, level: str) -> bool:
    return level_reaches(bank_level(user=user, subject=subject), level)


def subjects_reachable(*, user: User, level: str = AccessLevel.VIEW) -> QuerySet[Subject]:
    """Every subject in the banks the teacher reaches at `level` or above."""
    if is_admin(user):
        return Subject.objects.all()
    levels = [name for name, order in LEVEL_ORDER.items() if order >= LEVEL_ORDER[AccessLevel(level)]]
    roots = Subject.objects.filter(parent__isnull=True).filter(
        Q(owner__isnull=True) | Q(owner=user) | Q(shares__teacher=user, shares__level__in=levels)
    )
    paths = list(roots.values_list("path", flat=True).distinct())
    if not paths:
        return Subject.objects.none()
    match = Q()
    for path in paths:
        match |= Q(path=path) | Q(path__startswith=f"{path}/")
    return Subject.objects.filter(match)


def paper_level(*, user: User, paper: Paper) -> str | None:
    """The teacher's level on a class paper: "edit", "use", "view" or None."""
    if not is_teacher(user) or paper.owner_id is not None:
        return None  # a student's personal practice paper is theirs only
    if is_admin(user) or paper.created_by_id is None or paper.created_by_id == user.pk:
        return AccessLevel.EDIT
    return PaperShare.objects.filter(paper=paper, teacher=user).values_list("level", flat=True).first()


def paper_allows(*, user: User, paper: Paper, level: str) -> bool:
    return level_reaches(paper_level(user=user, paper=paper), level)


def paper_for_teacher(*, user: User, paper_id: int, level: str = AccessLevel.VIEW) -> Paper:
    """A class paper the teacher reaches at `level`: Http404 where there is none, PermissionDenied
    where it is another teacher's and not shared with them (enough)."""
    paper = Paper.objects.filter(pk=paper_id, owner__isnull=True).first()
    if paper is None:
        raise Http404("no such paper")
    if not paper_allows(user=user, paper=paper, level=level):
        raise PermissionDenied
    return paper


def question_for_teacher(*, user: User, question: Question, level: str = AccessLevel.VIEW) -> Question:
    """The question, where its bank lets the teacher reach it at `level` (PermissionDenied otherwise)."""
    if not bank_allows(user=user, subject=question.subject, level=level):
        raise PermissionDenied
    return question


def papers_reachable(papers: QuerySet[Paper], *, user: User) -> QuerySet[Paper]:
    """Of these papers, those the teacher may at least view."""
    if is_admin(user):
        return papers
    shared = PaperShare.objects.filter(paper=OuterRef("pk"), teacher=user)
    return papers.filter(Q(created_by__isnull=True) | Q(created_by=user) | Exists(shared))


def papers_visible_to_student(papers: QuerySet[Paper], *, user: User) -> QuerySet[Paper]:
    """Of these papers, those for this student: unassigned ones, and those assigned to a class of theirs."""
    assigned = PaperAssignment.objects.filter(paper=OuterRef("pk"))
    theirs = assigned.filter(school_class__enrolments__user=user)
    return papers.filter(Q(owner=user) | ~Exists(assigned) | Exists(theirs))


# A paper's assignments to classes, as every start and review of it asks: kept in this process for a few
# seconds, since a class starts and submits together. A change through the services or the admin site
# is forgotten at once here (quizbank.receivers); in another process after at most 10 s.
_assignments: Recent[list[PaperAssignment]] = Recent(seconds=10.0, limit=2_000)


def paper_assignments(*, paper_id: int) -> list[PaperAssignment]:
    """Every assignment of the paper (to any class), oldest first."""
    return _assignments.read(paper_id, lambda: list(PaperAssignment.objects.filter(paper_id=paper_id).order_by("pk")))


def paper_assignments_forget(*, paper_id: int | None = None) -> None:
    _assignments.forget(paper_id)


def _assignments_of(*, paper_id: int, user: User | int) -> tuple[bool, list[PaperAssignment]]:
    """(whether the paper is assigned at all, its assignments to the student's classes): no query for a
    paper assigned to no class, one otherwise."""
    assignments = paper_assignments(paper_id=paper_id)
    if not assignments:
        return False, []
    classes = set(
        Enrolment.objects.filter(user=user, school_class_id__in={a.school_class_id for a in assignments})
        .order_by()
        .values_list("school_class_id", flat=True)
    )
    return True, [assignment for assignment in assignments if assignment.school_class_id in classes]


def paper_reached_by(*, paper: Paper, user: User) -> list[PaperAssignment] | None:
    """`papers_visible_to_student` for one paper already read: None where the student may not see it,
    else the assignments of the paper to their classes (for `terms_of`). A published paper of the
    school or of the student's own, then: theirs, or unassigned, or assigned to a class of theirs."""
    if not paper.published or paper.owner_id not in (None, user.pk):
        return None
    assigned, own = _assignments_of(paper_id=paper.pk, user=user)
    return own if not assigned or own or paper.owner_id == user.pk else None


@dataclass(frozen=True)
class Terms:
    """When a student may take a paper and for how long: their class's window and limit, or the paper's."""

    open_at: datetime | None
    close_at: datetime | None
    time_limit_seconds: int | None

    def is_open(self, now: datetime) -> bool:
        return not (self.open_at and now < self.open_at) and not (self.close_at and now >= self.close_at)


def paper_terms(*, paper: Paper, user: User | int, now: datetime | None = None) -> Terms:
    """The student's terms for the paper. A student in several of its classes gets the window open
    now, else the one opening next, else the one that closed last."""
    return terms_of(paper=paper, assignments=_assignments_of(paper_id=paper.pk, user=user)[1], now=now)


def assignments_of_student(*, user: User) -> QuerySet[PaperAssignment]:
    """The assignments of the student's classes (to prefetch as a paper's `own_assignments`)."""
    return PaperAssignment.objects.filter(school_class__enrolments__user=user)


def terms_of(*, paper: Paper, assignments: Iterable[PaperAssignment], now: datetime | None = None) -> Terms:
    """`paper_terms` from the student's assignments of the paper, already loaded."""
    own = Terms(paper.open_at, paper.close_at, paper.time_limit_seconds)
    candidates = [
        Terms(
            a.open_at or paper.open_at,
            a.close_at or paper.close_at,
            a.time_limit_seconds or paper.time_limit_seconds,
        )
        for a in assignments
    ]
    if not candidates:
        return own
    now = now or timezone.now()
    open_now = [terms for terms in candidates if terms.is_open(now)]
    if open_now:
        return max(open_now, key=lambda t: (t.close_at is None, t.close_at or now))
    upcoming = [terms for terms in candidates if terms.open_at and terms.open_at > now]
    if upcoming:
        return min(upcoming, key=lambda t: t.open_at or now)
    return max(candidates, key=lambda t: t.close_at or now)


def banks_of_teacher(*, user: User) -> list[Subject]:
    """The banks (top-level subjects) the teacher reaches, each with their `level` on it, its owner
    and its shares loaded."""
    banks = list(
        Subject.objects.filter(parent__isnull=True)
        .select_related("owner")
        .prefetch_related("shares__teacher")
        .order_by("path")
    )
    reached = []
    for bank in banks:
        level = bank_level(user=user, subject=bank)
        if level is not None:
            bank.level = level  # type: ignore[attr-defined]
            reached.append(bank)
    return reached
