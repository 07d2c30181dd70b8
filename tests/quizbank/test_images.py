"""Images in questions: uploaded by teachers (checked, SVG cleaned), served with safe headers, shown in
the pages, carried through Moodle XML and GIFT, and named in words in the training data."""

from __future__ import annotations

import base64
import io
import re

import pytest
from django.contrib.auth.models import Group
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from quizbank.exporters import gift as gift_export
from quizbank.exporters import moodle_xml as moodle_export
from quizbank.images import IMAGE_URL_PREFIX, images_as_text
from quizbank.models import Question, QuestionImage, QuestionType
from quizbank.prompt_inputs import question_record
from quizbank.services import (
    bank_import_file,
    paper_create,
    question_create,
    session_answer_save,
    session_finish,
    session_start,
)
from quizbank.services.images import question_image_create
from tests.conftest import SHARED

pytestmark = pytest.mark.django_db

SCRIPTED_SVG = """<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="20" height="20"
     onload="alert(1)">
  <script>alert(2)</script>
  <rect width="10" height="10" fill="red" onclick="alert(3)" style="fill: url(https://example.com/x)"/>
  <foreignObject><body xmlns="http://www.w3.org/1999/xhtml"><iframe src="https://example.com"/></body></foreignObject>
  <use xlink:href="https://example.com/sprite.svg#a"/>
  <a href="javascript:alert(4)"><circle r="3"/></a>
  <text x="1" y="15">三角形</text>
</svg>""".encode()


def raster(fmt: str, size=(2, 2)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def teacher(client, carol):
    client.force_login(carol)
    return client


def upload(client, name: str, data: bytes, content_type: str = ""):
    from django.core.files.uploadedfile import SimpleUploadedFile

    file = SimpleUploadedFile(name, data, content_type=content_type or "application/octet-stream")
    return client.post(reverse("question-image-upload"), {"file": file})


@pytest.mark.parametrize(
    "name, data, content_type",
    [
        ("图.png", raster("PNG"), "image/png"),
        ("photo.jpg", raster("JPEG"), "image/jpeg"),
        ("photo.jpeg", raster("JPEG"), ""),
        ("drawing.webp", raster("WEBP"), "image/webp"),
        ("diagram.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>', "image/svg+xml"),
    ],
)
def test_a_teacher_uploads_each_allowed_type(teacher, name, data, content_type):
    response = upload(teacher, name, data, content_type)
    assert response.status_code == 201, response.content
    body = response.json()
    image = QuestionImage.objects.get()
    assert body["url"] == IMAGE_URL_PREFIX + image.file.name.rsplit("/", 1)[-1]
    assert body["markdown"] == f"![]({body['url']})"
    assert image.original_name == name and image.size == len(default_storage.open(image.file.name).read())
    # The same content again is the same image.
    assert upload(teacher, "again" + name[name.rindex(".") :], data, content_type).json()["url"] == body["url"]
    assert QuestionImage.objects.count() == 1


def test_too_large_fake_and_mislabelled_images_are_refused(teacher, settings):
    settings.QUESTION_IMAGE_MAX_BYTES = 1000
    refused = [
        upload(teacher, "big.png", raster("PNG", size=(300, 300)) + b"\0" * 1000, "image/png"),
        upload(teacher, "fake.png", b"<html><script>alert(1)</script></html>", "image/png"),
        upload(teacher, "really-a-jpeg.png", raster("JPEG"), "image/png"),
        upload(teacher, "sent-as-gif.png", raster("PNG"), "image/gif"),
        upload(teacher, "broken.png", raster("PNG")[:40], "image/png"),
        upload(teacher, "page.html", b"<p>hi</p>", "text/html"),
        upload(teacher, "not-svg.svg", b"<html><body/></html>", "image/svg+xml"),
    ]
    assert [response.status_code for response in refused] == [400] * len(refused)
    assert "too large" in refused[0].json()["message"]
    assert "not the PNG image" in refused[1].json()["message"]
    assert not QuestionImage.objects.exists()


def test_an_svg_is_stored_without_anything_that_runs_or_fetches(teacher):
    response = upload(teacher, "scripted.svg", SCRIPTED_SVG, "image/svg+xml")
    assert response.status_code == 201
    stored = default_storage.open(QuestionImage.objects.get().file.name).read().decode()
    for bad in ("script", "alert", "onload", "onclick", "foreignObject", "iframe", "example.com", "javascript"):
        assert bad not in stored, bad
    assert "<rect" in stored and "三角形" in stored


def test_the_served_image_has_safe_headers_and_is_for_signed_in_users(client, carol, alice):
    png = question_image_create(data=raster("PNG"), name="a.png", uploaded_by=carol)
    svg = question_image_create(data=SCRIPTED_SVG, name="b.svg", uploaded_by=carol)
    png_url, svg_url = (IMAGE_URL_PREFIX + image.file.name.rsplit("/", 1)[-1] for image in (png, svg))
    assert client.get(png_url).status_code == 302  # to the login page
    client.force_login(alice)  # a student: she sees the images of the papers she takes
    response = client.get(png_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == raster("PNG")
    response = client.get(svg_url)
    assert response["Content-Type"] == "image/svg+xml"
    assert response["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert b"script" not in b"".join(response.streaming_content)
    assert client.get(IMAGE_URL_PREFIX + "0" * 64 + ".png").status_code == 404
    assert client.post(png_url).status_code == 405


def test_students_and_strangers_cannot_upload(client, alice):
    assert upload(client, "a.png", raster("PNG")).status_code == 302
    alice.groups.add(Group.objects.get_or_create(name="student")[0])
    client.force_login(alice)
    assert upload(client, "a.png", raster("PNG")).status_code == 403
    assert not QuestionImage.objects.exists()


# --- shown in the pages -----------------------------------------------------------------------------


def _image_question(carol, **extra):
    image = question_image_create(data=raster("PNG"), name="三角形.png", uploaded_by=carol)
    url = IMAGE_URL_PREFIX + image.file.name.rsplit("/", 1)[-1]
    data = {
        "subject": "数学/几何",
        "qtype": QuestionType.SINGLE_CHOICE,
        "stem": f"如图，**三角形** $a_1*b_2$ 的面积？\n\n![三角形]({url})",
        "stem_format": "markdown",
        "options": [{"key": "A", "text": "1"}, {"key": "B", "text": "2"}],
        "answer": "B",
        **extra,
    }
    return question_create(data=data), url


def test_a_markdown_stem_shows_its_image_and_keeps_its_latex(client, carol, alice):
    question, url = _image_question(carol)
    drill, _ = _image_question(carol, answer="A")  # not on the exam: it may be practised meanwhile
    paper = paper_create(title="看图", questions=[question], review_answer="immediately")
    attempt = session_start(user=alice, paper=paper)
    client.force_login(alice)
    for page in (reverse("session-take", args=[attempt.pk]), reverse("practice-question", args=[drill.pk])):
        html = client.get(page).content.decode()
        assert f'<img src="{url}" alt="三角形">' in html, page
        assert "<strong>三角形</strong>" in html and "$a_1*b_2$" in html and "![" not in html
    session_answer_save(user=alice, session_id=attempt.pk, position=1, response="B")
    session_finish(user=alice, session_id=attempt.pk)
    assert f'<img src="{url}"' in client.get(reverse("session-review", args=[attempt.pk])).content.decode()


# --- Moodle XML, GIFT, training data ----------------------------------------------------------------

MOODLE_IMAGE_QUESTION = """<?xml version="1.0" encoding="UTF-8"?>
<quiz>
  <question type="truefalse">
    <name><text>看图判断</text></name>
    <questiontext format="html">
      <text><![CDATA[<p>图中是红色方块。</p><p><img src="@@PLUGINFILE@@/red%20square.png" alt="方块" /></p>]]></text>
      <file name="red square.png" path="/" encoding="base64">{data}</file>
    </questiontext>
    <answer fraction="100"><text>true</text></answer>
    <answer fraction="0"><text>false</text></answer>
  </question>
</quiz>
"""


def test_a_moodle_file_with_an_embedded_image_imports_with_the_image_stored_and_shown(tmp_path, client, carol):
    path = tmp_path / "images.xml"
    path.write_text(MOODLE_IMAGE_QUESTION.format(data=base64.b64encode(raster("PNG")).decode()), encoding="utf-8")
    assert bank_import_file(path=path, subject="测试/图片").created == 1
    question = Question.objects.get()
    image = QuestionImage.objects.get()
    assert image.original_name == "red square.png" and image.content_type == "image/png"
    url = IMAGE_URL_PREFIX + image.file.name.rsplit("/", 1)[-1]
    assert f'src="{url}"' in question.stem and "@@PLUGINFILE@@" not in question.stem
    paper = paper_create(title="看图", questions=[question])
    client.force_login(carol)
    answer_page = client.get(reverse("teacher-paper", args=[paper.pk]))
    assert answer_page.status_code == 200
    assert client.get(url).status_code == 200


@pytest.mark.skipif(not (SHARED / "formats").is_dir(), reason="../shared/formats is absent")
def test_a_real_moodle_file_given_an_embedded_image_imports_it(tmp_path):
    """Moodle's own true/false fixture, its question text given an image as Moodle writes one."""
    text = (SHARED / "formats" / "moodle" / "xml_truefalse.moodle.xml").read_text(encoding="utf-8")
    data = base64.b64encode(raster("PNG")).decode()
    text = text.replace(
        "<text>The answer is true.</text>",
        '<text><![CDATA[The answer is true. <img src="@@PLUGINFILE@@/pic.png" alt="pic">]]></text>'
        f'\n      <file name="pic.png" path="/" encoding="base64">{data}</file>',
        1,
    )
    path = tmp_path / "xml_truefalse.moodle.xml"
    path.write_text(text, encoding="utf-8")
    bank_import_file(path=path)
    question = Question.objects.get()
    assert re.search(re.escape(IMAGE_URL_PREFIX) + r"[0-9a-f]{64}\.png", question.stem)
    assert QuestionImage.objects.count() == 1


def test_moodle_xml_export_embeds_the_images_and_reads_back(tmp_path, carol):
    question, url = _image_question(carol)
    out = tmp_path / "bank.xml"
    moodle_export.export([question], out)
    xml = out.read_text(encoding="utf-8")
    name = url.rsplit("/", 1)[-1]
    assert f"![三角形](@@PLUGINFILE@@/{name})" in xml and f'<file name="{name}" path="/" encoding="base64">' in xml
    assert IMAGE_URL_PREFIX not in xml
    # Into an empty bank: the image comes back from the file, at the same address.
    stem = question.stem
    Question.objects.all().delete()
    QuestionImage.objects.all().delete()
    default_storage.delete(f"question-images/{name}")
    bank_import_file(path=out)
    assert Question.objects.get().stem == stem
    assert QuestionImage.objects.get().file.name == f"question-images/{name}"
    assert default_storage.exists(f"question-images/{name}")


def test_gift_keeps_our_image_addresses_both_ways(tmp_path, carol):
    question, url = _image_question(carol)
    html_question, _ = _image_question(
        carol, stem=f'<p>看图：<img src="{url}" alt="图"></p>', stem_format="html", answer="A"
    )
    out = tmp_path / "bank.gift.txt"
    gift_export.export([question, html_question], out)
    assert url in out.read_text(encoding="utf-8")
    stems = {q.pk: q.stem for q in (question, html_question)}
    Question.objects.all().delete()
    bank_import_file(path=out)
    assert sorted(q.stem for q in Question.objects.all()) == sorted(stems.values())


def test_the_training_data_names_an_image_in_words(carol):
    question, url = _image_question(carol)
    record = question_record(question)
    assert "[图片: 三角形]" in record["input"] and url not in record["input"] and "/media/" not in record["input"]
    assert images_as_text('<img alt="" src="/media/question-images/ab.png">') == "[图片: ab.png]"
