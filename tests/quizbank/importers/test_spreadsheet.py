import csv
import io
import os
import zipfile
from decimal import Decimal

import openpyxl
import pytest

from quizbank.exporters.xlsx import export
from quizbank.importers import BankImportError, RowError, detect_format, iter_file, parse_file
from quizbank.importers.table_cells import neutralise
from quizbank.importers.table_rows import row_to_record
from quizbank.models import Question
from quizbank.normalize import record_hash
from quizbank.services import bank_import
from quizbank.spreadsheet import build_template
from tests.conftest import SHARED

needs_shared = pytest.mark.skipif(not (SHARED / "formats").is_dir(), reason="../shared/formats is absent")

ZH = ["题目", "类型", "答案", "解析", "选项A", "选项B", "选项C", "选项D", "选项E", "选项F", "分值", "难度", "知识点"]
EN = [
    "stem",
    "type",
    "answer",
    "explanation",
    "option_a",
    "option_b",
    "option_c",
    "option_d",
    "option_e",
    "option_f",
    "score",
    "difficulty",
    "knowledge_points",
    "tags",
    "subject",
]
ZH_ROWS = [
    ["1 + 1 = ?", "单选题", "B", "一加一等于二", "1", "2", "3", "4", "", "", "2", "易", "加法"],
    ["下列是质数的有", "多选题", "A,C", "", "2", "4", "5", "", "", "", "4", "中", "质数；因数"],
    ["地球是圆的", "判断题", "√", "", "", "", "", "", "", "", "1", "1", ""],
    ["中国的首都是_____，最大的城市是_____", "填空题", "北京|上海/上海市", "", "", "", "", "", "", "", "2", "难", ""],
    ["简述光合作用", "简答题", "植物利用光能合成有机物", "", "", "", "", "", "", "", "5", "", ""],
    ["论述改革开放的意义", "论述题", "", "", "", "", "", "", "", "", "10", "较难", ""],
    ["分析材料", "分析题", "要点一", "", "", "", "", "", "", "", "8", "", ""],
    ["计算 3 × 7", "计算题", "21", "", "", "", "", "", "", "", "3", "", ""],
]
EN_ROWS = [
    ["What is 1 + 1?", "single", "B", "", "1", "2", "3", "", "", "", "2", "easy", "addition", "arith", "Maths/Basics"],
    ["Pick the even numbers", "multiple_choice", "AC", "", "2", "3", "4", "", "", "", "", "hard", "", "", ""],
    ["The sun is a star", "true_false", "true", "", "", "", "", "", "", "", "", "", "", "", ""],
    ["Capital of Italy: _____", "fill_blank", "Rome/Roma", "", "", "", "", "", "", "", "", "", "", "", ""],
    ["Pi to two places", "numerical", "3.14±0.01", "", "", "", "", "", "", "", "", "", "", "", ""],
    ["Describe a cell", "essay", "", "", "", "", "", "", "", "", "", "", "", "", ""],
]


def write_csv(path, rows, *, encoding="utf-8-sig", delimiter=","):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path, rows):
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    workbook.save(path)
    return path


def check_zh(records):
    assert [record.qtype for record in records] == [
        "single_choice",
        "multiple_choice",
        "true_false",
        "fill_blank",
        "short_answer",
        "essay",
        "essay",
        "essay",
    ]
    single, multi, judge, blank, short, essay, analysis, calculation = records
    assert single.options[1] == {"key": "B", "text": "2"} and single.answer == "B"
    assert (single.score, single.difficulty, single.knowledge_points, single.explanation) == (
        2,
        1,
        ["加法"],
        "一加一等于二",
    )
    assert (multi.answer, multi.difficulty, multi.knowledge_points) == ("AC", 3, ["质数", "因数"])
    assert judge.answer == "true"
    assert blank.answer == "北京；上海"
    assert blank.answer_data == {
        "blanks": [{"answers": ["北京"], "score": 1}, {"answers": ["上海", "上海市"], "score": 1}],
        "order_free": False,
        "case_sensitive": True,
    }
    assert blank.difficulty == 5
    assert short.answer_data["answers"][0]["text"] == "植物利用光能合成有机物"
    assert (essay.answer, essay.difficulty, essay.score) == ("", 4, 10)
    assert (analysis.answer, calculation.answer) == ("要点一", "21")
    assert [record.source_row for record in records] == list(range(2, 10))


def check_en(records):
    assert [record.qtype for record in records] == [
        "single_choice",
        "multiple_choice",
        "true_false",
        "fill_blank",
        "numerical",
        "essay",
    ]
    single, multi, judge, blank, number, _essay = records
    assert (single.subject, single.tags, single.knowledge_points, single.difficulty) == (
        "Maths/Basics",
        ["arith"],
        ["addition"],
        1,
    )
    assert multi.subject == "default" and multi.answer == "AC" and multi.difficulty == 5
    assert judge.answer == "true"
    assert blank.answer_data["blanks"] == [{"answers": ["Rome", "Roma"], "score": 1}]
    assert number.answer_data == {"answers": [{"value": 3.14, "tolerance": 0.01, "fraction": 1.0, "feedback": ""}]}


def test_csv_with_chinese_headers(tmp_path):
    path = write_csv(tmp_path / "bank.csv", [ZH, *ZH_ROWS])
    assert detect_format(path).name == "csv"
    check_zh(parse_file(path, subject="默认"))


def test_csv_with_english_headers(tmp_path):
    path = write_csv(tmp_path / "bank.csv", [EN, *EN_ROWS], encoding="utf-8")
    check_en(parse_file(path, subject="default"))


def test_xlsx_with_chinese_headers(tmp_path):
    path = write_xlsx(tmp_path / "bank.xlsx", [ZH, *ZH_ROWS])
    assert detect_format(path).name == "xlsx"
    check_zh(parse_file(path, subject="默认"))


def test_xlsx_with_english_headers_and_typed_cells(tmp_path):
    rows = [[2 if cell == "2" else cell for cell in row] for row in EN_ROWS]  # numbers as numbers
    rows[2][2] = True  # a boolean cell
    check_en(parse_file(write_xlsx(tmp_path / "bank.xlsx", [EN, *rows]), subject="default"))


@needs_shared
def test_examstack_template_row():
    path = SHARED / "formats" / "chinese_systems" / "examstack_question_template.csv"
    (record,) = parse_file(path, fmt="csv", subject="驾驶")
    text = "安全行车、文明驾驶基础知识"
    assert (record.qtype, record.stem, record.answer, record.source_row) == ("fill_blank", text, "5", 2)
    assert record.answer_data["blanks"] == [{"answers": ["5"], "score": 1}]
    assert record.explanation == text * 2
    assert record.knowledge_points == [text]  # 所属知识点 and 知识点
    assert record.tags == [text]  # 知识类 and 知识关键点
    assert record.source_dataset == text  # 出处
    assert record.score == 1 and record.difficulty is None


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_templates_reimport_their_example_rows(tmp_path, language):
    path = tmp_path / "template.xlsx"
    path.write_bytes(build_template(language))
    workbook = openpyxl.load_workbook(path)
    assert len(workbook.worksheets) == 2
    help_text = " ".join(str(cell) for row in workbook.worksheets[1].iter_rows(values_only=True) for cell in row)
    assert ("单选题" in help_text and "填空题" in help_text) if language == "zh" else "true_false" in help_text
    records = parse_file(path, subject="数学")
    expected = ["single_choice", "fill_blank"] if language == "zh" else ["single_choice", "true_false"]
    assert [record.qtype for record in records] == expected
    assert records[0].answer == "B" and records[0].score == 2


def test_a_bad_row_names_file_row_and_column(tmp_path):
    rows = [
        ZH,
        ZH_ROWS[0],
        ["1 + 2 = ?", "单选题", "E", "", "1", "2", "3", "", "", "", "", "", ""],
        ["1 + 3 = ?", "单选题", "A", "", "1", "", "4", "", "", "", "", "", ""],
        ["对吗", "判断题", "也许", "", "", "", "", "", "", "", "", "", ""],
        ["多少", "填空题", "1", "", "", "", "", "", "", "", "两分", "", ""],
        ["多难", "简答题", "很难", "", "", "", "", "", "", "", "", "超难", ""],
        ["什么题", "连线题", "A", "", "", "", "", "", "", "", "", "", ""],
        ["", "单选题", "A", "", "1", "2", "", "", "", "", "", "", ""],
    ]
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(BankImportError) as caught:
        parse_file(path, subject="数学")
    errors = caught.value.errors
    assert [(error.file, error.row, error.field) for error in errors] == [
        ("bad.csv", 3, "答案"),
        ("bad.csv", 4, "选项B"),
        ("bad.csv", 5, "答案"),
        ("bad.csv", 6, "分值"),
        ("bad.csv", 7, "难度"),
        ("bad.csv", 8, "类型"),
        ("bad.csv", 9, "题目"),
    ]
    assert "option E" in errors[0].message
    assert "选项B is empty but 选项C is filled" in errors[1].message
    assert "bad.csv, item 3, field '答案'" in str(caught.value)


def test_english_header_names_appear_in_errors_and_missing_subject_is_left_for_the_default(tmp_path):
    path = write_csv(
        tmp_path / "bad.csv", [EN, ["Q?", "single", "Z", "", "a", "b", "", "", "", "", "", "", "", "", ""]]
    )
    (error,) = list(iter_file(path, subject="x"))
    assert (error.row, error.field) == (2, "answer")
    record = row_to_record({"stem": "Q", "type": "essay"}, file_name="f.csv", row_number=2, subject="")
    assert not isinstance(record, RowError) and record.subject == ""
    error = row_to_record(
        {"stem": "Q", "type": "essay", "subject": "a//b"}, file_name="f.csv", row_number=2, subject=""
    )
    assert isinstance(error, RowError) and error.field == "subject"


def test_gbk_and_utf16_csv_read_correctly(tmp_path):
    gbk = write_csv(tmp_path / "gbk.csv", [ZH, *ZH_ROWS], encoding="gbk")
    check_zh(parse_file(gbk, subject="默认"))
    # Excel's "Unicode text": UTF-16 with a BOM, tab-separated
    utf16 = write_csv(tmp_path / "utf16.csv", [ZH, *ZH_ROWS], encoding="utf-16", delimiter="\t")
    check_zh(parse_file(utf16, subject="默认"))


def test_csv_rows_are_numbered_as_a_spreadsheet_shows_them(tmp_path):
    rows = [ZH, ["第一行\n第二行", "简答题", "答", *[""] * 10], ["坏", "单选题", "Z", "1", "2", *[""] * 8]]
    (good, bad) = list(iter_file(write_csv(tmp_path / "multi.csv", rows), subject="x"))
    assert good.stem == "第一行\n第二行" and good.source_row == 2
    assert isinstance(bad, RowError) and bad.row == 3


def test_a_formula_cell_is_read_as_its_text(tmp_path):
    formula = '=HYPERLINK("http://evil.example/","click")'
    path = write_xlsx(tmp_path / "formula.xlsx", [ZH[:3], [formula, "简答题", "=1+1"]])
    (record,) = parse_file(path, subject="x")
    assert record.stem == formula and record.answer == "=1+1"


def test_a_zip_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (50 * 1024 * 1024))
    assert path.stat().st_size < 1024 * 1024
    (error,) = list(iter_file(path, subject="x"))
    assert isinstance(error, RowError) and error.field == "(file)" and "decompression bomb" in error.message


def test_a_file_that_is_not_a_workbook_is_refused(tmp_path):
    path = tmp_path / "fake.xlsx"
    path.write_text("题目,类型\n", encoding="utf-8")
    (error,) = list(iter_file(path, subject="x"))
    assert "not an .xlsx workbook" in error.message
    old = tmp_path / "old.xlsx"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    assert ".xls" in next(iter_file(old, subject="x")).message


def test_export_then_import_gives_the_same_content(tmp_path):
    rows = [*ZH_ROWS, ["2 + 2 = ?", "数值题", "4", "", "", "", "", "", "", "", "1", "", ""]]
    records = parse_file(write_csv(tmp_path / "bank.csv", [ZH, *rows]), subject="默认")
    records += parse_file(write_csv(tmp_path / "en.csv", [EN, *EN_ROWS]), subject="default")
    records[0].stem = "=1+1 是多少？"  # must not become a formula
    records[1].options[0]["text"] = "@SUM(A1)"
    records[3].answer_data["blanks"][1]["answers"].append("a|b/c\\d")  # separators inside an answer
    records[3].answer_data["order_free"] = True
    records[3].answer_data["blanks"][0]["score"] = 1.5
    records[3].score = Decimal("2.5")
    out = tmp_path / "out" / "bank.xlsx"
    assert export(records, out) == len(records)

    sheet = openpyxl.load_workbook(out).worksheets[0]
    assert sheet["A2"].value == "'=1+1 是多少？" and sheet["A2"].data_type == "s"
    again = parse_file(out, subject="其他")
    assert [record_hash(record) for record in again] == [record_hash(record) for record in records]
    assert [(r.subject, r.score, r.difficulty, r.knowledge_points, r.tags) for r in again] == [
        (r.subject, r.score, r.difficulty, r.knowledge_points, r.tags) for r in records
    ]
    assert again[0].stem == "=1+1 是多少？"


ALL_FIELDS = (
    "qtype",
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
    "subject",
    "source_dataset",
)


@needs_shared
def test_every_shared_format_question_survives_the_xlsx_round_trip(tmp_path):
    records = [
        item
        for path in sorted((SHARED / "formats").rglob("*"))
        if path.is_file() and path.suffix != ".md"
        for item in iter_file(path, subject="交换")
        if not isinstance(item, RowError)
    ]
    assert {"matching", "cloze", "numerical", "essay", "short_answer"} <= {record.qtype for record in records}
    out = tmp_path / "all.xlsx"
    assert export(records, out) == len(records)
    again = parse_file(out)
    assert [record_hash(record) for record in again] == [record_hash(record) for record in records]
    for before, after in zip(records, again, strict=True):
        assert [getattr(after, name) for name in ALL_FIELDS] == [getattr(before, name) for name in ALL_FIELDS]


def test_grading_data_yields_to_edited_columns_and_is_needed_for_matching(tmp_path):
    headers = ["题目", "类型", "答案", "选项A", "选项B", "评分数据"]
    weights = '{"options": [{"key": "A", "fraction": 1.0, "feedback": "对了"}, {"key": "B", "fraction": 0}]}'
    path = write_csv(
        tmp_path / "graded.csv",
        [
            headers,
            ["甲", "单选题", "A", "x", "y", weights],
            ["乙", "单选题", "B", "x", "y", weights],  # the teacher changed the answer: the weights no longer apply
            ["丙", "匹配题", "", "", "", ""],
            ["丁", "简答题", "答", "", "", "{not json"],
        ],
    )
    first, second, matching, broken = list(iter_file(path, fmt="csv", subject="x"))
    assert first.options[0] == {"key": "A", "text": "x", "fraction": 1.0, "feedback": "对了"}
    assert second.answer == "B" and second.options[0] == {"key": "A", "text": "x"}
    assert (matching.row, matching.field) == (4, "类型")
    assert (broken.row, broken.field) == (5, "评分数据")


@needs_shared
@pytest.mark.django_db
def test_the_bank_exports_and_reimports_as_duplicates(tmp_path):
    xmky = SHARED / "formats" / "chinese_systems" / "xmky_exam_txt_import_example.txt"
    aiken = SHARED / "formats" / "moodle" / "aiken_questions.aiken.txt"
    first = bank_import(paths=[xmky, aiken, write_csv(tmp_path / "bank.csv", [ZH, *ZH_ROWS])], subject="示例")
    assert first.errors == [] and first.created == 18
    Question.objects.first().tags.create(name="期中")
    out = tmp_path / "bank.xlsx"
    assert export(Question.objects.order_by("id").iterator(), out) == 18
    again = bank_import(paths=[out], dry_run=True)
    assert (again.errors, again.created, again.duplicates) == ([], 0, 18)
    (first_row,) = parse_file(out)[:1]
    assert first_row.tags == ["期中"] and first_row.subject == "示例"


def test_neutralise_marks_only_formula_starts():
    assert [neutralise(text) for text in ("=1", "+1", "-1", "@x", "'=x", "1-2", "'x")] == [
        "'=1",
        "'+1",
        "'-1",
        "'@x",
        "''=x",
        "1-2",
        "'x",
    ]


def _resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc to watch memory")
def test_a_large_workbook_is_read_in_flat_memory(tmp_path):
    path = tmp_path / "large.xlsx"
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(ZH)
    for number in range(100_000):
        sheet.append([f"{number} + 1 = ?", "单选题", "B", "", str(number), str(number + 1), "", "", "", "", 1, 1, ""])
    workbook.save(path)
    count, resident = 0, []
    for item in iter_file(path, subject="x"):
        assert not isinstance(item, RowError)
        count += 1
        if count % 10_000 == 0:
            resident.append(_resident_bytes())
    assert count == 100_000
    # memory after 100,000 rows is within a few MB of memory after 10,000
    assert resident[-1] - resident[0] < 30 * 1024 * 1024
