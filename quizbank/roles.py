"""Roles are Django groups: student, teacher, admin."""

from rest_framework.permissions import BasePermission

STUDENT, TEACHER, ADMIN = "student", "teacher", "admin"


def is_teacher(user) -> bool:
    """Teachers and admins manage the bank."""
    if not user.is_authenticated:
        return False
    return user.is_superuser or user.groups.filter(name__in=[TEACHER, ADMIN]).exists()


def is_admin(user) -> bool:
    """Admins (and superusers) tune and promote the models."""
    if not user.is_authenticated:
        return False
    return user.is_superuser or user.groups.filter(name=ADMIN).exists()


class IsTeacher(BasePermission):
    message = "Only teachers can do this."

    def has_permission(self, request, view) -> bool:
        return is_teacher(request.user)
