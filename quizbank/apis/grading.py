"""/api/v1/grading and /api/v1/answers/<id>/grade: the teachers' grading queue and their grades."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from quizbank.apis.common import ERROR, ChoiceSetField, ListPagination, PaperRefSerializer, UserRefSerializer
from quizbank.models import AccessLevel, Answer, Paper, Question, QuestionType, QuizSession
from quizbank.roles import IsTeacher
from quizbank.selectors.access import paper_for_teacher, papers_reachable
from quizbank.selectors.results import grading_queue
from quizbank.services import answer_grade


class GradingQuestionSerializer(serializers.ModelSerializer):
    qtype = ChoiceSetField(QuestionType, read_only=True)

    class Meta:
        model = Question
        fields = ["id", "qtype", "stem", "stem_format", "answer", "answer_data", "explanation", "score"]


class GradingItemSerializer(serializers.ModelSerializer):
    """One answer of `quizbank.selectors.results.grading_queue`, which loads what is nested here."""

    session = serializers.IntegerField(source="session_id")
    paper = PaperRefSerializer(source="session.paper")
    user = UserRefSerializer()
    position = serializers.IntegerField(source="item.position", allow_null=True)
    question = GradingQuestionSerializer()

    class Meta:
        model = Answer
        fields = [
            "id",
            "session",
            "paper",
            "user",
            "position",
            "question",
            "response",
            "response_data",
            "score",
            "max_score",
            "grade_status",
            "grade_detail",
            "grading_criteria",
            "grading_confidence",
            "grading_model_version",
            "grading_error",
            "submitted_at",
            "updated_at",
        ]


class GradingFilterSerializer(serializers.Serializer):
    paper = serializers.PrimaryKeyRelatedField(
        queryset=Paper.objects.all(), required=False, help_text="only this paper's answers"
    )


class GradingQueueApi(APIView):
    permission_classes = [IsTeacher]

    @extend_schema(
        operation_id="grading_queue",
        tags=["grading"],
        summary="Answers of submitted attempts still to be graded, oldest first",
        parameters=[
            GradingFilterSerializer,
            OpenApiParameter("limit", int, description="page size (default 50)"),
            OpenApiParameter("offset", int),
        ],
        responses=inline_serializer(
            "GradingQueuePage",
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": GradingItemSerializer(many=True),
            },
        ),
    )
    def get(self, request):
        filters = GradingFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = ListPagination()
        reachable = papers_reachable(Paper.objects.all(), user=request.user)
        queue = grading_queue(**filters.validated_data).filter(session__paper__in=reachable)
        page = paginator.paginate_queryset(queue, request, view=self)
        return paginator.get_paginated_response(GradingItemSerializer(page, many=True).data)


class AnswerGradeInputSerializer(serializers.Serializer):
    score = serializers.DecimalField(max_digits=6, decimal_places=2, help_text="0 to the answer's maximum")
    feedback = serializers.CharField(required=False, allow_blank=True, default="", max_length=20_000)


class GradedSessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = QuizSession
        fields = ["id", "state", "score", "max_score", "pending_count"]


class GradedAnswerSerializer(serializers.ModelSerializer):
    session = GradedSessionSerializer(allow_null=True)

    class Meta:
        model = Answer
        fields = [
            "id",
            "score",
            "max_score",
            "is_correct",
            "grade_status",
            "feedback",
            "graded_by",
            "graded_at",
            "original_score",
            "original_status",
            "session",
        ]


class AnswerGradeApi(APIView):
    permission_classes = [IsTeacher]

    @extend_schema(
        operation_id="answers_grade",
        tags=["grading"],
        summary="Grade or override one answer; the attempt's score follows",
        request=AnswerGradeInputSerializer,
        responses={200: GradedAnswerSerializer, 400: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request, answer_id: int):
        serializer = AnswerGradeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        paper = Paper.objects.filter(sessions__answers__pk=answer_id, owner__isnull=True).first()
        if paper is not None:  # grading an answer on a paper takes the right to use that paper
            paper_for_teacher(user=request.user, paper_id=paper.pk, level=AccessLevel.USE)
        answer = answer_grade(answer_id=answer_id, grader=request.user, **serializer.validated_data)
        if answer.session_id:
            answer.session.refresh_from_db()  # the service re-summed the attempt through another instance
        return Response(GradedAnswerSerializer(answer).data)
