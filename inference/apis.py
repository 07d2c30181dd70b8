"""JSON API: a question without its key, and answering it (exact grade + the model's explanation);
a wrong answer explained by the model as it writes (server-sent events)."""

import json

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import STATUS_BY_CODE, ApplicationError
from core.throttling import ScopedUserThrottle, throttle_view
from inference.explanations import ExplanationEvent, answer_explanation_stream, answer_for_explanation
from inference.services import answer_submit_and_explain
from quizbank.models import Answer, Question
from quizbank.selectors.exams import question_locked_for_practice


class PublicOptionSerializer(serializers.Serializer):
    key = serializers.CharField()
    text = serializers.CharField()


class QuestionPublicSerializer(serializers.ModelSerializer):
    """What a student may see before answering: never the key, the explanation, an option's fraction
    or its feedback."""

    subject = serializers.CharField(source="subject.path")
    type = serializers.CharField(source="qtype")
    options = serializers.SerializerMethodField()

    class Meta:
        model = Question
        fields = ["id", "subject", "type", "stem", "options", "score"]

    @extend_schema_field(PublicOptionSerializer(many=True))
    def get_options(self, question: Question) -> list[dict]:
        return [{"key": option["key"], "text": option.get("text", "")} for option in question.options]


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


class QuestionDetailApi(APIView):
    @extend_schema(responses=QuestionPublicSerializer)
    def get(self, request, question_id: int):
        question = get_object_or_404(Question, pk=question_id)
        if question_locked_for_practice(question_id=question.pk, user=request.user):
            raise ApplicationError("this question is on an exam that is still open", extra={"code": "locked"})
        return Response(QuestionPublicSerializer(question).data)


class AnswerInputSerializer(serializers.Serializer):
    response = serializers.CharField(max_length=10_000, trim_whitespace=True)


class AnswerCreateApi(APIView):
    # Each answer asks the model for an explanation: limited per user (THROTTLE_RATES["explain"]).
    throttle_classes = [ScopedUserThrottle]
    throttle_scope = "explain"

    @extend_schema(request=AnswerInputSerializer, responses={201: AnswerResultSerializer})
    def post(self, request, question_id: int):
        question = get_object_or_404(Question, pk=question_id)
        serializer = AnswerInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answer = answer_submit_and_explain(user=request.user, question=question, **serializer.validated_data)
        return Response(AnswerResultSerializer(answer).data, status=201)


class AnswerDetailApi(APIView):
    @extend_schema(responses=AnswerResultSerializer)
    def get(self, request, answer_id: int):
        # Practice answers only: an exam answer's key is shown by the session review, by its policy.
        answer = get_object_or_404(
            Answer.objects.select_related("question"), pk=answer_id, user=request.user, session__isnull=True
        )
        if question_locked_for_practice(question_id=answer.question_id, user=request.user):
            # Answered before its exam opened: the key it shows waits until the exam closes.
            raise ApplicationError("this question is on an exam that is still open", extra={"code": "locked"})
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
