"""Student pages: pick a question, answer it, see the grade and the model's explanation."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core.exceptions import ApplicationError
from core.throttling import request_ident, throttle_hit, throttled_message
from inference.services import answer_submit_and_explain
from quizbank.models import Answer, PaperMode, Question
from quizbank.selectors.exams import (
    papers_for_student,
    question_locked_for_practice,
    questions_locked_for_practice,
)


@login_required
def practice_index(request):
    """Exams first (they lead to /exams/), then the questions of the student's papers that may be
    practised one by one: a question on an exam that has not closed is not among them."""
    now = timezone.now()
    papers = list(papers_for_student(user=request.user, now=now).prefetch_related("items__question"))
    exams = [p for p in papers if p.mode == PaperMode.EXAM and not (p.close_at and p.close_at <= now)]
    practice_papers = [p for p in papers if p.mode == PaperMode.PRACTICE and p.owner_id is None]
    shared = [p for p in papers if p.owner_id is None]
    locked = questions_locked_for_practice(
        question_ids={item.question_id for paper in shared for item in paper.items.all()}, now=now, user=request.user
    )
    question_lists = []
    for paper in shared:
        questions = [item.question for item in paper.items.all() if item.question_id not in locked]
        if questions:
            question_lists.append((paper, questions))
    recent = Answer.objects.filter(user=request.user, session__isnull=True).select_related("question")[:10]
    return render(
        request,
        "inference/practice_index.html",
        {"exams": exams, "practice_papers": practice_papers, "question_lists": question_lists, "recent": recent},
    )


@login_required
@require_http_methods(["GET", "POST"])
def practice_question(request, question_id: int):
    question = get_object_or_404(Question.objects.select_related("subject"), pk=question_id)
    if question_locked_for_practice(question_id=question.pk, user=request.user):
        # Practice shows the key and the explanation; this question is on an exam that is still open.
        messages.error(request, _("This question is on an exam that has not closed yet; it cannot be practised now."))
        return redirect("practice-index")
    if request.method == "POST":
        response = request.POST.get("response", "")
        wait = throttle_hit(scope="explain", ident=request_ident(request))  # the model explains each answer
        if wait is not None:
            messages.error(request, throttled_message(wait))
            return render(request, "inference/practice_question.html", {"question": question}, status=429)
        try:
            answer = answer_submit_and_explain(user=request.user, question=question, response=response)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            return redirect("practice-answer", answer_id=answer.pk)
    return render(request, "inference/practice_question.html", {"question": question})


@login_required
def practice_answer(request, answer_id: int):
    # Only practice answers: an exam answer's page would show the key while the exam runs.
    answer = get_object_or_404(
        Answer.objects.select_related("question__subject"), pk=answer_id, user=request.user, session__isnull=True
    )
    if question_locked_for_practice(question_id=answer.question_id, user=request.user):
        # Answered before its exam opened: the key and explanation wait until the exam closes.
        messages.error(request, _("This question is on an exam that has not closed yet; it cannot be practised now."))
        return redirect("practice-index")
    return render(request, "inference/practice_answer.html", {"answer": answer, "question": answer.question})
