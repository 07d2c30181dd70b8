"""/api/v1/imports: teachers import questions from a file, and follow the import."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from quizbank.models import ImportJob
from quizbank.roles import IsTeacher
from quizbank.selectors.imports import import_job_rows_read
from quizbank.services import import_job_create, import_job_create_from_text
from quizbank.services.mapping_imports import mapping_resolve


class ImportJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportJob
        fields = [
            "id",
            "status",
            "file_name",
            "file_size",
            "format",
            "mapping",
            "subject",
            "skip_invalid",
            "dry_run",
            "rows_read",
            "report",
            "created_at",
            "finished_at",
        ]


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(required=False)
    text = serializers.CharField(required=False, default="", allow_blank=True, trim_whitespace=False)
    format = serializers.CharField(required=False, default="", allow_blank=True)
    subject = serializers.CharField(required=False, default="", allow_blank=True)
    skip_invalid = serializers.BooleanField(required=False, default=False)
    dry_run = serializers.BooleanField(required=False, default=False)
    # a layout no importer knows: a mapping (JSON, as `import_questions --map` reads) or a saved one's name
    mapping = serializers.JSONField(required=False, default=None)
    profile = serializers.CharField(required=False, default="", allow_blank=True)

    def validate(self, attrs):
        if bool(attrs.get("file")) == bool(attrs["text"].strip()):
            raise serializers.ValidationError("send either a file or pasted text")
        return attrs


class ImportCreateApi(APIView):
    permission_classes = [IsTeacher]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(request=ImportInputSerializer, responses={201: ImportJobSerializer, 202: ImportJobSerializer})
    def post(self, request):
        serializer = ImportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        options = {key: data[key] for key in ("subject", "skip_invalid", "dry_run")}
        options["mapping"] = mapping_resolve(mapping=data["mapping"], profile=data["profile"])
        if data.get("file"):
            job = import_job_create(upload=data["file"], created_by=request.user, fmt=data["format"], **options)
        else:
            job = import_job_create_from_text(text=data["text"], created_by=request.user, fmt=data["format"], **options)
        code = status.HTTP_201_CREATED if job.finished_at else status.HTTP_202_ACCEPTED
        return Response(ImportJobSerializer(job).data, status=code)


class ImportDetailApi(APIView):
    permission_classes = [IsTeacher]

    @extend_schema(responses=ImportJobSerializer)
    def get(self, request, job_id: int):
        job = get_object_or_404(ImportJob, pk=job_id)
        job.rows_read = import_job_rows_read(job=job)  # while it runs, read beside the upload; not saved
        return Response(ImportJobSerializer(job).data)


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
