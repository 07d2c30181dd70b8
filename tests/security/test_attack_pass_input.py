"""Findings of an attack pass on input: a tiny workbook naming a far-away cell, a wildcard key that
backtracks on a long answer, links and images the HTML cleaner let through, pages without a
Content-Security-Policy, and uploaded import files that were never deleted."""

from __future__ import annotations

import os
import random
import re
import time
import tracemalloc
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from quizbank.importers import RowError, iter_file
from quizbank.importers.xlsx_table import sheet_rows
from quizbank.models import Answer, GradeStatus, ImportJob, ImportStatus, Question, QuestionType
from quizbank.sanitize import sanitize_html
from quizbank.services import import_job_create, import_job_run, paper_create, session_start, subject_get_or_create

pytestmark = pytest.mark.django_db

# --- xlsx: cell and row references far outside the grid --------------------------------------------

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
WORKBOOK_XML = (
    f'<workbook xmlns="{_MAIN_NS}" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>'
)
HEADER_ROW = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>题目</t></is></c><c r="B1" t="inlineStr"><is><t>类型</t></is></c>'
    '<c r="C1" t="inlineStr"><is><t>答案</t></is></c></row>'
)


def question_row(number: int, *, extra: str = "") -> str:
    return (
        f'<row r="{number}"><c r="A{number}" t="inlineStr"><is><t>一加一等于几？</t></is></c>'
        f'<c r="B{number}" t="inlineStr"><is><t>简答题</t></is></c>'
        f'<c r="C{number}" t="inlineStr"><is><t>二</t></is></c>{extra}</row>'
    )


def workbook(path: Path, rows: str) -> Path:
    """A minimal .xlsx written by hand: whatever references `rows` makes up reach the reader as they are."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", WORKBOOK_XML)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr(
            "xl/worksheets/sheet1.xml", f'<worksheet xmlns="{_MAIN_NS}"><sheetData>{rows}</sheetData></worksheet>'
        )
    return path


def read_bounded(path: Path, *, seconds: float = 2, megabytes: int = 10) -> list:
    """Everything the importer makes of `path`, checked to take little time and memory."""
    started = time.monotonic()
    tracemalloc.start()
    try:
        items = list(iter_file(path, subject="默认"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    assert elapsed < seconds, f"{elapsed:.2f} s"
    assert peak < megabytes * 1024 * 1024, f"{peak / 1024 / 1024:.1f} MB"
    return items


@pytest.mark.parametrize(
    ("cell", "row"),
    [("ZZZZZZZ2", 2), ("XFE2", 2), ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA2", 2)],
    ids=["8-letters", "one-past-XFD", "48-letters"],
)
def test_an_xlsx_cell_beyond_column_xfd_is_refused_naming_the_file_row_and_cell(tmp_path, cell, row):
    extra = f'<c r="{cell}" t="inlineStr"><is><t>x</t></is></c>'
    path = workbook(tmp_path / "wide.xlsx", HEADER_ROW + question_row(row, extra=extra))
    assert path.stat().st_size < 2048
    (error,) = read_bounded(path)
    assert isinstance(error, RowError), error
    assert (error.file, error.row) == ("wide.xlsx", row)
    assert cell[:20] in error.field and cell[:20] in error.message and "XFD" in error.message


@pytest.mark.parametrize("reference", ["99999999999", "1048577", "-3", "12abc"])
def test_an_xlsx_row_beyond_the_last_excel_row_is_refused(tmp_path, reference):
    rows = HEADER_ROW + question_row(2) + f'<row r="{reference}"><c t="inlineStr"><is><t>x</t></is></c></row>'
    path = workbook(tmp_path / "tall.xlsx", rows)
    items = read_bounded(path)
    (error,) = [item for item in items if isinstance(item, RowError)]
    assert error is items[-1] and error.file == "tall.xlsx" and error.field == "(row)"
    assert f"row {reference[:20]} is outside the worksheet" in error.message and "1,048,576" in error.message


def test_a_sparse_but_legal_xlsx_reads_in_time_and_memory_of_the_file_not_the_grid(tmp_path):
    """Row 1,048,576 (the last) after the header, with empty formatted cells out to column XFD: the
    rows and cells between are not made."""
    last = 1_048_576
    rows = (
        HEADER_ROW.replace("</row>", '<c r="XFD1" s="1"/></row>')
        + question_row(1_000_000, extra='<c r="XFD1000000" s="1"/>')
        + question_row(last, extra=f'<c r="XFD{last}" s="1"/>')
    )
    path = workbook(tmp_path / "sparse.xlsx", rows)
    started = time.monotonic()
    read = list(sheet_rows(path))
    assert time.monotonic() - started < 0.5
    assert [number for number, _ in read] == [1, 1_000_000, last]
    assert all(len(cells) == 3 for _, cells in read)
    records = read_bounded(path, seconds=1, megabytes=2)
    assert [(record.source_row, record.answer) for record in records] == [(1_000_000, "二"), (last, "二")]


def test_a_value_far_right_of_the_table_is_refused_instead_of_widening_every_row(tmp_path):
    """A legal cell (XFD is Excel's last column) holding a value: a question table has a few dozen
    columns, so the file is refused with the cell named rather than rows 16,384 cells wide."""
    rows = HEADER_ROW + "".join(
        question_row(number, extra=f'<c r="XFD{number}" t="inlineStr"><is><t>x</t></is></c>')
        for number in range(2, 20_002)
    )
    path = workbook(tmp_path / "far-right.xlsx", rows)
    (error,) = read_bounded(path)
    assert (error.file, error.row, error.field) == ("far-right.xlsx", 2, "XFD2")
    assert "column 16,384" in error.message and "256 columns" in error.message


# --- short answers: wildcard keys in linear time ------------------------------------------------------


def old_wildcard(accepted: str) -> re.Pattern:
    """The translation the grader used before: `*` → `.*`, `\\*` a literal star."""
    bits = re.split(r"(?<!\\)\*", accepted)
    return re.compile(".*".join(re.escape(bit.replace("\\*", "*")) for bit in bits), re.DOTALL)


def test_the_backtracking_wildcard_case_is_linear_now():
    from quizbank.grading import wildcard_match

    text = "ab" * 25_000  # 50,000 characters with no "c": the regex tried every split
    started = time.perf_counter()
    assert not wildcard_match("*a*b*c*", text)
    assert wildcard_match("*a*b*", text)
    assert not wildcard_match("a*" * 200 + "c", text)
    assert time.perf_counter() - started < 0.05


def test_wildcard_match_agrees_with_the_old_regex_on_random_keys_and_answers():
    from quizbank.grading import wildcard_match

    rng = random.Random(20261204)
    for _ in range(20_000):
        key = "".join(rng.choice("ab*\\") for _ in range(rng.randint(0, 7)))
        text = "".join(rng.choice("ab*\\") for _ in range(rng.randint(0, 9)))
        expected = old_wildcard(key).fullmatch(text) is not None
        assert wildcard_match(key, text) == expected, (key, text)


def short_answer_question(answers) -> Question:
    return Question.objects.create(
        subject=subject_get_or_create(path="安全"),
        qtype=QuestionType.SHORT_ANSWER,
        stem="写出三个字母",
        answer=answers[0]["text"],
        answer_data={"answers": answers},
        content_hash=f"short-{len(answers)}",
        score=Decimal(2),
    )


def test_a_long_short_answer_is_kept_whole_and_sent_to_review_without_matching(alice):
    """The autosave grades while the session row is locked: a 48,000-character answer to a `*a*b*c*` key
    returns at once, is stored whole, and waits for a teacher (no answer is lost)."""
    question = short_answer_question([{"text": "*a*b*c*", "fraction": 1}, {"text": "*", "fraction": 0}])
    session = session_start(user=alice, paper=paper_create(title="短答", questions=[question]))
    api = APIClient()
    api.force_authenticate(alice)
    url = reverse("api-v1-session-answer", args=[session.pk, session.items.get().position])
    response = "ab" * 24_000
    started = time.perf_counter()
    reply = api.put(url, {"response": response}, format="json")
    assert time.perf_counter() - started < 1
    assert reply.status_code == 200, reply.content
    answer = Answer.objects.get(session=session)
    assert answer.response_data == response and answer.score == 0
    assert answer.grade_status == GradeStatus.NEEDS_REVIEW and answer.grade_detail["too_long"] is True
    # at the cap the keys are still compared (the catch-all `*` matches: a wrong answer, no review)
    from quizbank.grading import SHORT_ANSWER_MATCH_MAX_CHARS

    at_cap = "ab" * (SHORT_ANSWER_MATCH_MAX_CHARS // 2)
    assert api.put(url, {"response": at_cap}, format="json").status_code == 200
    answer.refresh_from_db()
    assert answer.grade_status == GradeStatus.AUTO and answer.grade_detail["matched"] == "*"


# --- HTML: links, images and the Content-Security-Policy ---------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
        '<a href=" DATA:text/html,<script>alert(1)</script>">x</a>',
        '<a href="java&#9;script:alert(1)">x</a>',
        '<a href="vbscript:msgbox(1)">x</a>',
    ],
)
def test_the_cleaner_drops_data_and_script_links(html):
    cleaned = sanitize_html(html)
    assert "href" not in cleaned and ">x</a>" in cleaned


@pytest.mark.parametrize(
    "src",
    [
        "https://tracker.example/pixel.gif",
        "http://tracker.example/pixel.gif",
        "//tracker.example/pixel.gif",
        "/\\tracker.example/pixel.gif",
        "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=",
        "data:text/html,<b>x</b>",
    ],
)
def test_the_cleaner_drops_remote_and_non_raster_images(src):
    assert sanitize_html(f'<img src="{src}" alt="图">') == '<img alt="图">'


@pytest.mark.parametrize(
    "html",
    [
        '<p>猫 <img src="@@PLUGINFILE@@/cat.png" alt="cat"></p>',
        '<img src="/media/questions/cat.png" alt="cat">',
        '<img src="images/cat.png">',
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="inline">',
        '<a href="https://zh.wikipedia.org/wiki/光合作用" rel="noopener noreferrer">光合作用</a>',
        '<a href="/bank/" rel="noopener noreferrer">题库</a>',
        '<a href="mailto:teacher@example.org" rel="noopener noreferrer">老师</a>',
    ],
)
def test_the_cleaner_keeps_local_images_and_ordinary_links(html):
    assert sanitize_html(html) == html


# A script element without src runs, unless it is data (json_script's type="application/json").
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def policy_of(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def test_every_page_has_a_content_security_policy_and_no_inline_script(client, alice, carol):
    question = short_answer_question([{"text": "abc", "fraction": 1}])
    paper = paper_create(title="试卷", questions=[question], review_answer="immediately")
    session = session_start(user=alice, paper=paper)
    pages = [(None, reverse("login"))]
    pages += [(alice, reverse(name)) for name in ("practice-index", "exam-index", "wrong-book")]
    pages += [(alice, reverse("session-take", args=[session.pk])), (alice, reverse("exam-paper", args=[paper.pk]))]
    pages += [(carol, reverse(name)) for name in ("teacher-paper-new", "teacher-grading", "bank-import")]
    for user, url in pages:
        client.logout()
        if user:
            client.force_login(user)
        response = client.get(url)
        assert response.status_code == 200, url
        policy = policy_of(response)
        assert policy.get("script-src") == ["'self'"], (url, policy)
        assert policy.get("object-src") == ["'none'"] and policy.get("frame-ancestors") == ["'none'"]
        assert policy.get("img-src") == ["'self'", "data:"] and policy.get("default-src") == ["'self'"]
        page = response.content.decode()
        assert not INLINE_SCRIPT.findall(page), (url, INLINE_SCRIPT.findall(page))
        assert not EVENT_HANDLER.findall(page), url
    # the JSON API carries it too
    api = APIClient()
    api.force_authenticate(carol)
    assert "script-src 'self'" in api.get(reverse("api-v1-questions")).headers["Content-Security-Policy"]


def test_the_page_script_caps_what_katex_typesets():
    script = (Path(__file__).resolve().parents[2] / "quizbank" / "static" / "quizbank" / "math.js").read_text()
    assert re.search(r"MATH_MAX_CHARS = \d+;", script) and "textContent" in script
    assert re.search(r"maxExpand: \d+", script) and re.search(r"maxSize: \d+", script)
    assert "trust: false" in script


# --- uploaded import files ---------------------------------------------------------------------------

BANK = (
    '{"format": "quizsite-bank", "version": 1, "subject": "数学", '
    '"questions": [{"type": "short_answer", "stem": "一加一？", "answer": "二"}]}'
)


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


@pytest.mark.parametrize(("content", "status"), [(BANK, "succeeded"), ("{not json", "failed")])
def test_an_uploaded_file_is_deleted_when_its_import_ends(carol, settings, tmp_path, content, status):
    settings.IMPORT_ROOT = tmp_path / "imports"
    api = APIClient()
    api.force_authenticate(carol)
    upload = SimpleUploadedFile("bank.json", content.encode())
    body = api.post(reverse("api-v1-imports"), {"file": upload}, format="multipart").json()
    assert body["status"] == status
    assert stored_files(settings.IMPORT_ROOT) == []
    assert list(settings.IMPORT_ROOT.iterdir()) == []  # the job's folder too


def test_a_worker_import_deletes_its_file_and_never_one_outside_the_import_folder(
    carol, settings, tmp_path, monkeypatch
):
    settings.IMPORT_ROOT = tmp_path / "imports"
    monkeypatch.setattr("quizbank.services.imports.INLINE_IMPORT_BYTES", 0)  # every upload goes to a worker
    job = import_job_create(upload=SimpleUploadedFile("bank.json", BANK.encode()), created_by=carol)
    assert job.status == ImportStatus.QUEUED and len(stored_files(settings.IMPORT_ROOT)) == 1
    assert import_job_run(job_id=job.pk).status == ImportStatus.SUCCEEDED
    assert stored_files(settings.IMPORT_ROOT) == []
    # a job row naming a file elsewhere (an old row, a moved IMPORT_ROOT) leaves that file alone
    outside = tmp_path / "elsewhere" / "bank.json"
    outside.parent.mkdir()
    outside.write_text(BANK, encoding="utf-8")
    other = ImportJob.objects.create(file_path=str(outside), file_name="bank.json", created_by=carol)
    import_job_run(job_id=other.pk)
    assert outside.exists()


def test_the_sweep_deletes_day_old_leftovers_and_fails_their_queued_jobs(carol, settings, tmp_path, monkeypatch):
    from quizbank.services.imports import import_files_sweep
    from quizbank.tasks import sweep_import_files

    settings.IMPORT_ROOT = tmp_path / "imports"
    monkeypatch.setattr("quizbank.services.imports.INLINE_IMPORT_BYTES", 0)
    queued, running, fresh = (
        import_job_create(upload=SimpleUploadedFile(f"{name}.json", BANK.encode()), created_by=carol)
        for name in ("queued", "running", "fresh")
    )
    ImportJob.objects.filter(pk=running.pk).update(status=ImportStatus.RUNNING)
    orphan = settings.IMPORT_ROOT / "0123456789abcdef" / "lost.csv"  # a request that died after writing
    orphan.parent.mkdir()
    orphan.write_text("题目,答案\n", encoding="utf-8")
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (queued.file_path, running.file_path, orphan):
        os.utime(Path(path).parent, (two_days_ago, two_days_ago))

    assert sweep_import_files() == 2
    assert stored_files(settings.IMPORT_ROOT) == sorted([Path(running.file_path), Path(fresh.file_path)])
    queued.refresh_from_db()
    assert queued.status == ImportStatus.FAILED and "upload it again" in queued.report["errors"][0]["message"]
    assert queued.report["errors"][0]["source"] == "queued.json"
    # a worker that picks the expired job up afterwards finds it already done
    assert import_job_run(job_id=queued.pk).status == ImportStatus.FAILED
    assert import_files_sweep() == 0
    assert settings.PERIODIC_TASKS["quizbank-sweep-import-files"]["task"] == "quizbank.sweep_import_files"
