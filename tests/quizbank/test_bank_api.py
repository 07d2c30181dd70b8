"""The teacher API and pages for the bank: questions, versions, imports by upload."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from quizbank.models import ImportJob, Question
from quizbank.services import bank_import_file, paper_create
from tests.conftest import DEMO_BANK

pytestmark = pytest.mark.django_db


@pytest.fixture
def teacher_api(carol):
    client = APIClient()
    client.force_authenticate(carol)
    return client


NEW = {
    "subject": "数学/函数",
    "type": "multiple_choice",
    "stem": "下列函数中是偶函数的有",
    "options": [{"key": "A", "text": "y=x²"}, {"key": "B", "text": "y=x³"}, {"key": "C", "text": "y=|x|"}],
    "answer": "AC",
    "partial_score": 1,
    "score": 3,
    "tags": ["函数"],
    "knowledge_points": ["奇偶性"],
}


def test_students_cannot_use_the_bank_api(alice):
    client = APIClient()
    client.force_authenticate(alice)
    assert client.get(reverse("api-v1-questions")).status_code == 403
    assert client.post(reverse("api-v1-questions"), NEW, format="json").status_code == 403


def test_create_filter_and_read_a_question(teacher_api):
    bank_import_file(path=DEMO_BANK)
    created = teacher_api.post(reverse("api-v1-questions"), NEW, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["type"] == "multiple_choice" and body["tags"] == ["函数"] and body["partial_score"] == "1.00"
    listed = teacher_api.get(reverse("api-v1-questions"), {"subject": "数学/函数"}).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == body["id"]
    assert teacher_api.get(reverse("api-v1-questions"), {"type": "single_choice", "limit": 5}).json()["count"] == 100
    assert teacher_api.post(reverse("api-v1-questions"), NEW, format="json").status_code == 400  # duplicate


def test_invalid_question_names_the_field(teacher_api):
    response = teacher_api.post(reverse("api-v1-questions"), dict(NEW, answer="AZ"), format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["errors"][0]["field"] == "answer"


def test_editing_a_question_used_by_a_paper_makes_a_new_version(teacher_api, carol):
    bank_import_file(path=DEMO_BANK)
    used, unused = Question.objects.order_by("id")[:2]
    paper = paper_create(title="期中", questions=[used], created_by=carol)
    response = teacher_api.patch(reverse("api-v1-question", args=[used.pk]), {"explanation": "新的解析"}, format="json")
    new = Question.objects.get(pk=response.json()["id"])
    assert new.pk != used.pk and new.root_id == used.pk and new.version == 2 and new.explanation == "新的解析"
    used.refresh_from_db()
    assert used.is_current is False and used.explanation != "新的解析"
    assert paper.items.get().question_id == used.pk  # the paper keeps its version
    in_place = teacher_api.patch(reverse("api-v1-question", args=[unused.pk]), {"difficulty": 4}, format="json")
    assert in_place.json()["id"] == unused.pk and in_place.json()["version"] == 1


def test_upload_import_reports_every_bad_row_and_writes_nothing(teacher_api, tmp_path):
    bank = {
        "format": "quizsite-bank",
        "version": 1,
        "subject": "数学",
        "questions": [
            {"stem": "1+1=?", "options": ["1", "2"], "answer": "B"},
            {"stem": "2+2=?", "options": ["3", "4"], "answer": "C"},
        ],
    }
    upload = SimpleUploadedFile("bad.json", json.dumps(bank).encode(), content_type="application/json")
    response = teacher_api.post(reverse("api-v1-imports"), {"file": upload}, format="multipart")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "failed" and body["report"]["created"] == 0
    assert body["report"]["errors"] == [
        {
            "source": "bad.json",
            "line": 2,
            "field": "answer",
            "message": "the answer 'C' is not one of the options A, B",
            "excerpt": "2+2=?",
        }
    ]
    assert Question.objects.count() == 0
    upload = SimpleUploadedFile("bad.json", json.dumps(bank).encode())
    skipped = teacher_api.post(reverse("api-v1-imports"), {"file": upload, "skip_invalid": True}, format="multipart")
    assert skipped.json()["report"]["created"] == 1 and skipped.json()["report"]["skipped"] == 1


def test_upload_over_the_size_limit_is_refused(teacher_api, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1024
    upload = SimpleUploadedFile("big.json", b"[" + b" " * 4096 + b"]")
    response = teacher_api.post(reverse("api-v1-imports"), {"file": upload}, format="multipart")
    assert response.status_code == 400 and "limit" in response.json()["message"]
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_large_uploads_are_imported_by_a_worker_over_the_broker(teacher_api, monkeypatch):
    import time

    from celery.contrib.testing.worker import start_worker

    from quizbank.services import imports
    from quizsite.celery import app

    monkeypatch.setattr(imports, "INLINE_IMPORT_BYTES", 10)
    with start_worker(app, pool="solo", queues=["celery"], perform_ping_check=False):
        upload = SimpleUploadedFile("demo_bank.json", DEMO_BANK.read_bytes())
        response = teacher_api.post(reverse("api-v1-imports"), {"file": upload}, format="multipart")
        assert response.status_code == 202 and response.json()["status"] == "queued"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = teacher_api.get(reverse("api-v1-import", args=[response.json()["id"]])).json()
            if job["status"] not in ("queued", "running"):
                break
            time.sleep(0.2)
    assert job["status"] == "succeeded" and job["report"]["created"] == 100


def test_teacher_pages_list_and_import(client, carol, alice):
    client.force_login(alice)
    assert client.get(reverse("bank-index")).status_code == 302  # students are sent away
    client.force_login(carol)
    upload = SimpleUploadedFile("demo_bank.json", DEMO_BANK.read_bytes())
    response = client.post(reverse("bank-import"), {"file": upload}, follow=True)
    assert "新增 100 题" in response.content.decode()
    page = client.get(reverse("bank-index"), {"search": "长方形"}).content.decode()
    assert "长方形" in page and "共 " in page


def test_openapi_schema_lists_the_bank_api(teacher_api):
    schema = teacher_api.get(reverse("api-schema"), {"format": "json"}).json()
    assert "/api/v1/questions" in schema["paths"] and "/api/v1/imports" in schema["paths"]
