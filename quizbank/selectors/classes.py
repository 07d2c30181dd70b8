"""Reads of classes: a teacher's classes, a class's students and papers, a student's classes."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet

from quizbank.models import Paper, PaperAssignment, SchoolClass
from quizbank.roles import is_admin


def classes_of_teacher(*, user: User) -> QuerySet[SchoolClass]:
    """The classes a teacher manages (theirs and those without a teacher; every class for an admin),
    each with its number of students (`student_count`)."""
    classes = SchoolClass.objects.all()
    if not is_admin(user):
        classes = classes.filter(Q(owner=user) | Q(owner__isnull=True))
    return classes.annotate(student_count=Count("enrolments")).order_by("name")


def class_students(*, school_class: SchoolClass) -> QuerySet[User]:
    return (
        User.objects.filter(enrolments__school_class=school_class)
        .select_related("student_account")
        .order_by("username")
    )


def class_assignments(*, school_class: SchoolClass) -> QuerySet[PaperAssignment]:
    return school_class.assignments.select_related("paper").order_by("-paper__created_at")


def paper_assignments(*, paper: Paper) -> QuerySet[PaperAssignment]:
    return paper.assignments.select_related("school_class").annotate(student_count=Count("school_class__enrolments"))


def classes_of_student(*, user: User) -> QuerySet[SchoolClass]:
    return SchoolClass.objects.filter(enrolments__user=user).order_by("name")


def must_change_password(*, user: User) -> bool:
    """Whether the student still signs in with the one-time password their teacher handed out."""
    account = getattr(user, "student_account", None)
    return bool(account and account.must_change_password)
