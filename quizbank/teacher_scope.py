"""What a teacher's paper pages share: the paper they may reach (403 otherwise), the class whose
results they look at (`?class=<id>`), and the forms that give the paper to classes and share it."""

from __future__ import annotations

from django import forms
from django.contrib.auth.models import User
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy

from quizbank.models import AccessLevel, Paper, SchoolClass
from quizbank.selectors.access import level_reaches, paper_for_teacher, paper_level
from quizbank.selectors.classes import classes_of_teacher, paper_assignments


def datetime_field(label) -> forms.DateTimeField:
    return forms.DateTimeField(
        required=False,
        label=label,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


class AssignForm(forms.Form):
    school_class = forms.ModelChoiceField(label=gettext_lazy("Class"), queryset=SchoolClass.objects.none())
    open_at = datetime_field(gettext_lazy("Opens at"))
    close_at = datetime_field(gettext_lazy("Closes at"))
    time_limit_minutes = forms.IntegerField(
        label=gettext_lazy("Time limit for this class (minutes, empty: the paper's)"), required=False, min_value=1
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["school_class"].queryset = classes_of_teacher(user=user)


class ShareForm(forms.Form):
    teacher = forms.CharField(label=gettext_lazy("Teacher's username"), max_length=150)
    level = forms.ChoiceField(
        label=gettext_lazy("May"),
        choices=[("", gettext_lazy("nothing (take back)")), *AccessLevel.choices],
        required=False,
    )


def paper_of_teacher_or_403(request, paper_id: int, level: str = AccessLevel.VIEW) -> Paper:
    """A class paper the teacher reaches at `level`: 404 where there is none, 403 where it is another
    teacher's and not shared with them."""
    return paper_for_teacher(user=request.user, paper_id=paper_id, level=level)


def class_chosen(request) -> SchoolClass | None:
    """The class named by `?class=<id>` (None: every student)."""
    value = request.GET.get("class", "")
    if not value:
        return None
    if not value.isdigit():
        raise Http404("no such class")
    return get_object_or_404(SchoolClass, pk=int(value))


def paper_classes_context(request, paper: Paper, school_class: SchoolClass | None) -> dict:
    level = paper_level(user=request.user, paper=paper)
    return {
        "school_class": school_class,
        "assignments": paper_assignments(paper=paper),
        "assign_form": AssignForm(user=request.user, auto_id="assign_%s"),
        "share_form": ShareForm(auto_id="share_%s"),
        "shares": paper.shares.select_related("teacher"),
        "can_use": level_reaches(level, AccessLevel.USE),
        "can_edit": level_reaches(level, AccessLevel.EDIT),
        "is_author": paper.created_by_id == request.user.pk or request.user.is_superuser,
    }


def share_form_teacher(request) -> tuple[User | None, str]:
    """The teacher and level a posted ShareForm names (None where no user has that name)."""
    form = ShareForm(request.POST)
    if not form.is_valid():
        return None, ""
    return User.objects.filter(username=form.cleaned_data["teacher"]).first(), form.cleaned_data["level"]
