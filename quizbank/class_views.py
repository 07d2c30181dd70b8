"""Class pages: a teacher's classes (create one, enrol a roster, hand out the join code, see the papers
given to it), giving a paper to a class, sharing a paper, and, for students, joining a class with a
code and choosing their own password after a first sign-in with a one-time one."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django import forms
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.exceptions import ApplicationError
from quizbank.exporters.results import XLSX_TYPE, results_workbook
from quizbank.middleware import MUST_CHOOSE_KEY
from quizbank.models import AccessLevel, SchoolClass
from quizbank.roles import is_admin
from quizbank.selectors.classes import (
    class_assignments,
    class_students,
    classes_of_student,
    classes_of_teacher,
)
from quizbank.selectors.results import item_statistics, paper_sessions, student_grades
from quizbank.services.classes import (
    class_create,
    class_join,
    class_owner_check,
    class_students_import,
    enrolment_remove,
    paper_assign,
    paper_share,
    paper_unassign,
    student_password_changed,
)
from quizbank.teacher_scope import AssignForm, class_chosen, paper_of_teacher_or_403, share_form_teacher
from quizbank.teacher_views import teacher_required

ROSTER_MAX_BYTES = 5 * 1024 * 1024
# The one-time passwords of the last roster import, kept in the teacher's session until downloaded once.
CREDENTIALS_KEY = "roster_credentials"


class ClassForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Class name"), max_length=100)


class RosterForm(forms.Form):
    roster = forms.FileField(
        label=gettext_lazy("Student list (xlsx or CSV: 学号, 姓名, optionally 班级)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv,.txt"}),
    )


class JoinForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Class code"), max_length=16)


def _own_class(request, class_id: int) -> SchoolClass:
    school_class = get_object_or_404(SchoolClass, pk=class_id)
    try:
        class_owner_check(school_class=school_class, user=request.user)
    except ApplicationError:
        raise PermissionDenied from None
    return school_class


@teacher_required
@require_http_methods(["GET", "POST"])
def teacher_classes(request):
    form = ClassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            school_class = class_create(name=form.cleaned_data["name"], owner=request.user)
        except ApplicationError as exc:
            form.add_error("name", exc.message)
        else:
            return redirect("teacher-class", class_id=school_class.pk)
    return render(
        request, "quizbank/teacher_classes.html", {"classes": classes_of_teacher(user=request.user), "form": form}
    )


@teacher_required
@require_http_methods(["GET", "POST"])
def teacher_class(request, class_id: int):
    school_class = _own_class(request, class_id)
    form = RosterForm(request.POST or None, request.FILES or None)
    errors: list[dict] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["roster"]
        if upload.size > ROSTER_MAX_BYTES:
            form.add_error("roster", _("The file is larger than 5 MB."))
        else:
            try:
                report = _roster_import(upload, school_class=school_class, by=request.user)
            except ApplicationError as exc:
                form.add_error("roster", exc.message)
                errors = exc.extra.get("errors", [])
            else:
                if report.created:
                    request.session[CREDENTIALS_KEY] = report.credentials_csv()
                messages.success(
                    request,
                    _("%(created)d accounts created, %(enrolled)d students enrolled, %(already)d already in the class.")
                    % {"created": len(report.created), "enrolled": report.enrolled, "already": report.already_enrolled},
                )
                return redirect("teacher-class", class_id=school_class.pk)
    context = {
        "school_class": school_class,
        "students": class_students(school_class=school_class),
        "assignments": class_assignments(school_class=school_class),
        "form": form,
        "errors": errors,
        "credentials_ready": CREDENTIALS_KEY in request.session,
    }
    return render(request, "quizbank/teacher_class.html", context)


def _roster_import(upload, *, school_class: SchoolClass, by: User):
    suffix = Path(upload.name).suffix.lower()[:8]
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
        handle.flush()
        return class_students_import(path=Path(handle.name), file_name=upload.name, by=by, school_class=school_class)


@teacher_required
@require_GET
def teacher_class_credentials(request, class_id: int):
    """The one-time passwords of the last import, downloadable once: they are not kept anywhere else."""
    school_class = _own_class(request, class_id)
    text = request.session.pop(CREDENTIALS_KEY, None)
    if text is None:
        messages.info(request, _("The passwords were downloaded already; they are shown only once."))
        return redirect("teacher-class", class_id=school_class.pk)
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="class-{school_class.pk}-passwords.csv"'
    response["Cache-Control"] = "no-store"
    return response


@teacher_required
@require_POST
def teacher_class_remove(request, class_id: int, user_id: int):
    school_class = _own_class(request, class_id)
    student = get_object_or_404(User, pk=user_id)
    enrolment_remove(school_class=school_class, student=student, by=request.user)
    messages.success(request, _("%(name)s left the class.") % {"name": student.get_full_name() or student.username})
    return redirect("teacher-class", class_id=school_class.pk)


@teacher_required
@require_POST
def teacher_paper_assign(request, paper_id: int):
    paper = paper_of_teacher_or_403(request, paper_id, AccessLevel.USE)
    form = AssignForm(request.POST, user=request.user)
    if not form.is_valid():
        for field, problems in form.errors.items():
            messages.error(
                request, f"{form.fields[field].label if field in form.fields else field}: {' '.join(problems)}"
            )
        return redirect("teacher-paper", paper_id=paper.pk)
    data = form.cleaned_data
    minutes = data.get("time_limit_minutes")
    try:
        paper_assign(
            paper=paper,
            school_class=data["school_class"],
            by=request.user,
            open_at=data.get("open_at"),
            close_at=data.get("close_at"),
            time_limit_seconds=minutes * 60 if minutes else None,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Assigned to %(name)s.") % {"name": data["school_class"].name})
    return redirect("teacher-paper", paper_id=paper.pk)


@teacher_required
@require_POST
def teacher_paper_unassign(request, paper_id: int, class_id: int):
    paper = paper_of_teacher_or_403(request, paper_id, AccessLevel.USE)
    school_class = get_object_or_404(SchoolClass, pk=class_id)
    try:
        paper_unassign(paper=paper, school_class=school_class, by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("teacher-paper", paper_id=paper.pk)


@teacher_required
@require_POST
def teacher_paper_share(request, paper_id: int):
    paper = paper_of_teacher_or_403(request, paper_id, AccessLevel.VIEW)
    teacher, level = share_form_teacher(request)
    if teacher is None:
        messages.error(request, _("No teacher has this username."))
        return redirect("teacher-paper", paper_id=paper.pk)
    try:
        paper_share(paper=paper, teacher=teacher, level=level, by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Sharing saved."))
    return redirect("teacher-paper", paper_id=paper.pk)


@login_required
@require_http_methods(["GET", "POST"])
def class_join_page(request):
    """A student joins a class with its code, and sees the classes they are in."""
    form = JoinForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            school_class = class_join(user=request.user, code=form.cleaned_data["code"])
        except ApplicationError:
            form.add_error("code", _("No class has this code."))
        else:
            messages.success(request, _("You joined %(name)s.") % {"name": school_class.name})
            return redirect("class-join")
    return render(request, "quizbank/class_join.html", {"form": form, "classes": classes_of_student(user=request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def password_first(request):
    """A student signed in with the one-time password from their teacher chooses their own."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)
        student_password_changed(user=user)
        request.session.pop(MUST_CHOOSE_KEY, None)
        messages.success(request, _("Your password is changed."))
        return redirect("exam-index")
    return render(request, "quizbank/password_first.html", {"form": form, "is_admin": is_admin(request.user)})


@teacher_required
@require_GET
def teacher_paper_xlsx(request, paper_id: int):
    """The paper's results (one class's, with `?class=<id>`) as an xlsx: a sheet of grades and a sheet
    of item statistics."""
    paper = paper_of_teacher_or_403(request, paper_id)
    school_class = class_chosen(request)
    sessions = list(paper_sessions(paper=paper, school_class=school_class))
    content = results_workbook(
        grades=student_grades(paper=paper, sessions=sessions),
        statistics=item_statistics(paper=paper, school_class=school_class),
    )
    response = HttpResponse(content, content_type=XLSX_TYPE)
    suffix = f"-class-{school_class.pk}" if school_class else ""
    response["Content-Disposition"] = f'attachment; filename="paper-{paper.pk}{suffix}-results.xlsx"'
    return response
