"""/api/v1/papers/<id>/results and /statistics: what teachers read of a paper's attempts."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from quizbank.apis.common import ERROR, ChoiceSetField, PaperRefSerializer, UserRefSerializer
from quizbank.models import QuestionType, QuizSession
from quizbank.roles import IsTeacher
from quizbank.selectors.access import paper_for_teacher
from quizbank.selectors.results import item_statistics, paper_sessions, student_grades


class ResultSessionSerializer(serializers.ModelSerializer):
    user = UserRefSerializer()

    class Meta:
        model = QuizSession
        fields = [
            "id",
            "user",
            "number",
            "state",
            "started_at",
            "deadline",
            "finished_at",
            "finished_by",
            "score",
            "max_score",
            "pending_count",
        ]


class StudentGradeSerializer(serializers.Serializer):
    user = UserRefSerializer()
    attempts = serializers.IntegerField()
    grade = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)


class PaperResultsSerializer(serializers.Serializer):
    paper = PaperRefSerializer()
    sessions = ResultSessionSerializer(many=True)
    grades = StudentGradeSerializer(many=True, help_text="each student's grade by the paper's grading method")


class PaperResultsApi(APIView):
    permission_classes = [IsTeacher]

    @extend_schema(
        operation_id="papers_results",
        tags=["grading"],
        summary="Every attempt at a paper, and each student's grade",
        responses={200: PaperResultsSerializer, 404: ERROR},
    )
    def get(self, request, paper_id: int):
        paper = paper_for_teacher(user=request.user, paper_id=paper_id)
        sessions = list(paper_sessions(paper=paper))
        results = {"paper": paper, "sessions": sessions, "grades": student_grades(paper=paper, sessions=sessions)}
        return Response(PaperResultsSerializer(results).data)


class ItemStatisticsSerializer(serializers.Serializer):
    question_id = serializers.IntegerField()
    position = serializers.IntegerField(allow_null=True)
    stem = serializers.CharField()
    qtype = ChoiceSetField(QuestionType)
    attempts = serializers.IntegerField()
    max_mark = serializers.DecimalField(max_digits=6, decimal_places=2)
    mean_mark = serializers.FloatField(allow_null=True)
    facility = serializers.FloatField(allow_null=True, help_text="mean mark / max mark")
    discrimination = serializers.FloatField(
        allow_null=True, help_text="correlation of the question's mark with the rest of the test"
    )
    flagged = serializers.BooleanField(help_text="negative discrimination: the item needs a look")


class PaperStatisticsSerializer(serializers.Serializer):
    paper = PaperRefSerializer()
    items = ItemStatisticsSerializer(many=True)


class PaperStatisticsApi(APIView):
    permission_classes = [IsTeacher]

    @extend_schema(
        operation_id="papers_statistics",
        tags=["grading"],
        summary="Facility and discrimination of each question over finished attempts",
        responses={200: PaperStatisticsSerializer, 404: ERROR},
    )
    def get(self, request, paper_id: int):
        paper = paper_for_teacher(user=request.user, paper_id=paper_id)
        return Response(PaperStatisticsSerializer({"paper": paper, "items": item_statistics(paper=paper)}).data)
