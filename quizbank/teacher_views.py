"""Teacher pages for papers: create and edit them, follow results, grade answers, read item statistics.

Teachers and admins only: anonymous users are sent to log in, students get 403.
"""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.core.validators import MaxValueValidator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.exceptions import ApplicationError
from quizbank.grading import MULTIPLE_CHOICE_POLICIES
from quizbank.importers.table_cells import FORMULA_PREFIXES
from quizbank.models import (
    GRADED_TYPES,
    AccessLevel,
    Answer,
    GradeStatus,
    GradingMethod,
    Navigation,
    OverdueRule,
    Paper,
    PaperKind,
    PaperMode,
    Question,
    QuestionType,
    ReviewWhen,
    SessionState,
    Subject,
    answer_worth,
)
from quizbank.prompt_inputs import answer_rubric
from quizbank.roles import is_teacher
from quizbank.selectors import question_search
from quizbank.selectors.access import paper_allows, papers_reachable, subjects_reachable
from quizbank.selectors.papers import class_papers, papers_overview
from quizbank.selectors.questions import questions_by_ids
from quizbank.selectors.results import (
    answers_by_session,
    answers_for_teacher,
    finished_count,
    grading_queue,
    item_statistics,
    paper_sessions,
    student_grades,
)
from quizbank.services import RuleSpec, answer_grade, paper_create, paper_create_random, paper_update
from quizbank.services.papers import PAPER_SETTINGS
from quizbank.teacher_scope import class_chosen, datetime_field, paper_classes_context, paper_of_teacher_or_403

# The most questions the search on the new-paper page lists at once.
SEARCH_LIMIT = 100
GRADING_PAGE_SIZE = 20
MULTIPLE_CHOICE_LABELS = {
    "all_or_nothing": gettext_lazy("All or nothing"),
    "partial_subset": gettext_lazy("Partial score for a correct subset"),
    "fractions": gettext_lazy("Sum of the chosen options' fractions"),
}


def teacher_required(view):
    """Anonymous users go to the login page; logged-in users who are not teachers get 403."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not is_teacher(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return login_required(wrapped)


# ---------------------------------------------------------------------------------------------- forms


class PaperSettingsForm(forms.Form):
    """Every entry of PAPER_SETTINGS as a field; the time limit is asked in minutes."""

    description = forms.CharField(
        required=False, label=gettext_lazy("Description"), widget=forms.Textarea(attrs={"rows": 2})
    )
    mode = forms.ChoiceField(label=gettext_lazy("Mode"), choices=PaperMode.choices)
    published = forms.BooleanField(required=False, initial=True, label=gettext_lazy("Published (students see it)"))
    open_at = datetime_field(gettext_lazy("Opens at"))
    close_at = datetime_field(gettext_lazy("Closes at"))
    time_limit_minutes = forms.DecimalField(
        required=False,
        min_value=Decimal("0.02"),
        max_digits=8,
        decimal_places=2,
        label=gettext_lazy("Time limit (minutes, empty for none)"),
    )
    attempts_allowed = forms.IntegerField(
        min_value=0, max_value=1000, initial=1, label=gettext_lazy("Attempts allowed (0: unlimited)")
    )
    grading_method = forms.ChoiceField(label=gettext_lazy("Grade from the attempts"), choices=GradingMethod.choices)
    shuffle_questions = forms.BooleanField(required=False, label=gettext_lazy("Shuffle questions"))
    shuffle_options = forms.BooleanField(required=False, label=gettext_lazy("Shuffle options"))
    navigation = forms.ChoiceField(label=gettext_lazy("Navigation"), choices=Navigation.choices)
    overdue_rule = forms.ChoiceField(label=gettext_lazy("When time is up"), choices=OverdueRule.choices)
    grace_seconds = forms.IntegerField(min_value=0, initial=0, label=gettext_lazy("Grace period (seconds)"))
    multiple_choice_policy = forms.ChoiceField(
        label=gettext_lazy("Multiple choice scoring"),
        choices=[(policy, MULTIPLE_CHOICE_LABELS.get(policy, policy)) for policy in MULTIPLE_CHOICE_POLICIES],
        initial="partial_subset",
    )
    review_score = forms.ChoiceField(label=gettext_lazy("Students see their score"), choices=ReviewWhen.choices)
    review_correctness = forms.ChoiceField(
        label=gettext_lazy("Students see right and wrong"), choices=ReviewWhen.choices, initial=ReviewWhen.AFTER_CLOSE
    )
    review_answer = forms.ChoiceField(
        label=gettext_lazy("Students see the key"), choices=ReviewWhen.choices, initial=ReviewWhen.AFTER_CLOSE
    )
    review_explanation = forms.ChoiceField(
        label=gettext_lazy("Students see the explanation"), choices=ReviewWhen.choices, initial=ReviewWhen.AFTER_CLOSE
    )

    # Form fields whose names differ from the paper setting they fill.
    SETTING_OF_FIELD = {"time_limit_minutes": "time_limit_seconds"}
    FIELD_OF_SETTING = {setting: name for name, setting in SETTING_OF_FIELD.items()}

    def clean(self):
        cleaned = super().clean()
        open_at, close_at = cleaned.get("open_at"), cleaned.get("close_at")
        if open_at and close_at and close_at <= open_at:
            self.add_error("close_at", _("The paper must close after it opens."))
        return cleaned

    def settings(self, names=None) -> dict:
        """The cleaned values as paper settings (of the named form fields only, if given)."""
        values = {}
        for name in self.fields:
            setting = self.SETTING_OF_FIELD.get(name, name)
            if setting not in PAPER_SETTINGS or (names is not None and name not in names):
                continue
            value = self.cleaned_data[name]
            if name == "time_limit_minutes":
                value = round(value * 60) if value else None
            values[setting] = value
        return values

    def add_service_error(self, exc: ApplicationError) -> None:
        field = self.FIELD_OF_SETTING.get(exc.extra.get("field"), exc.extra.get("field"))
        self.add_error(field if field in self.fields else None, exc.message)

    @classmethod
    def initial_of(cls, paper: Paper) -> dict:
        initial = {name: getattr(paper, name) for name in PAPER_SETTINGS if name in cls.base_fields}
        for name in ("open_at", "close_at"):
            if initial[name]:
                # Minute precision, as the input shows it, so an untouched field counts as unchanged.
                initial[name] = timezone.localtime(initial[name]).replace(second=0, microsecond=0)
        seconds = paper.time_limit_seconds
        initial["time_limit_minutes"] = (Decimal(seconds) / 60).quantize(Decimal("0.01")) if seconds else None
        return initial


class PaperCreateForm(PaperSettingsForm):
    title = forms.CharField(max_length=200, label=gettext_lazy("Title"))
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"), choices=PaperKind.choices, initial=PaperKind.FIXED, widget=forms.RadioSelect
    )
    subject = forms.ModelChoiceField(
        queryset=Subject.objects.all(),
        required=False,
        label=gettext_lazy("Subject"),
        to_field_name="path",
        empty_label="—",
    )
    # Rendered by hand as checkboxes beside the search results, each with a score input `score_<id>`.
    questions = forms.ModelMultipleChoiceField(queryset=Question.objects.filter(is_current=True), required=False)

    field_order = ["title", "kind", "subject"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") != PaperKind.FIXED or "questions" not in cleaned:
            return cleaned
        # The order the boxes were ticked in the list is the order on the paper.
        by_id = {str(question.pk): question for question in cleaned["questions"]}
        chosen = [by_id[pk] for pk in dict.fromkeys(self.data.getlist("questions")) if pk in by_id]
        if not chosen:
            self.add_error("questions", _("Choose at least one question."))
            return cleaned
        scores = []
        for question in chosen:
            raw = (self.data.get(f"score_{question.pk}") or "").strip()
            try:
                score = Decimal(raw) if raw else question.score
            except InvalidOperation:
                score = None
            if score is None or not score.is_finite() or not Decimal(0) <= score < Decimal(10000):
                self.add_error(
                    "questions", _("Question %(id)s: the score must be a number from 0.") % {"id": question.pk}
                )
                return cleaned
            scores.append(score.quantize(Decimal("0.01")))
        cleaned["chosen"], cleaned["scores"] = chosen, scores
        return cleaned


class RuleForm(forms.Form):
    """One row of a random paper: `count` questions of subject × type × difficulty, each worth `score`."""

    subject = forms.ChoiceField(required=False, label=gettext_lazy("Subject"))
    qtype = forms.ChoiceField(
        required=False,
        label=gettext_lazy("Type"),
        choices=[("", gettext_lazy("Any")), *[c for c in QuestionType.choices if c[0] != QuestionType.DESCRIPTION]],
    )
    difficulty = forms.IntegerField(required=False, min_value=0, label=gettext_lazy("Difficulty"))
    count = forms.IntegerField(min_value=1, max_value=1000, label=gettext_lazy("Count"))
    # No initial value, so an untouched row counts as empty; an empty score means 1.
    score = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=6,
        decimal_places=2,
        label=gettext_lazy("Score each"),
        widget=forms.NumberInput(attrs={"placeholder": "1", "step": "0.01"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        paths = Subject.objects.values_list("path", flat=True)
        self.fields["subject"].choices = [("", _("Any")), *((path, path) for path in paths)]


RuleFormSet = forms.formset_factory(RuleForm, extra=4)


class QuestionSearchForm(forms.Form):
    subject = forms.CharField(required=False, label=gettext_lazy("Subject"))
    qtype = forms.ChoiceField(
        required=False, label=gettext_lazy("Type"), choices=[("", gettext_lazy("Any")), *QuestionType.choices]
    )
    difficulty = forms.IntegerField(required=False, min_value=0, label=gettext_lazy("Difficulty"))
    search = forms.CharField(required=False, label=gettext_lazy("Text"))


class GradeForm(forms.Form):
    score = forms.DecimalField(min_value=0, max_digits=6, decimal_places=2, label=gettext_lazy("Score"))
    feedback = forms.CharField(
        required=False, label=gettext_lazy("Feedback"), widget=forms.Textarea(attrs={"rows": 2, "cols": 50})
    )

    def __init__(self, *args, max_score: Decimal | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if max_score is not None:
            self.fields["score"].max_value = max_score
            self.fields["score"].validators.append(MaxValueValidator(max_score))
            self.fields["score"].widget.attrs.update({"max": str(max_score), "step": "0.01"})


# ---------------------------------------------------------------------------------------------- helpers


def _rubric(answer: Answer) -> list[dict]:
    """The rubric the model grades against, as the teacher sees it: for short answers and essays."""
    return answer_rubric(answer) if answer.question.qtype in GRADED_TYPES else []


# ---------------------------------------------------------------------------------------------- papers


@teacher_required
@require_GET
def teacher_papers(request):
    papers = papers_reachable(papers_overview(), user=request.user)
    return render(request, "quizbank/teacher_papers.html", {"papers": papers})


@teacher_required
@require_http_methods(["GET", "POST"])
def teacher_paper_new(request):
    search = QuestionSearchForm(request.GET, auto_id="search_%s")
    filters = search.cleaned_data if search.is_valid() else {}
    found = question_search(**{name: value for name, value in filters.items() if value not in ("", None)}).filter(
        subject__in=subjects_reachable(user=request.user, level=AccessLevel.USE)
    )
    form = PaperCreateForm(request.POST or None)
    rules = RuleFormSet(request.POST or None, prefix="rules")
    if request.method == "POST" and form.is_valid():
        random_paper = form.cleaned_data["kind"] == PaperKind.RANDOM
        if not random_paper or rules.is_valid():
            try:
                paper = _paper_create_from(form, rules, user=request.user)
            except ApplicationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, _("Paper “%(title)s” created.") % {"title": paper.title})
                return redirect("teacher-paper", paper_id=paper.pk)
    chosen_ids = {int(pk) for pk in request.POST.getlist("questions") if pk.isdigit()}
    listed = list(found[:SEARCH_LIMIT])
    # Questions ticked before a failed submit stay on the list even if the search no longer finds them.
    kept = questions_by_ids(chosen_ids - {q.pk for q in listed})
    context = {
        "search": search,
        "form": form,
        "paper_fields": [form[name] for name in ("title", "kind", "subject")],
        "settings_fields": [form[name] for name in PaperSettingsForm.base_fields],
        "rules": rules,
        "rows": [
            {
                "question": question,
                "chosen": question.pk in chosen_ids,
                "score": request.POST.get(f"score_{question.pk}", question.score),
            }
            for question in [*kept, *listed]
        ],
        "found_count": found.count(),
        "search_limit": SEARCH_LIMIT,
    }
    return render(request, "quizbank/teacher_paper_new.html", context)


def _paper_create_from(form: PaperCreateForm, rules, *, user) -> Paper:
    data = form.cleaned_data
    common = {"title": data["title"], "created_by": user, "subject": data["subject"], **form.settings()}
    if data["kind"] == PaperKind.FIXED:
        return paper_create(questions=data["chosen"], scores=data["scores"], **common)
    specs = [
        RuleSpec(
            count=row["count"],
            score=Decimal(1) if row["score"] is None else row["score"],
            subject=row["subject"],
            qtype=row["qtype"],
            difficulty=row["difficulty"],
        )
        for row in rules.cleaned_data
        if row
    ]
    return paper_create_random(rules=specs, **common)


@teacher_required
@require_http_methods(["GET", "POST"])
def teacher_paper(request, paper_id: int):
    paper = paper_of_teacher_or_403(request, paper_id)
    form = PaperSettingsForm(request.POST or None, initial=PaperSettingsForm.initial_of(paper))
    if request.method == "POST" and not paper_allows(user=request.user, paper=paper, level=AccessLevel.EDIT):
        raise PermissionDenied
    if request.method == "POST" and form.is_valid():
        changes = form.settings(names=form.changed_data)
        if not changes:
            messages.info(request, _("Nothing changed."))
            return redirect("teacher-paper", paper_id=paper.pk)
        try:
            paper_update(paper=paper, **changes)
        except ApplicationError as exc:
            form.add_service_error(exc)
            paper.refresh_from_db()
        else:
            messages.success(request, _("Settings saved."))
            return redirect("teacher-paper", paper_id=paper.pk)
    school_class = class_chosen(request)
    sessions = list(paper_sessions(paper=paper, school_class=school_class))
    answers = answers_by_session(paper=paper, school_class=school_class)
    for session in sessions:
        session.answer_list = answers.get(session.pk, [])
    grades = student_grades(paper=paper, sessions=sessions)
    context = {
        **paper_classes_context(request, paper, school_class),
        "paper": paper,
        "form": form,
        "sessions": sessions,
        "grades": grades,
        "pending_total": sum(s.pending_count for s in sessions if s.state == SessionState.FINISHED),
    }
    return render(request, "quizbank/teacher_paper.html", context)


def _csv_cell(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


@teacher_required
@require_GET
def teacher_paper_csv(request, paper_id: int):
    paper = paper_of_teacher_or_403(request, paper_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="paper-{paper.pk}-results.csv"'
    response.write("\ufeff")  # Excel reads the file as UTF-8 only with a BOM
    writer = csv.writer(response)
    writer.writerow(
        ["paper", "student", "attempt", "state", "started_at", "finished_at", "score", "max_score", "pending", "grade"]
    )
    sessions = list(paper_sessions(paper=paper, school_class=class_chosen(request)))
    grades = {entry["user"].pk: entry["grade"] for entry in student_grades(paper=paper, sessions=sessions)}
    for session in sessions:
        row = [
            paper.title,
            session.user.get_username(),
            session.number,
            session.state,
            _local(session.started_at),
            _local(session.finished_at),
            session.score,
            session.max_score,
            session.pending_count,
            grades[session.user_id],
        ]
        writer.writerow([_csv_cell(value) for value in row])
    return response


@teacher_required
@require_GET
def teacher_paper_statistics(request, paper_id: int):
    paper = paper_of_teacher_or_403(request, paper_id)
    school_class = class_chosen(request)
    rows = item_statistics(paper=paper, school_class=school_class)
    context = {
        "paper": paper,
        "rows": [
            {
                "stats": row,
                "qtype_label": QuestionType(row.qtype).label if row.qtype in QuestionType.values else row.qtype,
                "facility_percent": None if row.facility is None else row.facility * 100,
            }
            for row in rows
        ],
        "finished_count": finished_count(paper=paper, school_class=school_class),
        "school_class": school_class,
    }
    return render(request, "quizbank/teacher_paper_statistics.html", context)


# ---------------------------------------------------------------------------------------------- grading


@teacher_required
@require_GET
def teacher_grading(request):
    paper_id = request.GET.get("paper", "")
    paper = paper_of_teacher_or_403(request, int(paper_id)) if paper_id.isdigit() else None
    queue = grading_queue(paper=paper).filter(
        session__paper__in=papers_reachable(Paper.objects.all(), user=request.user)
    )
    page = Paginator(queue, GRADING_PAGE_SIZE).get_page(request.GET.get("page"))
    entries = [
        {
            "answer": answer,
            "rubric": _rubric(answer),
            "worth": answer_worth(answer),
            "form": GradeForm(
                initial={"score": answer.score, "feedback": answer.feedback},
                max_score=answer_worth(answer),
                auto_id=f"id_%s_{answer.pk}",
            ),
        }
        for answer in page
    ]
    context = {
        "paper": paper,
        "papers": papers_reachable(class_papers(), user=request.user),
        "page": page,
        "entries": entries,
        "here": request.get_full_path(),
    }
    return render(request, "quizbank/teacher_grading.html", context)


def _answer_for_teacher(request, answer_id: int, level: str = AccessLevel.VIEW) -> Answer:
    """An answer on a paper the teacher reaches at `level` (a practice answer: any teacher's)."""
    answer = get_object_or_404(answers_for_teacher(), pk=answer_id)
    paper = answer.session.paper if answer.session_id else None
    if paper is not None and paper.owner_id is None and not paper_allows(user=request.user, paper=paper, level=level):
        raise PermissionDenied
    return answer


@teacher_required
@require_GET
def teacher_answer(request, answer_id: int):
    answer = _answer_for_teacher(request, answer_id)
    form = GradeForm(initial={"score": answer.score, "feedback": answer.feedback}, max_score=answer_worth(answer))
    return _render_answer(request, answer, form)


def _render_answer(request, answer: Answer, form: GradeForm, *, next_url: str = ""):
    context = {
        "answer": answer,
        "rubric": _rubric(answer),
        "form": form,
        "worth": answer_worth(answer),
        "original_status_label": GradeStatus(answer.original_status).label if answer.original_status else "",
        "next": next_url,
    }
    return render(request, "quizbank/teacher_answer.html", context)


@teacher_required
@require_POST
def teacher_answer_grade(request, answer_id: int):
    answer = _answer_for_teacher(request, answer_id, AccessLevel.USE)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    form = GradeForm(request.POST, max_score=answer_worth(answer))
    if form.is_valid():
        try:
            graded = answer_grade(
                answer_id=answer.pk,
                score=form.cleaned_data["score"],
                feedback=form.cleaned_data["feedback"],
                grader=request.user,
            )
        except ApplicationError as exc:
            form.add_error("score" if exc.extra.get("field") == "score" else None, exc.message)
        else:
            messages.success(
                request,
                _("Graded %(student)s, question %(position)s: %(score)s / %(worth)s.")
                % {
                    "student": answer.user.get_username(),
                    "position": answer.item.position if answer.item_id else "—",
                    "score": graded.score,
                    "worth": answer_worth(graded),
                },
            )
            return redirect(next_url) if next_url else redirect("teacher-answer", answer_id=answer.pk)
    return _render_answer(request, answer, form, next_url=next_url)
