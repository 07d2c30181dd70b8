"""Student pages: pick a question, answer it, see the grade and the model's explanation."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from inference.services import answer_submit_and_explain
from quizbank.models import Answer, Paper, Question
from quizsite.exceptions import ApplicationError


@login_required
def practice_index(request):
    papers = Paper.objects.prefetch_related("items__question").order_by("id")
    recent = Answer.objects.filter(user=request.user).select_related("question")[:10]
    return render(request, "inference/practice_index.html", {"papers": papers, "recent": recent})


@login_required
@require_http_methods(["GET", "POST"])
def practice_question(request, question_id: int):
    question = get_object_or_404(Question.objects.select_related("subject"), pk=question_id)
    if request.method == "POST":
        response = request.POST.get("response", "")
        try:
            answer = answer_submit_and_explain(user=request.user, question=question, response=response)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            return redirect("practice-answer", answer_id=answer.pk)
    return render(request, "inference/practice_question.html", {"question": question})


@login_required
def practice_answer(request, answer_id: int):
    answer = get_object_or_404(Answer.objects.select_related("question__subject"), pk=answer_id, user=request.user)
    return render(request, "inference/practice_answer.html", {"answer": answer, "question": answer.question})
