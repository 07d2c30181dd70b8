"""/api/v1/questions: the bank as teachers manage it; one question as a student may see it.

A teacher gets every field of a question; anyone else signed in gets it as they may see it before
answering (no key, explanation, option fraction or feedback), and nothing of a question of which a
version is on an exam still open (409, `locked`).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import ApplicationError
from quizbank.apis.common import ERROR, ListPagination, TeacherWritesMixin
from quizbank.models import AccessLevel, Question, QuestionType
from quizbank.roles import IsTeacher, is_teacher
from quizbank.selectors import question_search
from quizbank.selectors.access import question_for_teacher, subjects_reachable
from quizbank.selectors.exams import question_locked_for_practice
from quizbank.services import question_create, question_update
from quizbank.services.imports import subject_get_or_create


class QuestionSerializer(serializers.ModelSerializer):
    subject = serializers.CharField(source="subject.path")
    type = serializers.CharField(source="qtype")
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    knowledge_points = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    source = serializers.SerializerMethodField()

    class Meta:
        model = Question
        fields = [
            "id",
            "subject",
            "type",
            "stem",
            "stem_format",
            "options",
            "answer",
            "answer_data",
            "explanation",
            "general_feedback",
            "score",
            "partial_score",
            "difficulty",
            "tags",
            "knowledge_points",
            "source",
            "version",
            "root",
            "is_current",
            "content_hash",
            "created_at",
            "updated_at",
        ]

    def get_source(self, question: Question) -> dict:
        return {
            "file": question.source_file,
            "row": question.source_row,
            "dataset": question.source_dataset,
            "licence": question.source_licence,
        }


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


QUESTION_ENTRY = PolymorphicProxySerializer(
    component_name="QuestionEntry",
    serializers=[QuestionSerializer, QuestionPublicSerializer],
    resource_type_field_name=None,
)


class QuestionInputSerializer(serializers.Serializer):
    subject = serializers.CharField(max_length=500)
    type = serializers.ChoiceField(choices=QuestionType.choices, source="qtype")
    stem = serializers.CharField(max_length=20_000)
    stem_format = serializers.ChoiceField(choices=["plain", "html", "markdown"], default="plain")
    options = serializers.ListField(child=serializers.DictField(), default=list)
    answer = serializers.CharField(allow_blank=True, default="", max_length=20_000)
    answer_data = serializers.DictField(default=dict)
    explanation = serializers.CharField(allow_blank=True, default="", max_length=20_000)
    general_feedback = serializers.CharField(allow_blank=True, default="", max_length=20_000)
    score = serializers.DecimalField(max_digits=6, decimal_places=2, default=1)
    partial_score = serializers.DecimalField(max_digits=6, decimal_places=2, allow_null=True, default=None)
    difficulty = serializers.IntegerField(min_value=1, max_value=5, allow_null=True, default=None)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), default=list)
    knowledge_points = serializers.ListField(child=serializers.CharField(max_length=200), default=list)


class QuestionFilterSerializer(serializers.Serializer):
    subject = serializers.CharField(required=False, default="")
    type = serializers.ChoiceField(choices=QuestionType.choices, required=False, default="", source="qtype")
    difficulty = serializers.IntegerField(required=False, allow_null=True, default=None)
    tag = serializers.CharField(required=False, default="")
    source = serializers.CharField(required=False, default="")
    search = serializers.CharField(required=False, default="")
    include_old_versions = serializers.BooleanField(required=False, default=False)


class QuestionListApi(APIView):
    permission_classes = [IsTeacher]

    @extend_schema(parameters=[QuestionFilterSerializer], responses=QuestionSerializer(many=True))
    def get(self, request):
        filters = QuestionFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = ListPagination()
        found = question_search(**filters.validated_data).filter(subject__in=subjects_reachable(user=request.user))
        page = paginator.paginate_queryset(found, request, view=self)
        return paginator.get_paginated_response(QuestionSerializer(page, many=True).data)

    @extend_schema(request=QuestionInputSerializer, responses={201: QuestionSerializer})
    def post(self, request):
        serializer = QuestionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # a new bank is the teacher's; another teacher's bank needs their edit share
        subject_get_or_create(path=serializer.validated_data["subject"], owner=request.user)
        question = question_create(data=serializer.validated_data)
        return Response(QuestionSerializer(question).data, status=status.HTTP_201_CREATED)


class QuestionDetailApi(TeacherWritesMixin, APIView):
    @extend_schema(
        summary="One question: every field for teachers, what may be seen before answering for students",
        description="A student is refused (409, `extra.code` `locked`) a question of which a version is on an "
        "exam that has not closed: practising it would show its key.",
        responses={200: QUESTION_ENTRY, 404: ERROR, 409: ERROR},
    )
    def get(self, request, question_id: int):
        question = get_object_or_404(Question, pk=question_id)
        if is_teacher(request.user):
            question_for_teacher(user=request.user, question=question)
            return Response(QuestionSerializer(question).data)
        if question_locked_for_practice(question_id=question.pk, user=request.user):
            raise ApplicationError("this question is on an exam that is still open", extra={"code": "locked"})
        return Response(QuestionPublicSerializer(question).data)

    @extend_schema(request=QuestionInputSerializer, responses=QuestionSerializer)
    def patch(self, request, question_id: int):
        question = get_object_or_404(Question, pk=question_id, is_current=True)
        question_for_teacher(user=request.user, question=question, level=AccessLevel.EDIT)
        serializer = QuestionInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "subject" in serializer.validated_data:
            subject_get_or_create(path=serializer.validated_data["subject"], owner=request.user)
        updated = question_update(question=question, data=serializer.validated_data)
        return Response(QuestionSerializer(updated).data)
