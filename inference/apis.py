"""JSON API: a question without its key, and answering it (exact grade + the model's explanation)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from inference.services import answer_submit_and_explain
from quizbank.models import Answer, Question


class QuestionPublicSerializer(serializers.ModelSerializer):
    """What a student may see before answering: never the key or the explanation."""

    subject = serializers.CharField(source="subject.path")
    type = serializers.CharField(source="qtype")

    class Meta:
        model = Question
        fields = ["id", "subject", "type", "stem", "options", "score"]


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
        return Response(QuestionPublicSerializer(question).data)


class AnswerInputSerializer(serializers.Serializer):
    response = serializers.CharField(max_length=10_000, trim_whitespace=True)


class AnswerCreateApi(APIView):
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
        answer = get_object_or_404(Answer.objects.select_related("question"), pk=answer_id, user=request.user)
        return Response(AnswerResultSerializer(answer).data)
