import json

import pytest
from django.core.management import call_command

from quizbank.importers import BankImportError
from quizbank.models import Question, Subject
from quizbank.services import bank_import_file
from tests.conftest import DEMO_BANK

pytestmark = pytest.mark.django_db


def write_bank(tmp_path, questions, **extra):
    path = tmp_path / "bank.json"
    bank = {"format": "quizsite-bank", "version": 1, "subject": "数学", "questions": questions, **extra}
    path.write_text(json.dumps(bank, ensure_ascii=False), encoding="utf-8")
    return path


GOOD = {"stem": "1 + 1 = ?", "options": ["1", "2", "3", "4"], "answer": "B", "explanation": "1 + 1 = 2。"}


def test_demo_bank_imports_with_subject_tree_and_source():
    report = bank_import_file(path=DEMO_BANK)
    assert report.created == 100 and report.duplicates == 0
    assert set(Subject.objects.values_list("path", flat=True)) >= {"数学", "数学/四则运算", "数学/几何"}
    question = Question.objects.get(source_row=1)
    assert question.source_file == "demo_bank.json"
    assert question.source_licence == "CC0-1.0"
    assert question.subject.parent.path == "数学"
    assert question.answer in question.option_keys


def test_reimport_skips_duplicates_by_normalised_content(tmp_path):
    bank_import_file(path=DEMO_BANK)
    # the same question with full-width characters and extra spaces is the same question
    same = dict(GOOD, stem="１ ＋ １  =  ?")
    first = bank_import_file(path=write_bank(tmp_path, [GOOD]))
    second = bank_import_file(path=write_bank(tmp_path, [same]))
    assert (first.created, second.created, second.duplicates) == (1, 0, 1)
    assert bank_import_file(path=DEMO_BANK).duplicates == 100


def test_every_bad_row_is_reported_with_file_row_and_field_and_nothing_is_written(tmp_path):
    bad = [
        GOOD,
        dict(GOOD, answer="E"),
        dict(GOOD, stem=""),
        dict(GOOD, options=["only one"]),
        dict(GOOD, difficulty=9),
    ]
    with pytest.raises(BankImportError) as caught:
        bank_import_file(path=write_bank(tmp_path, bad))
    found = {(error.row, error.field) for error in caught.value.errors}
    assert found == {(2, "answer"), (3, "stem"), (4, "options"), (5, "difficulty")}
    assert "bank.json, item 2, field 'answer'" in str(caught.value)
    assert Question.objects.count() == 0


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"format": "quizsite-bank",\n "questions": [', encoding="utf-8")
    with pytest.raises(BankImportError, match=r"broken.json.*invalid JSON.*line 2"):
        bank_import_file(path=path)


def test_export_dataset_writes_the_seed_record_shape(tmp_path):
    bank_import_file(path=DEMO_BANK)
    out = tmp_path / "out" / "data.json"
    call_command("export_dataset", "--format", "alpaca", "--out", str(out))
    raw = out.read_text(encoding="utf-8")
    assert "计算" in raw  # UTF-8, not \\u escapes
    records = json.loads(raw)
    assert len(records) == 100
    assert all(set(record) == {"instruction", "input", "output"} for record in records)
    first = Question.objects.order_by("id").first()
    assert first.stem in records[0]["input"]
    assert records[0]["output"].startswith(f"答案：{first.answer}\n解析：")


def test_alpaca_round_trip_restores_the_questions(tmp_path, django_db_blocker):
    bank_import_file(path=DEMO_BANK)
    out = tmp_path / "data.json"
    call_command("export_dataset", "--out", str(out))
    before = list(Question.objects.order_by("id").values_list("stem", "options", "answer", "explanation"))
    Question.objects.all().delete()
    report = bank_import_file(path=out, subject="数学/导入")
    assert report.created == 100
    after = list(Question.objects.order_by("id").values_list("stem", "options", "answer", "explanation"))
    assert after == before


def test_alpaca_records_that_are_not_choice_questions_become_short_answers(tmp_path):
    path = tmp_path / "seed.json"
    path.write_text(
        json.dumps(
            [
                {"instruction": "解释什么是质数。", "input": "", "output": "只能被 1 和它本身整除的大于 1 的整数。"},
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    bank_import_file(path=path, subject="数学")
    question = Question.objects.get()
    assert question.qtype == "short_answer"
    assert question.answer.startswith("只能被 1")


def test_alpaca_without_subject_goes_to_the_default_subject(tmp_path):
    path = tmp_path / "seed.json"
    path.write_text(json.dumps([{"instruction": "x", "input": "", "output": "y"}]), encoding="utf-8")
    report = bank_import_file(path=path)
    assert report.created == 1 and len(report.warnings) == 1
    assert Question.objects.get().subject.path == "未分类/seed"


def test_import_command_fails_loudly_on_a_bad_file(tmp_path):
    path = write_bank(tmp_path, [dict(GOOD, answer="Z")])
    with pytest.raises(Exception, match="nothing was written"):
        call_command("import_questions", str(path))


def test_demo_bank_matches_its_json_schema():
    import jsonschema

    schema = json.loads((DEMO_BANK.parent.parent / "quizbank" / "schemas" / "bank.schema.json").read_text())
    jsonschema.validate(json.loads(DEMO_BANK.read_text(encoding="utf-8")), schema)


def test_a_cloze_text_is_a_fill_in_the_blank_record_with_its_drop_down_choices():
    """Trained, explained and scored like a fill-in-the-blank question: numbered blanks, a drop-down
    gap's choices after the text, the key each gap's answer joined as blanks are."""
    from quizbank.prompts import FILL_BLANK_INSTRUCTION, instruction_record, parse_output

    cloze = {
        "qtype": "cloze",
        "stem": "水在 {#1} ℃ 结冰；冰是水的 {#2} 态。",
        "options": [],
        "explanation": "标准大气压下水的凝固点是 0 ℃；冰是固态的水。",
        "answer_data": {
            "subquestions": [
                {"type": "numerical", "weight": 1, "answers": [{"value": 0, "tolerance": 0, "fraction": 1.0}]},
                {
                    "type": "single_choice",
                    "weight": 1,
                    "options": [
                        {"key": k, "text": t, "fraction": float(t == "固")}
                        for k, t in zip("ABC", "固液气", strict=True)
                    ],
                },
            ]
        },
    }
    record = instruction_record(**cloze, answer="0；固")
    assert record is not None
    assert record["instruction"] == FILL_BLANK_INSTRUCTION
    assert record["input"] == "水在 （1）____ ℃ 结冰；冰是水的 （2）____ 态。\n第 2 空可选：固 / 液 / 气"
    parsed = parse_output(record["output"])
    assert (parsed.answer, parsed.explanation) == ("0；固", cloze["explanation"])
    assert instruction_record(**cloze, answer="") is None  # no key: nothing to learn or to check
    assert instruction_record(**{**cloze, "answer_data": {}}, answer="0；固") is None  # no gaps
