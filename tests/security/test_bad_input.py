"""Hostile and malformed input for every importer, every spreadsheet export, and the answer paths.

What each case must do: refuse with an error naming the file (and row and field where there is one)
and write nothing, or import correctly; never expand an entity, fetch a URL, fill memory, run a
formula or script, or write mojibake to the bank. Prompt injection in answers is covered by
tests/inference/test_grading_model.py (the model's grade is clamped to the question's score).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import struct
import time
import tracemalloc
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from quizbank.exporters.xlsx import export as xlsx_export
from quizbank.importers import BankImportError, RowError, detect_format, iter_file, parse_file
from quizbank.importers.registry import formats
from quizbank.models import ImportJob, Question, QuestionType
from quizbank.sanitize import clean_record
from quizbank.services import bank_import_file, paper_create

pytestmark = pytest.mark.django_db

QTI_NS = "http://www.imsglobal.org/xsd/imsqti_v2p1"
ZH_HEADER = ["题目", "类型", "答案", "解析", "选项A", "选项B", "选项C", "选项D", "分值"]

# --- one small, valid file per format: three questions, Chinese text (so mojibake shows) -------------

NATIVE = json.dumps(
    {
        "format": "quizsite-bank",
        "version": 1,
        "subject": "数学",
        "questions": [
            {
                "stem": "一加一等于几？",
                "options": ["一", "二", "三", "四"],
                "answer": "B",
                "explanation": "一加一得二。",
            },
            {"stem": "二加二等于几？", "options": ["二", "三", "四", "五"], "answer": "C", "explanation": "得四。"},
            {"stem": "三加三等于几？", "options": ["五", "六", "七", "八"], "answer": "B", "explanation": "得六。"},
        ],
    },
    ensure_ascii=False,
    indent=1,
)
ALPACA = json.dumps(
    [
        {"instruction": "简述光合作用的意义。", "input": "", "output": "为生物提供有机物和氧气。"},
        {"instruction": "简述水循环的过程。", "input": "", "output": "蒸发、输送、降水、径流。"},
        {"instruction": "简述板块运动的成因。", "input": "", "output": "地幔对流。"},
    ],
    ensure_ascii=False,
    indent=1,
)
GAOKAO = json.dumps(
    {
        "keywords": "2010-2022_Biology_MCQs",
        "example": [
            {
                "year": "2010",
                "category": "（新课标）",
                "question": f"{index}．下列关于细胞的叙述，正确的是（　　）\nA．甲\nB．乙\nC．丙\nD．丁",
                "answer": ["B"],
                "analysis": "【解答】选乙。",
                "index": index,
                "score": 6,
            }
            for index in range(3)
        ],
    },
    ensure_ascii=False,
    indent=1,
)
JSONL = "\n".join(
    json.dumps(
        {"question": f"小明有{n}个苹果，又买了{n}个，共有几个？", "answer": f"{n}+{n}={2 * n}\n#### {2 * n}"},
        ensure_ascii=False,
    )
    for n in (3, 5, 7)
)
MOODLE = (
    """<?xml version="1.0" encoding="UTF-8"?>
<quiz>
  <question type="category"><category><text>$course$/top/数学</text></category></question>
"""
    + "".join(
        f"""  <question type="truefalse">
    <name><text>判断{n}</text></name>
    <questiontext format="html"><text>{n} 是质数吗？</text></questiontext>
    <answer fraction="100"><text>true</text></answer>
    <answer fraction="0"><text>false</text></answer>
  </question>
"""
        for n in (2, 3, 5)
    )
    + "</quiz>\n"
)
QTI = f"""<?xml version="1.0" encoding="UTF-8"?>
<assessmentItem xmlns="{QTI_NS}" identifier="choice" title="选择" adaptive="false" timeDependent="false">
  <responseDeclaration identifier="RESPONSE" cardinality="single" baseType="identifier">
    <correctResponse><value>B</value></correctResponse>
  </responseDeclaration>
  <outcomeDeclaration identifier="SCORE" cardinality="single" baseType="float"/>
  <itemBody>
    <choiceInteraction responseIdentifier="RESPONSE" shuffle="false" maxChoices="1">
      <prompt>中国的首都是哪座城市？</prompt>
      <simpleChoice identifier="A">上海</simpleChoice>
      <simpleChoice identifier="B">北京</simpleChoice>
      <simpleChoice identifier="C">广州</simpleChoice>
    </choiceInteraction>
  </itemBody>
</assessmentItem>
"""
CEVAL = "id,question,A,B,C,D,answer,explanation\r\n" + "".join(
    f"{n},下列说法正确的是第{n}项,甲说法,乙说法,丙说法,丁说法,B,乙说法正确\r\n" for n in range(3)
)
TABLE_ROWS = [
    ZH_HEADER,
    ["一加一等于几？", "单选题", "B", "一加一得二", "一", "二", "三", "四", "2"],
    ["地球是圆的", "判断题", "对", "", "", "", "", "", "1"],
    ["中国的首都是_____", "填空题", "北京/北京市", "", "", "", "", "", "2"],
]
GIFT = """// 数学题
::一::一加一等于几？{=二 ~三 ~四}

::二::二加二等于几？{=四 ~三 ~五}

::三::三加三等于几？{=六 ~五 ~七}
"""
AIKEN = """一加一等于几？
A. 一
B. 二
C. 三
ANSWER: B

二加二等于几？
A. 三
B. 四
C. 五
ANSWER: B

三加三等于几？
A. 五
B. 六
C. 七
ANSWER: B
"""
MISSINGWORD = """一加一等于{=二 ~三 ~四}。

二加二等于{=四 ~三 ~五}。

三加三等于{=六 ~五 ~七}。
"""
PASTED = """1.一加一等于几？
A.一
B.二
C.三
[B][2分]
[解析]一加一得二。

2.二加二等于几？
A.三
B.四
C.五
[B][2分]

3.三加三等于几？
A.五
B.六
C.七
[B][2分]
"""


def table_csv(rows=TABLE_ROWS) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


# format name → (file name, text, number of questions); xlsx is built as a workbook below.
TEXT_FORMATS = {
    "quizsite-json": ("bank.json", NATIVE, 3),
    "alpaca": ("alpaca.json", ALPACA, 3),
    "gaokao-bench": ("2010-2022_Biology_MCQs.json", GAOKAO, 3),
    "jsonl-bank": ("test.jsonl", JSONL, 3),
    "moodle-xml": ("quiz.xml", MOODLE, 3),
    "qti21": ("item.xml", QTI, 1),
    "ceval-cmmlu": ("high_school_physics_dev.csv", CEVAL, 3),
    "csv": ("table.csv", table_csv(), 3),
    "gift": ("quiz.gift", GIFT, 3),
    "aiken": ("quiz.aiken", AIKEN, 3),
    "missingword": ("words.txt", MISSINGWORD, 3),
    "pasted-text": ("pasted.txt", PASTED, 3),
}
JSON_FORMATS = {"quizsite-json", "alpaca", "gaokao-bench", "jsonl-bank"}
XML_FORMATS = {"moodle-xml", "qti21"}


def write(tmp_path: Path, name: str, data: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def write_xlsx(path: Path, rows) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def import_refused(path: Path, *, fmt: str = "", subject: str = "默认") -> list[RowError]:
    """The errors of an import that must be refused; checks that nothing was written."""
    before = Question.objects.count()
    with pytest.raises(BankImportError) as caught:
        bank_import_file(path=path, fmt=fmt, subject=subject)
    assert Question.objects.count() == before
    errors = caught.value.errors
    assert errors and all(error.file == path.name for error in errors), errors
    assert path.name in str(caught.value)
    return errors


def test_every_format_has_a_sample_here():
    assert {fmt.name for fmt in formats()} == {*TEXT_FORMATS, "xlsx"}


@pytest.mark.parametrize("fmt", sorted(TEXT_FORMATS))
def test_each_sample_imports_as_utf8(tmp_path, fmt):
    name, text, count = TEXT_FORMATS[fmt]
    path = write(tmp_path, name, text)
    if fmt != "missingword":  # never sniffed: GIFT reads the same files
        assert detect_format(path).name == fmt
    assert bank_import_file(path=path, fmt=fmt, subject="默认").created == count


# --- hostile XML -------------------------------------------------------------------------------------

LAUGHS = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
HOSTILE_DTDS = {
    "billion-laughs": (f'<!DOCTYPE {{root}} [<!ENTITY lol0 "lol">{LAUGHS}]>', "&lol9;", "entity declaration"),
    "file-entity": ('<!DOCTYPE {root} [<!ENTITY secret SYSTEM "file:///etc/passwd">]>', "&secret;", "file:///etc/"),
    "http-entity": (
        '<!DOCTYPE {root} [<!ENTITY remote SYSTEM "http://127.0.0.1:{port}/x">]>',
        "&remote;",
        "http://127.0.0.1",
    ),
    "parameter-entity": (
        '<!DOCTYPE {root} [<!ENTITY % remote SYSTEM "http://127.0.0.1:{port}/p.dtd"> %remote;]>',
        "",
        "unsafe XML",
    ),
    "external-dtd": ('<!DOCTYPE {root} SYSTEM "http://127.0.0.1:{port}/quiz.dtd">', "", "unsafe XML"),
}


@pytest.fixture
def listener():
    """A loopback HTTP server that records every request: an XML parser must never call it."""
    import http.server
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"LEAKED")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], hits
    server.shutdown()
    server.server_close()


def hostile_xml(fmt: str, attack: str, port: int) -> str:
    dtd, reference, _ = HOSTILE_DTDS[attack]
    root = "quiz" if fmt == "moodle-xml" else "assessmentItem"
    document = TEXT_FORMATS[fmt][1].split("\n", 1)[1]  # without the XML declaration
    if reference:
        target = "数学" if fmt == "moodle-xml" else "中国的首都是哪座城市？"
        document = document.replace(target, target + reference, 1)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + dtd.format(root=root, port=port) + "\n" + document


@pytest.mark.parametrize("attack", sorted(HOSTILE_DTDS))
@pytest.mark.parametrize("fmt", sorted(XML_FORMATS))
def test_hostile_xml_is_refused_without_expanding_or_fetching(tmp_path, listener, fmt, attack):
    port, hits = listener
    path = write(tmp_path, f"evil-{attack}.xml", hostile_xml(fmt, attack, port))
    started = time.monotonic()
    tracemalloc.start()
    try:
        errors = import_refused(path, fmt=fmt)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 5 and peak < 20 * 1024 * 1024
    (error,) = errors
    assert error.field == "(xml)" and error.message.startswith("unsafe XML:"), error
    assert HOSTILE_DTDS[attack][2] in error.message
    assert "lollol" not in str(error) and "root:" not in str(error) and "LEAKED" not in str(error)
    assert hits == []
    # auto-detection reads the same file the same way
    assert detect_format(path).name == fmt
    assert import_refused(path) == errors


def test_hostile_xml_through_the_upload_api_fails_the_job_with_the_reason(teacher_api, listener):
    port, hits = listener
    upload = SimpleUploadedFile("evil.xml", hostile_xml("moodle-xml", "http-entity", port).encode())
    response = teacher_api.post(reverse("api-v1-imports"), {"file": upload}, format="multipart")
    body = response.json()
    assert response.status_code == 201 and body["status"] == "failed"
    (error,) = body["report"]["errors"]
    assert error["source"] == "evil.xml" and error["message"].startswith("unsafe XML: external entity")
    assert Question.objects.count() == 0 and hits == []


# --- xlsx: decompression bombs and formulas ----------------------------------------------------------

WORKBOOK_XML = (
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>'
)


def bomb(path: Path, *, megabytes: int, members: int = 1, header: bool = False) -> Path:
    """A small zip whose worksheet XML unpacks to `megabytes` MB of one repeated row (streamed in)."""
    row = (
        '<row><c t="inlineStr"><is><t>一加一等于几？</t></is></c><c t="inlineStr"><is><t>简答题</t></is></c>'
        '<c t="inlineStr"><is><t>二</t></is></c></row>'
    ).encode()
    chunk = row * (1024 * 1024 // len(row) + 1)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", WORKBOOK_XML)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        for index in range(members):
            name = "xl/worksheets/sheet1.xml" if index == 0 else f"xl/worksheets/sheet{index + 1}.xml"
            with archive.open(name, "w", force_zip64=True) as member:
                member.write(
                    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                )
                if header:
                    member.write(
                        '<row><c t="inlineStr"><is><t>题目</t></is></c><c t="inlineStr"><is><t>类型</t></is></c>'
                        '<c t="inlineStr"><is><t>答案</t></is></c></row>'.encode()
                    )
                for _ in range(megabytes):
                    member.write(chunk[: 1024 * 1024])
                member.write(b"</sheetData></worksheet>")
    return path


@pytest.mark.parametrize(
    ("megabytes", "members", "expected"),
    [(300, 1, "would unpack to"), (40, 1, "decompression bomb"), (30, 10, "would unpack to")],
    ids=["300MB-sheet", "40MB-sheet", "ten-30MB-sheets"],
)
def test_an_xlsx_decompression_bomb_is_refused_quickly_in_bounded_memory(tmp_path, megabytes, members, expected):
    path = bomb(tmp_path / "bomb.xlsx", megabytes=megabytes, members=members)
    assert path.stat().st_size < 5 * 1024 * 1024
    started = time.monotonic()
    tracemalloc.start()
    try:
        errors = import_refused(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2, "the archive's directory is enough to refuse it"
    assert peak < 10 * 1024 * 1024
    (error,) = errors
    assert error.field == "(file)" and expected in error.message


def test_an_xlsx_that_lies_about_its_sizes_is_still_bounded(tmp_path):
    """A zip whose directory claims 1 MB for a member that really unpacks to 30 MB passes the size
    checks, but zipfile stops at the declared size: the reader sees 1 MB and the XML ends early."""
    path = bomb(tmp_path / "liar.xlsx", megabytes=30, header=True)
    data = bytearray(path.read_bytes())
    name = b"xl/worksheets/sheet1.xml"
    entry = data.find(b"PK\x01\x02")  # the central directory's entries
    while data[entry + 46 : entry + 46 + struct.unpack_from("<H", data, entry + 28)[0]] != name:
        entry = data.find(b"PK\x01\x02", entry + 4)
    struct.pack_into("<I", data, entry + 24, 1024 * 1024)  # the uncompressed size
    path.write_bytes(bytes(data))
    assert zipfile.ZipFile(path).getinfo(name.decode()).file_size == 1024 * 1024
    started = time.monotonic()
    tracemalloc.start()
    try:
        items = list(iter_file(path, subject="默认"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 30 and peak < 50 * 1024 * 1024
    assert isinstance(items[-1], RowError) and items[-1].field == "(file)", items[-1]
    assert len(items) < 10_000  # about 1 MB of rows, not 30
    assert import_refused(path)[-1].file == "liar.xlsx"


FORMULAS = ['=HYPERLINK("http://evil.example/","x")', "+cmd|' /C calc'!A0", "-1+1", "@SUM(1)"]


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_formulas_in_cells_are_stored_as_text(tmp_path, kind):
    rows = [ZH_HEADER[:4]] + [[f"{formula} 是什么？", "简答题", formula, formula] for formula in FORMULAS]
    if kind == "xlsx":
        path = write_xlsx(tmp_path / "formulas.xlsx", rows)
    else:
        path = write(tmp_path, "formulas.csv", table_csv(rows))
    assert bank_import_file(path=path, subject="默认").created == len(FORMULAS)
    stored = {question.answer: question for question in Question.objects.all()}
    assert sorted(stored) == sorted(FORMULAS)
    for formula in FORMULAS:
        assert stored[formula].stem == f"{formula} 是什么？" and stored[formula].explanation == formula


def test_an_xlsx_formula_cell_gives_its_formula_never_a_cached_value(tmp_path):
    path = tmp_path / "cached.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(ZH_HEADER[:3])
    workbook.active.append(["一加一？", "简答题", '=HYPERLINK("http://evil.example/","二")'])
    workbook.save(path)
    (record,) = [item for item in iter_file(path, subject="默认")]
    assert record.answer == '=HYPERLINK("http://evil.example/","二")'


def dangerous(text) -> bool:
    return isinstance(text, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r")


def test_the_xlsx_bank_export_neutralises_formula_cells_and_reads_back(tmp_path):
    rows = [ZH_HEADER[:4]] + [[f"{formula}", "简答题", formula, f"\t{formula}"] for formula in FORMULAS]
    bank_import_file(path=write(tmp_path, "formulas.csv", table_csv(rows)), subject="默认")
    out = tmp_path / "export.xlsx"
    assert xlsx_export(Question.objects.all(), out) == len(FORMULAS)
    workbook = openpyxl.load_workbook(out)
    cells = [cell for row in workbook.active.iter_rows() for cell in row if cell.value is not None]
    assert not [cell.value for cell in cells if dangerous(cell.value) or cell.data_type == "f"]
    assert sum(1 for cell in cells if str(cell.value).startswith("'=")) >= 2
    # and the file reads back to the same questions (the `'` is dropped again)
    assert bank_import_file(path=out, subject="默认").duplicates == len(FORMULAS)


def test_results_csv_neutralises_formula_cells(client, carol, django_user_model):
    question = Question.objects.create(
        subject=_subject(), qtype=QuestionType.TRUE_FALSE, stem="对吗？", answer="true", content_hash="x"
    )
    paper = paper_create(title='=HYPERLINK("http://evil.example/","x")', questions=[question])
    from quizbank.services import session_start

    for name in ("+cmd", "-1+1", "@SUM"):
        session_start(user=django_user_model.objects.create_user(name, password="p-123456789"), paper=paper)
    client.force_login(carol)
    response = client.get(reverse("teacher-paper-csv", args=[paper.pk]))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 4
    assert not [cell for row in rows for cell in row if dangerous(cell)]
    assert {row[1] for row in rows[1:]} == {"'+cmd", "'-1+1", "'@SUM"}
    assert rows[1][0] == "'" + paper.title


def _subject():
    from quizbank.services import subject_get_or_create

    return subject_get_or_create(path="数学")


# --- uploads over the limit --------------------------------------------------------------------------


@pytest.fixture
def teacher_api(carol) -> APIClient:
    api = APIClient()
    api.force_authenticate(carol)
    return api


FIFTY_MB = 50 * 1024 * 1024


def test_a_50mb_upload_to_the_api_is_refused_with_a_clear_error(teacher_api, tmp_path, settings):
    settings.IMPORT_ROOT = tmp_path / "imports"
    upload = SimpleUploadedFile("huge.json", b"[" + b" " * (FIFTY_MB - 2) + b"]")
    response = teacher_api.post(reverse("api-v1-imports"), {"file": upload}, format="multipart")
    assert response.status_code in (400, 413)
    message = response.json()["message"]
    assert "huge.json" in message and "50 MB" in message and "limit" in message
    assert ImportJob.objects.count() == 0 and not settings.IMPORT_ROOT.exists()


def test_a_50mb_upload_to_the_page_is_refused_with_a_clear_error(client, carol, tmp_path, settings):
    settings.IMPORT_ROOT = tmp_path / "imports"
    client.force_login(carol)
    upload = SimpleUploadedFile("huge.csv", b"a" * FIFTY_MB)
    response = client.post(reverse("bank-import"), {"file": upload})
    assert response.status_code in (200, 400, 413)
    page = response.content.decode()
    assert "huge.csv" in page and "50 MB" in page
    assert ImportJob.objects.count() == 0 and not settings.IMPORT_ROOT.exists()


# --- encodings ---------------------------------------------------------------------------------------

ENCODINGS = {
    "gbk": lambda text: text.encode("gbk"),
    "utf-8-bom": lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
    "utf-16-le-bom": lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
    "utf-16-be-bom": lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    "utf-16-le": lambda text: text.encode("utf-16-le"),
}


def _encodable(fmt: str, encoding: str) -> str:
    name, text, _ = TEXT_FORMATS[fmt]
    if fmt in XML_FORMATS:  # the declaration must say what the bytes are
        declared = {"gbk": "GBK", "utf-8-bom": "UTF-8"}.get(encoding, "UTF-16")
        text = text.replace('encoding="UTF-8"', f'encoding="{declared}"')
    return text


# Every text format decodes every one of these (JSON too, though its standard says UTF-8/16/32).
REFUSED_ENCODINGS: set[tuple[str, str]] = set()


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("fmt", sorted(TEXT_FORMATS))
def test_other_encodings_import_correctly_or_are_refused_never_as_mojibake(tmp_path, fmt, encoding):
    name, original, count = TEXT_FORMATS[fmt]
    expected_stems = sorted(
        record.stem for record in parse_file(write(tmp_path, name, original), fmt=fmt, subject="默认")
    )
    encoded = tmp_path / "encoded"
    encoded.mkdir()
    path = write(encoded, name, ENCODINGS[encoding](_encodable(fmt, encoding)))
    try:
        report = bank_import_file(path=path, fmt=fmt, subject="默认")
    except BankImportError as exc:
        outcome = "refused"
        assert Question.objects.count() == 0
        assert all(error.file == name for error in exc.errors) and name in str(exc)
        assert [error.field for error in exc.errors] == ["(file)"], str(exc)
    else:
        outcome = "imported"
        assert report.created == count
        assert sorted(Question.objects.values_list("stem", flat=True)) == expected_stems
    assert outcome == ("refused" if (fmt, encoding) in REFUSED_ENCODINGS else "imported")


# --- truncated files ---------------------------------------------------------------------------------


def _cut(data: bytes) -> bytes:
    """The first half of a file, cut inside a multi-byte character where there is one."""
    middle = len(data) // 2
    for position in range(middle, len(data)):
        if data[position] >= 0x80 and data[position + 1] >= 0x80 and data[position + 1] < 0xC0:
            return data[: position + 1]
    return data[:middle]


@pytest.mark.parametrize("fmt", sorted(TEXT_FORMATS))
def test_a_truncated_file_is_refused_with_where_it_breaks_and_nothing_is_written(tmp_path, fmt):
    name, text, _ = TEXT_FORMATS[fmt]
    bank_import_file(path=write(tmp_path, "whole-" + name, text), fmt=fmt, subject="默认")
    before = Question.objects.count()
    path = write(tmp_path, name, _cut(text.encode("utf-8")))
    errors = import_refused(path, fmt=fmt)
    assert Question.objects.count() == before
    assert all(error.field for error in errors)


# where to cut each sample: just after this text, inside its second question
CUT_AFTER = {
    "quizsite-json": "二加二等于几？",
    "alpaca": "简述水循环",
    "gaokao-bench": "1．下列关于",
    "jsonl-bank": "小明有5",
    "moodle-xml": "判断3",
    "qti21": "北京",
    "ceval-cmmlu": "第1项,甲说法",
    "csv": "地球是圆的",
    "gift": "二加二等于几？{=四",
    "aiken": "二加二等于几？\nA. 三",
    "missingword": "二加二等于{=四",
    "pasted-text": "二加二等于几？\nA.三",
}


@pytest.mark.parametrize("fmt", sorted(TEXT_FORMATS))
def test_a_file_cut_inside_a_question_names_the_row_and_field(tmp_path, fmt):
    name, text, _ = TEXT_FORMATS[fmt]
    cut = text[: text.index(CUT_AFTER[fmt]) + len(CUT_AFTER[fmt])]
    errors = import_refused(write(tmp_path, name, cut), fmt=fmt)
    assert all(error.row is not None and error.field for error in errors), errors


@pytest.mark.parametrize("fmt", ["csv", "gift", "moodle-xml"])
def test_a_utf16_file_cut_inside_a_character_is_refused(tmp_path, fmt):
    name, text, _ = TEXT_FORMATS[fmt]
    data = ENCODINGS["utf-16-le-bom"](_encodable(fmt, "utf-16-le-bom"))
    (error,) = import_refused(write(tmp_path, name, data[: len(data) // 2 | 1]), fmt=fmt)
    assert error.field == "(file)" and "cut short" in error.message


@pytest.mark.parametrize("fmt", sorted(TEXT_FORMATS))
def test_a_file_cut_at_a_line_end_keeps_only_whole_questions(tmp_path, fmt):
    """Cut at a line end in the middle: a file cut between whole questions (CSV rows, GIFT paragraphs,
    JSON lines) cannot be told from a shorter file, but nothing of a half question is imported."""
    name, text, count = TEXT_FORMATS[fmt]
    lines = text.splitlines(keepends=True)
    path = write(tmp_path, name, "".join(lines[: len(lines) // 2]))
    try:
        report = bank_import_file(path=path, fmt=fmt, subject="默认")
    except BankImportError as exc:
        assert all(error.file == name for error in exc.errors)
        assert Question.objects.count() == 0
    else:  # a line-based format cut between whole questions holds those questions, complete
        assert 0 < report.created < count
        for question in Question.objects.all():
            assert question.stem and (question.answer or question.answer_data)


def test_a_truncated_xlsx_is_refused(tmp_path):
    path = write_xlsx(tmp_path / "table.xlsx", TABLE_ROWS)
    data = path.read_bytes()
    for size in (len(data) // 2, len(data) - 30):
        cut = write(tmp_path, f"cut-{size}.xlsx", data[:size])
        (error,) = import_refused(cut)
        assert error.field == "(file)" and ".xlsx" in error.message


def test_a_csv_cut_inside_a_quoted_cell_names_the_row(tmp_path):
    text = table_csv([*TABLE_ROWS, ["多行\n题干", "简答题", "答案"]])
    path = write(tmp_path, "quoted.csv", text[: text.index("多行") + 4])
    errors = import_refused(path, fmt="csv")
    assert any(error.row == 5 for error in errors), errors


# --- HTML and script ---------------------------------------------------------------------------------

XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script><a href="javascript:alert(1)">x</a>'


def test_html_in_imported_questions_is_sanitised_on_input(tmp_path):
    moodle = f"""<?xml version="1.0" encoding="UTF-8"?>
<quiz><question type="multichoice">
  <name><text>x</text></name>
  <questiontext format="html"><text><![CDATA[<p>题干</p>{XSS}]]></text></questiontext>
  <generalfeedback format="html"><text><![CDATA[{XSS}]]></text></generalfeedback>
  <single>true</single>
  <answer fraction="100" format="html"><text><![CDATA[对{XSS}]]></text><feedback><text><![CDATA[{XSS}]]></text></feedback></answer>
  <answer fraction="0" format="html"><text><![CDATA[错]]></text></answer>
</question></quiz>"""
    bank_import_file(path=write(tmp_path, "xss.xml", moodle), subject="默认")
    question = Question.objects.get()
    stored = json.dumps([question.stem, question.options, question.general_feedback, question.answer_data])
    for bad in ("<script", "onerror", "javascript:", "__pwned=1</"):
        assert bad not in stored, stored
    assert "<p>题干</p>" in question.stem


@pytest.mark.parametrize("fmt", ["csv", "quizsite-json", "gift", "pasted-text"])
def test_markup_in_plain_text_formats_is_kept_as_text_and_escaped_when_shown(tmp_path, fmt, client, alice):
    """Plain-text stems keep `<script>` as characters (a maths question may say `a<b`); what matters
    is that no page renders them as markup."""
    stem = f"危险题干 {XSS}"
    sources = {
        "csv": ("x.csv", table_csv([ZH_HEADER[:3], [stem, "简答题", "答"]])),
        "quizsite-json": (
            "x.json",
            json.dumps(
                {
                    "format": "quizsite-bank",
                    "version": 1,
                    "questions": [{"type": "short_answer", "stem": stem, "stem_format": "html", "answer": "答"}],
                }
            ),
        ),
        "gift": ("x.gift", "::t::" + stem.replace("=", "\\=").replace("{", "\\{") + "{=答}\n"),
        "pasted-text": ("x.txt", f"1.{stem}\n[答][主观题]\n"),
    }
    name, text = sources[fmt]
    bank_import_file(path=write(tmp_path, name, text), fmt=fmt, subject="默认")
    question = Question.objects.get()
    assert "危险题干" in question.stem
    if question.stem_format == "html":
        assert "<script" not in question.stem and "onerror" not in question.stem
    from quizbank.services import session_start

    paper = paper_create(title="试卷", questions=[question], review_answer="immediately")
    session = session_start(user=alice, paper=paper)
    client.force_login(alice)
    page = client.get(reverse("session-take", args=[session.pk])).content.decode()
    assert "危险题干" in page
    assert "<script>window.__pwned" not in page and "<img src=x onerror" not in page


def test_clean_record_strips_script_event_handlers_and_javascript_urls():
    from quizbank.importers.base import QuestionRecord

    record = QuestionRecord(
        subject="x",
        qtype=QuestionType.SINGLE_CHOICE,
        stem=XSS,
        stem_format="html",
        explanation=XSS,
        options=[{"key": "A", "text": XSS, "feedback": XSS}, {"key": "B", "text": "b"}],
        answer="A",
    )
    clean_record(record)
    for text in (record.stem, record.explanation, record.options[0]["text"], record.options[0]["feedback"]):
        assert "<script" not in text and "onerror" not in text and "javascript:" not in text


def test_questions_written_through_the_api_are_sanitised_too():
    from quizbank.services import question_create, question_update

    data = {"subject": "数学", "qtype": "essay", "stem": f"<p>题干</p>{XSS}", "stem_format": "html", "explanation": XSS}
    question = question_create(data=data)
    question = question_update(question=question, data={"stem": f"<b>改</b>{XSS}"})
    for text in (question.stem, question.explanation):
        assert "<script" not in text and "onerror" not in text and "javascript:" not in text
    assert "<b>改</b>" in question.stem


# --- very long answers -------------------------------------------------------------------------------

LONG_ANSWERS = {
    "1MB-ascii": ("a" * (1024 * 1024), 400),  # under the request size limit: refused by the answer limit
    "1M-chinese": ("长" * (1024 * 1024), 413),  # 3 MB of JSON: refused before it is parsed
    "1MB-list": (["a" * (512 * 1024)] * 2, 400),
}


@pytest.mark.parametrize("mode", ["exam", "practice"])
@pytest.mark.parametrize("case", sorted(LONG_ANSWERS))
def test_a_very_long_answer_is_refused_with_a_clear_error_never_a_500(alice, mode, case):
    from quizbank.models import Answer, PaperMode
    from quizbank.services import session_start

    question = Question.objects.create(
        subject=_subject(), qtype=QuestionType.ESSAY, stem="论述题", answer="", content_hash="essay", score=Decimal(5)
    )
    paper = paper_create(title="长答案", questions=[question], mode=PaperMode(mode))
    session = session_start(user=alice, paper=paper)
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(alice)
    url = reverse("api-v1-session-answer", args=[session.pk, session.items.get().position])
    response_value, status = LONG_ANSWERS[case]
    response = api.put(url, {"response": response_value}, format="json")
    assert response.status_code == status
    assert "too long" in response.json()["message"]
    assert not Answer.objects.filter(session=session).exists()
    # a long but reasonable essay is kept whole
    essay = "论述" * 5000
    assert api.put(url, {"response": essay}, format="json").status_code == 200
    assert Answer.objects.get(session=session).response_data == essay


def test_a_very_long_practice_answer_on_the_practice_page_is_refused_never_a_500(client, alice):
    from quizbank.models import Answer

    question = Question.objects.create(
        subject=_subject(), qtype=QuestionType.ESSAY, stem="论述题", answer="", content_hash="essay", score=Decimal(5)
    )
    client.force_login(alice)
    url = reverse("practice-question", args=[question.pk])
    response = client.post(url, {"response": "a" * (1024 * 1024)}, follow=True)
    assert response.status_code == 200 and "too long" in response.content.decode()
    client.raise_request_exception = False
    assert client.post(url, {"response": "长" * (1024 * 1024)}).status_code == 400  # over the request size limit
    assert not Answer.objects.exists()
