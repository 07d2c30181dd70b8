"""JSON API for practice and the model's explanations: answering one question outside any paper (the
exact grade and the model's explanation), the answer read back, and a wrong answer explained by the
model as it writes (server-sent events). The question itself is /api/v1/questions/<id>."""

import json

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import STATUS_BY_CODE, ApplicationError
from core.throttling import ScopedUserThrottle, throttle_view
from inference.explanations import ExplanationEvent, answer_explanation_stream, answer_for_explanation
from inference.practice import practice_answer, practice_refuse_locked
from quizbank.apis.common import ERROR
from quizbank.models import Answer, Question
from quizbank.selectors.practice import practice_answers_of


class AnswerResultSerializer(serializers.ModelSerializer):
    question = serializers.IntegerField(source="question_id")
    correct_answer = serializers.CharField(source="question.answer")
    ai_generated = serializers.SerializerMethodField()

    class Meta:
        model = Answer
        fields = [
            "id",
            "question",
            "response",
            "is_correct",
            "score",
            "correct_answer",
            "explanation",
            "explanation_source",
            "ai_generated",
            "model_answer",
            "model_version",
            "submitted_at",
        ]

    def get_ai_generated(self, answer: Answer) -> bool:
        return answer.explanation_source == "model"


class AnswerInputSerializer(serializers.Serializer):
    response = serializers.CharField(max_length=10_000, trim_whitespace=True)


class PracticeAnswerCreateApi(APIView):
    # Each answer asks the model for an explanation: limited per user (THROTTLE_RATES["explain"]).
    throttle_classes = [ScopedUserThrottle]
    throttle_scope = "explain"

    @extend_schema(
        operation_id="practice_answer_create",
        tags=["practice"],
        summary="Answer one question outside any paper: graded exactly, then explained by the model",
        request=AnswerInputSerializer,
        responses={201: AnswerResultSerializer, 400: ERROR, 404: ERROR, 409: ERROR, 429: ERROR},
    )
    def post(self, request, question_id: int):
        question = get_object_or_404(Question, pk=question_id)
        serializer = AnswerInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answer = practice_answer(user=request.user, question=question, **serializer.validated_data)
        return Response(AnswerResultSerializer(answer).data, status=201)


class PracticeAnswerDetailApi(APIView):
    @extend_schema(
        operation_id="practice_answer_retrieve",
        tags=["practice"],
        summary="One of the user's practice answers, with its key and explanation",
        responses={200: AnswerResultSerializer, 404: ERROR, 409: ERROR},
    )
    def get(self, request, answer_id: int):
        # Practice answers only: an exam answer's key is shown by the session review, by its policy.
        answer = get_object_or_404(practice_answers_of(user=request.user), pk=answer_id)
        # Answered before its exam opened: the key it shows waits until the exam closes.
        practice_refuse_locked(user=request.user, question_id=answer.question_id)
        return Response(AnswerResultSerializer(answer).data)


def server_sent_event(event: ExplanationEvent) -> str:
    """One event in the text/event-stream format; the default `message` event is named by no line."""
    name = "" if event.event == "message" else f"event: {event.event}\n"
    return f"{name}data: {json.dumps(event.data, ensure_ascii=False)}\n\n"


@login_required
@require_GET
@throttle_view("explain")
def answer_explain_stream(request, answer_id: int):
    """Why the student's answer is wrong, streamed (a plain view: DRF renderers do not stream)."""
    try:
        answer = answer_for_explanation(user=request.user, answer_id=answer_id)
    except ApplicationError as exc:
        status = STATUS_BY_CODE.get(exc.extra.get("code"), exc.status_code)
        return JsonResponse({"message": exc.message, "extra": exc.extra}, status=status)
    events = (server_sent_event(event) for event in answer_explanation_stream(answer=answer))
    response = StreamingHttpResponse(events, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx would otherwise hold the text back until the end
    return response
