"""Teachers download the bank in every export format, as export_dataset writes it."""

import io
import json
import zipfile

import pytest
from django.urls import reverse

from quizbank.exporters import EXPORT_FORMATS
from quizbank.services import bank_import_file
from tests.conftest import DEMO_BANK

pytestmark = pytest.mark.django_db


@pytest.fixture
def teacher(client, carol):
    bank_import_file(path=DEMO_BANK)
    client.force_login(carol)
    return client


def download(client, fmt, **query):
    response = client.get(reverse("bank-export-download", args=[fmt]), query)
    body = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    return response, body


def test_the_page_offers_every_format(teacher):
    page = teacher.get(reverse("bank-export")).content.decode()
    for fmt in EXPORT_FORMATS:
        assert reverse("bank-export-download", args=[fmt]) in page


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_every_format_downloads(teacher, fmt):
    response, body = download(teacher, fmt)
    assert response.status_code == 200 and body
    assert "attachment" in response["Content-Disposition"]


def test_sharegpt_comes_zipped_with_its_dataset_info(teacher):
    response, body = download(teacher, "sharegpt")
    assert 'filename="quizsite-sharegpt.zip"' in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert sorted(archive.namelist()) == ["dataset_info.json", "quizsite-sharegpt.jsonl"]
    info = json.loads(archive.read("dataset_info.json"))
    assert info["quizsite-sharegpt"]["formatting"] == "sharegpt"
    lines = archive.read("quizsite-sharegpt.jsonl").decode().splitlines()
    assert len(lines) == 100 and "conversations" in json.loads(lines[0])


def test_llamafactory_comes_as_a_zipped_folder(teacher):
    _, body = download(teacher, "llamafactory")
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert sorted(names) == ["quizsite-llamafactory/dataset_info.json", "quizsite-llamafactory/quizsite.json"]


def test_a_subject_with_no_questions_and_an_unknown_format_are_refused(teacher):
    response, body = download(teacher, "gift", subject="没有这个学科")
    assert response.status_code == 400 and "没有符合条件的题目" in body.decode()
    assert download(teacher, "docx")[0].status_code == 404


def test_students_may_not_download(client, alice):
    bank_import_file(path=DEMO_BANK)
    client.force_login(alice)
    assert download(client, "alpaca")[0].status_code == 302
