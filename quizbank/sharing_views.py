"""The banks page: the banks (top-level subjects) a teacher reaches, whose they are, and, for their
own, whom they are shared with and at what level."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.exceptions import ApplicationError
from quizbank.models import Subject
from quizbank.roles import is_admin
from quizbank.selectors.access import banks_of_teacher
from quizbank.services.classes import bank_claim, bank_share
from quizbank.teacher_scope import ShareForm, share_form_teacher
from quizbank.teacher_views import teacher_required


@teacher_required
@require_GET
def teacher_banks(request):
    banks = banks_of_teacher(user=request.user)
    for bank in banks:
        bank.may_share = is_admin(request.user) or bank.owner_id == request.user.pk
    return render(request, "quizbank/teacher_banks.html", {"banks": banks, "share_form": ShareForm(auto_id=False)})


@teacher_required
@require_POST
def teacher_bank_share(request, subject_id: int):
    bank = get_object_or_404(Subject, pk=subject_id, parent__isnull=True)
    teacher, level = share_form_teacher(request)
    if teacher is None:
        messages.error(request, _("No teacher has this username."))
        return redirect("teacher-banks")
    try:
        bank_share(subject=bank, teacher=teacher, level=level, by=request.user)
    except ApplicationError as exc:
        if exc.extra.get("code") == "not_owner":
            raise PermissionDenied from exc
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Sharing saved."))
    return redirect("teacher-banks")


@teacher_required
@require_POST
def teacher_bank_claim(request, subject_id: int):
    """A school bank (no owner) becomes the teacher's own, to share as they choose."""
    bank = get_object_or_404(Subject, pk=subject_id, parent__isnull=True)
    try:
        bank_claim(subject=bank, owner=request.user)
    except ApplicationError as exc:
        raise PermissionDenied from exc
    messages.success(request, _("The bank is yours now."))
    return redirect("teacher-banks")
