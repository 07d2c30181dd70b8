"""Pasted text on the import page and the API is imported like an uploaded file."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from quizbank.models import ImportJob, Question

pytestmark = pytest.mark.django_db

PASTED = """1.二加三等于几
A.四
B。五
C、六
[B]

2、地球绕太阳转
[对]
"""
AIKEN = """What is 1 + 1?
A. 1
B. 2
ANSWER: B
"""


def post(client, **data):
    return client.post(reverse("bank-import"), data, follow=True)


def test_pasted_text_is_detected_and_imported(client, carol):
    client.force_login(carol)
    page = post(client, text=PASTED.replace("\n", "\r\n")).content.decode()
    assert "新增 2 题" in page
    assert set(Question.objects.values_list("qtype", flat=True)) == {"single_choice", "true_false"}
    assert set(Question.objects.values_list("subject__path", flat=True)) == {"未分类/粘贴的题目"}
    assert ImportJob.objects.get().file_name == "粘贴的题目.txt"


def test_pasted_text_in_a_chosen_format_with_a_default_subject(client, carol):
    client.force_login(carol)
    page = post(client, text=AIKEN, format="aiken", subject="数学").content.decode()
    assert "新增 1 题" in page and Question.objects.get().subject.path == "数学"


def test_pasted_rows_are_refused_with_the_same_row_errors(client, carol):
    client.force_login(carol)
    page = post(client, text="1.二加三等于几\nA.四\nB.五\n[Z]\n").content.decode()
    assert "新增 0 题" in page and 'id="errors"' in page
    assert "<td>粘贴的题目.txt</td><td>1</td>" in page
    assert not Question.objects.exists()


def test_a_file_or_pasted_text_but_not_both_nor_neither(client, carol):
    client.force_login(carol)
    assert "二选一" in post(client, text="", subject="").content.decode()
    upload = SimpleUploadedFile("q.txt", AIKEN.encode())
    assert "二选一" in post(client, file=upload, text=AIKEN).content.decode()
    assert "二选一" in post(client, text="   \n").content.decode()
    assert not ImportJob.objects.exists()


def test_the_api_imports_pasted_text(carol, alice):
    api = APIClient()
    api.force_authenticate(alice)
    assert api.post(reverse("api-v1-imports"), {"text": AIKEN}, format="json").status_code == 403
    api.force_authenticate(carol)
    response = api.post(reverse("api-v1-imports"), {"text": AIKEN}, format="json")
    assert response.status_code == 201 and response.json()["report"]["created"] == 1
    assert api.post(reverse("api-v1-imports"), {}, format="json").status_code == 400
