"""A running import's rows read are seen from another connection while its transaction is open."""

import json
import threading
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from quizbank import import_progress
from quizbank.models import ImportJob, ImportStatus, Question
from quizbank.services import import_job_run, imports

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 1200


def queued_job(settings, tmp_path, *, bad_last=False):
    settings.IMPORT_ROOT = tmp_path / "imports"
    folder = settings.IMPORT_ROOT / uuid.uuid4().hex
    folder.mkdir(parents=True)
    questions = [
        {"type": "single_choice", "stem": f"{n} + 1 = ?", "options": [str(n), str(n + 1)], "answer": "B"}
        for n in range(ROWS)
    ]
    if bad_last:
        questions[-1]["answer"] = "Z"
    path = folder / "big.json"
    bank = {"format": "quizsite-bank", "version": 1, "subject": "数学", "questions": questions}
    path.write_text(json.dumps(bank, ensure_ascii=False), encoding="utf-8")
    return ImportJob.objects.create(file_path=str(path), file_name=path.name, file_size=path.stat().st_size)


def observe_from_another_thread(monkeypatch, carol, job):
    """At each progress tick, a request on another thread (its own database connection) reads the job."""
    seen = []
    write = import_progress.progress_write
    api, page = APIClient(), Client()
    api.force_authenticate(carol)
    page.force_login(carol)  # before the import: signing in writes a session

    def look():
        try:
            body = api.get(reverse("api-v1-import", args=[job.pk])).json()
            html = page.get(reverse("bank-import-status", args=[job.pk])).content.decode()
            seen.append((body["status"], body["rows_read"], Question.objects.count(), html))
        except Exception as exc:  # noqa: BLE001 - reported by the assertions on `seen`
            seen.append(("error", repr(exc), None, ""))
        finally:
            connection.close()

    def tick(file_path, rows):
        write(file_path, rows)
        thread = threading.Thread(target=look)
        thread.start()
        thread.join(timeout=40)

    monkeypatch.setattr(imports, "progress_write", tick)
    return seen


def test_rows_read_are_seen_while_the_import_runs(settings, tmp_path, monkeypatch, carol):
    job = queued_job(settings, tmp_path)
    seen = observe_from_another_thread(monkeypatch, carol, job)
    job = import_job_run(job_id=job.pk)
    assert [(status, rows, questions) for status, rows, questions, _ in seen] == [
        ("running", 500, 0),
        ("running", 1000, 0),  # the first thousand are written but not committed: nothing seen yet
    ]
    assert "已读取 500 行" in seen[0][3]
    assert job.status == ImportStatus.SUCCEEDED and job.rows_read == ROWS
    assert Question.objects.count() == ROWS
    assert not import_progress.progress_path(job.file_path).parent.exists()  # went with the upload


def test_a_failed_import_writes_nothing_and_leaves_no_progress(settings, tmp_path, monkeypatch, carol):
    job = queued_job(settings, tmp_path, bad_last=True)
    seen = observe_from_another_thread(monkeypatch, carol, job)
    job = import_job_run(job_id=job.pk)
    assert [rows for _, rows, _, _ in seen] == [500, 1000]
    assert job.status == ImportStatus.FAILED and not Question.objects.exists()
    assert not import_progress.progress_path(job.file_path).parent.exists()
