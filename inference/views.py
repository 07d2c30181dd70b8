"""Student pages: pick a question, answer it, see the grade and the model's explanation; and the
admins' model report: the versions compared on the evaluation suites."""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required, user_passes_test
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from core.exceptions import ApplicationError
from core.throttling import request_ident, throttle_hit, throttled_message
from inference.engines import active_version
from inference.practice import practice_answer as practice_answer_submit
from inference.selectors import comparison_rows, shared_suites, suite_comparison, versions_table
from quizbank.roles import is_admin
from quizbank.selectors.exams import question_locked_for_practice
from quizbank.selectors.practice import practice_answers_of, practice_overview, practice_questions
from tuning.models import ModelVersion

LOCKED_MESSAGE = gettext_lazy("This question is on an exam that has not closed yet; it cannot be practised now.")


@login_required
def practice_index(request):
    """Exams first (they lead to /exams/), then the questions of the student's papers that may be
    practised one by one: a question on an exam that has not closed is not among them."""
    return render(request, "inference/practice_index.html", practice_overview(user=request.user))


@login_required
@require_http_methods(["GET", "POST"])
def practice_question(request, question_id: int):
    question = get_object_or_404(practice_questions(), pk=question_id)
    if question_locked_for_practice(question_id=question.pk, user=request.user):
        # Practice shows the key and the explanation; this question is on an exam that is still open.
        messages.error(request, LOCKED_MESSAGE)
        return redirect("practice-index")
    if request.method == "POST":
        response = request.POST.get("response", "")
        wait = throttle_hit(scope="explain", ident=request_ident(request))  # the model explains each answer
        if wait is not None:
            messages.error(request, throttled_message(wait))
            return render(request, "inference/practice_question.html", {"question": question}, status=429)
        try:
            answer = practice_answer_submit(user=request.user, question=question, response=response)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            return redirect("practice-answer", answer_id=answer.pk)
    return render(request, "inference/practice_question.html", {"question": question})


@login_required
def practice_answer(request, answer_id: int):
    # Only practice answers: an exam answer's page would show the key while the exam runs.
    answer = get_object_or_404(practice_answers_of(user=request.user), pk=answer_id)
    if question_locked_for_practice(question_id=answer.question_id, user=request.user):
        # Answered before its exam opened: the key and explanation wait until the exam closes.
        messages.error(request, LOCKED_MESSAGE)
        return redirect("practice-index")
    return render(request, "inference/practice_answer.html", {"answer": answer, "question": answer.question})


# --- the model report (admins) ------------------------------------------------------------------


def _two_versions(request) -> tuple[ModelVersion | None, ModelVersion | None]:
    """The versions to compare: ?a=&b= by name; by default the active one and the newest other."""
    versions = ModelVersion.objects.order_by("-created_at", "-id")
    first = versions.filter(name=request.GET.get("a", "")).first()
    second = versions.filter(name=request.GET.get("b", "")).first()
    active = active_version()
    first = first or active or versions.first()
    second = second or versions.exclude(pk=first.pk if first else None).first()
    return first, second


@login_required
@user_passes_test(is_admin)
@require_GET
def models_report(request):
    """The versions side by side per suite; for two of them, per subject, the items that changed and
    explanations beside each other."""
    first, second = _two_versions(request)
    comparisons = []
    if first is not None and second is not None:
        comparisons = [suite_comparison(first, second, suite) for suite in shared_suites(first, second)]
    context = {
        "table": versions_table(),
        "versions": ModelVersion.objects.order_by("created_at", "id"),
        "first": first,
        "second": second,
        "comparisons": comparisons,
    }
    return render(request, "inference/models_report.html", context)


@login_required
@user_passes_test(is_admin)
@require_GET
def models_report_csv(request):
    first, second = _two_versions(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    names = f"{first.name if first else ''}-vs-{second.name if second else ''}"
    response["Content-Disposition"] = f'attachment; filename="model-report-{names}.csv"'
    response.write("\ufeff")  # so that spreadsheet programs read it as UTF-8
    writer = csv.writer(response)
    if first is not None and second is not None:
        writer.writerows(comparison_rows(first, second))
    return response
