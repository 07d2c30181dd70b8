"""Teacher API for the bank (/api/v1/...): questions and imports."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from quizbank.models import ImportJob, Question, QuestionType
from quizbank.roles import IsTeacher
from quizbank.selectors import question_search
from quizbank.services import import_job_create, question_create, question_update


class BankPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


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
        paginator = BankPagination()
        page = paginator.paginate_queryset(question_search(**filters.validated_data), request, view=self)
        return paginator.get_paginated_response(QuestionSerializer(page, many=True).data)

    @extend_schema(request=QuestionInputSerializer, responses={201: QuestionSerializer})
    def post(self, request):
        serializer = QuestionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        question = question_create(data=serializer.validated_data)
        return Response(QuestionSerializer(question).data, status=status.HTTP_201_CREATED)


class QuestionDetailApi(APIView):
    permission_classes = [IsTeacher]

    @extend_schema(responses=QuestionSerializer)
    def get(self, request, question_id: int):
        return Response(QuestionSerializer(get_object_or_404(Question, pk=question_id)).data)

    @extend_schema(request=QuestionInputSerializer, responses=QuestionSerializer)
    def patch(self, request, question_id: int):
        question = get_object_or_404(Question, pk=question_id, is_current=True)
        serializer = QuestionInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        updated = question_update(question=question, data=serializer.validated_data)
        return Response(QuestionSerializer(updated).data)


class ImportJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportJob
        fields = [
            "id",
            "status",
            "file_name",
            "file_size",
            "format",
            "subject",
            "skip_invalid",
            "dry_run",
            "rows_read",
            "report",
            "created_at",
            "finished_at",
        ]


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.CharField(required=False, default="", allow_blank=True)
    subject = serializers.CharField(required=False, default="", allow_blank=True)
    skip_invalid = serializers.BooleanField(required=False, default=False)
    dry_run = serializers.BooleanField(required=False, default=False)


class ImportCreateApi(APIView):
    permission_classes = [IsTeacher]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=ImportInputSerializer, responses={201: ImportJobSerializer, 202: ImportJobSerializer})
    def post(self, request):
        serializer = ImportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = import_job_create(
            upload=data["file"],
            created_by=request.user,
            fmt=data["format"],
            subject=data["subject"],
            skip_invalid=data["skip_invalid"],
            dry_run=data["dry_run"],
        )
        code = status.HTTP_201_CREATED if job.finished_at else status.HTTP_202_ACCEPTED
        return Response(ImportJobSerializer(job).data, status=code)


class ImportDetailApi(APIView):
    permission_classes = [IsTeacher]

    @extend_schema(responses=ImportJobSerializer)
    def get(self, request, job_id: int):
        return Response(ImportJobSerializer(get_object_or_404(ImportJob, pk=job_id)).data)


class ImportTemplateApi(APIView):
    permission_classes = [IsTeacher]

    @extend_schema(
        parameters=[OpenApiParameter("lang", str, enum=["zh", "en"])],
        responses={(200, "application/octet-stream"): bytes},
    )
    def get(self, request):
        from quizbank.spreadsheet import build_template

        language = "en" if request.query_params.get("lang") == "en" else "zh"
        response = HttpResponse(
            build_template(language),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        name = "question-template.xlsx" if language == "en" else "question-template-zh.xlsx"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
