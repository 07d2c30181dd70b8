"""`import_questions FILE --map MAPPING.json`: layouts no importer knows, read through a mapping."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from quizbank.models import Question, QuestionType

pytestmark = pytest.mark.django_db

AGIEVAL_MAPPING = {
    "format": "jsonl",
    "fields": {
        "stem": "question",
        "options": {"path": "options", "strip_letter": True},
        "answer": {"path": "label", "as": "letters"},
        "explanation": "other.solution",
        "type": {"const": "single_choice"},
        "subject": {"const": "数学/SAT"},
        "source": {"const": "AGIEval"},
    },
}
AGIEVAL_ROWS = [
    {
        "passage": None,
        "question": "If 3x + 2 = 11, what is x?",
        "options": ["(A)1", "(B)2", "(C)3", "(D)4"],
        "label": "C",
        "other": {"solution": "3x = 9, so x = 3."},
    },
    {
        "passage": None,
        "question": "Which of the numbers is prime?",
        "options": ["(A) 4", "(B) 5", "(C) 6", "(D) 9"],
        "label": ["B"],
        "other": {"solution": "5 is prime."},
    },
]
TAL_MAPPING = {
    "format": "jsonl",
    "fields": {
        "stem": "problem",
        "options": {"path": "answer_option_list[*][0]", "key": "aoVal", "text": "content"},
        "answer": "answer_value",
        "explanation": "answer_analysis[0]",
        "type": {"path": "qtype", "map": {"单选": "single_choice", "多选": "multiple_choice"}},
        "difficulty": "difficulty",
        "knowledge_points": "knowledge_point_routes",
        "subject": {"const": "数学/TAL-SCQ5K"},
        "licence": {"const": "MIT"},
    },
}


def tal_row(problem, answer="C", **extra):
    options = [
        [{"aoVal": letter, "content": f"{value}"}] for letter, value in zip("ABCDE", (1, 2, 3, 4, 5), strict=True)
    ]
    return {
        "dataset_name": "prime_math_competition_en_single_choice_8K_dev",
        "qid": 1,
        "difficulty": "2",
        "qtype": "单选",
        "problem": problem,
        "answer_option_list": options,
        "knowledge_point_routes": ["Overseas Competition->Knowledge Point->Arithmetic"],
        "answer_analysis": [f"The answer is {answer}."],
        "answer_value": answer,
        **extra,
    }


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def write_mapping(tmp_path, mapping, name="mapping.json"):
    path = tmp_path / name
    path.write_text(json.dumps(mapping, ensure_ascii=False), encoding="utf-8")
    return path


def run_import(*args):
    """The command's --json report, and the CommandError it raised (or None)."""
    out = StringIO()
    try:
        call_command("import_questions", *map(str, args), "--json", stdout=out, stderr=StringIO())
    except CommandError as exc:
        return json.loads(out.getvalue().strip().splitlines()[-1]), exc
    return json.loads(out.getvalue().strip().splitlines()[-1]), None


def test_agieval_jsonl_imports_through_a_mapping(tmp_path):
    data = write_jsonl(tmp_path / "sat-math.jsonl", AGIEVAL_ROWS)
    report, error = run_import(data, "--map", write_mapping(tmp_path, AGIEVAL_MAPPING))
    assert error is None and (report["created"], report["duplicates"], report["skipped"], report["errors"]) == (
        2,
        0,
        0,
        [],
    )
    single = Question.objects.get(source_row=1)
    assert single.subject.path == "数学/SAT" and single.qtype == QuestionType.SINGLE_CHOICE
    assert [(o["key"], o["text"]) for o in single.options] == [("A", "1"), ("B", "2"), ("C", "3"), ("D", "4")]
    assert single.answer == "C" and single.explanation == "3x = 9, so x = 3."
    assert single.source_dataset == "AGIEval" and single.source_file == "sat-math.jsonl"
    several = Question.objects.get(source_row=2)
    assert several.answer == "B" and several.options[1]["text"] == "5"


def test_tal_scq5k_jsonl_imports_through_a_mapping(tmp_path):
    data = write_jsonl(tmp_path / "tal.jsonl", [tal_row("1 + 2 = ?"), tal_row("2 + 2 = ?", answer="D")])
    report, error = run_import(data, "--map", write_mapping(tmp_path, TAL_MAPPING))
    assert error is None and report["created"] == 2
    question = Question.objects.get(source_row=2)
    assert question.qtype == QuestionType.SINGLE_CHOICE and question.answer == "D"
    assert [o["text"] for o in question.options] == ["1", "2", "3", "4", "5"]
    assert question.explanation == "The answer is D." and question.difficulty == 2
    assert question.source_licence == "MIT" and question.subject.path == "数学/TAL-SCQ5K"
    assert list(question.knowledge_points.values_list("name", flat=True)) == [
        "Overseas Competition->Knowledge Point->Arithmetic"
    ]


def test_json_records_path_and_answer_index(tmp_path):
    data = tmp_path / "bank.json"
    items = [
        {"q": "Capital of France?", "choices": ["Paris", "Rome"], "correct": 0, "tags": ["geo"]},
        {"q": "Capital of Italy?", "choices": ["Paris", "Rome"], "correct": 1, "tags": ["geo"]},
    ]
    data.write_text(json.dumps({"data": {"items": items}}), encoding="utf-8")
    mapping = {
        "format": "json",
        "records": "data.items",
        "fields": {
            "stem": "q",
            "options": "choices",
            "answer": {"path": "correct", "as": "index"},
            "tags": "tags",
            "subject": {"const": "地理"},
        },
    }
    report, error = run_import(data, "--map", write_mapping(tmp_path, mapping))
    assert error is None and report["created"] == 2
    assert Question.objects.get(source_row=2).answer == "B"
    assert list(Question.objects.get(source_row=1).tags.values_list("name", flat=True)) == ["geo"]


def test_csv_with_other_column_names(tmp_path):
    data = tmp_path / "questions.csv"
    data.write_text(
        "Frage,Antwort 1,Antwort 2,Antwort 3,Richtig,Art,Erklärung\n"
        "Wie viel ist 2+2?,3,4,5,4,Einfach,Zwei plus zwei.\n"
        'Welche sind gerade?,2,3,4,"2|4",Mehrfach,\n'
        "Ist 7 eine Primzahl?,,,,ja,Wahr,\n",
        encoding="utf-8",
    )
    mapping = {
        "format": "csv",
        "fields": {
            "stem": "Frage",
            "options": {"path": ["Antwort 1", "Antwort 2", "Antwort 3"]},
            "answer": {"path": "Richtig", "as": "text", "split": "|"},
            "type": {
                "path": "Art",
                "map": {"Einfach": "single_choice", "Mehrfach": "multiple_choice", "Wahr": "true_false"},
            },
            "explanation": "Erklärung",
        },
    }
    # the true/false row has no options, so "as": "text" finds no option for "ja": reported by row
    report, error = run_import(data, "--map", write_mapping(tmp_path, mapping), "--subject", "Mathe")
    assert error is not None and report["created"] == 0 and Question.objects.count() == 0
    assert [(e["line"], e["field"]) for e in report["errors"]] == [(4, "answer")]
    assert "'ja' is not the text of any option" in report["errors"][0]["message"]
    assert "'Richtig'" in report["errors"][0]["message"]
    report, error = run_import(data, "--map", write_mapping(tmp_path, mapping), "--subject", "Mathe", "--skip-invalid")
    assert error is None and report["created"] == 2 and report["skipped"] == 1
    assert Question.objects.get(source_row=2).answer == "B"
    several = Question.objects.get(source_row=3)
    assert several.qtype == QuestionType.MULTIPLE_CHOICE and several.answer == "AC"
    assert several.subject.path == "Mathe"


def test_bad_rows_are_reported_by_line_and_nothing_is_written(tmp_path):
    rows = [
        tal_row("1 + 2 = ?"),
        tal_row("2 + 3 = ?", answer="F"),
        {"problem": "no options at all", "answer_value": "A", "qtype": "单选"},
        tal_row("2 + 2 = ?", qtype="奇怪"),
    ]
    data = write_jsonl(tmp_path / "tal.jsonl", rows)
    with data.open("a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    report, error = run_import(data, "--map", write_mapping(tmp_path, TAL_MAPPING))
    assert "nothing was written" in str(error) and Question.objects.count() == 0
    assert report["created"] == 0 and report["skipped"] == 4
    errors = {(e["line"], e["field"]): e["message"] for e in report["errors"]}
    assert set(errors) == {(2, "answer"), (3, "options"), (4, "type"), (5, "(json)")}
    assert "names option F" in errors[(2, "answer")] and "'answer_value'" in errors[(2, "answer")]
    assert "has no 'answer_option_list'" in errors[(3, "options")]
    assert all(e["source"] == "tal.jsonl" for e in report["errors"])


@pytest.mark.parametrize(
    ("mapping", "field", "words"),
    [
        ({"format": "yaml", "fields": {"stem": "q"}}, "format", "unknown format 'yaml'"),
        (
            {"format": "jsonl", "fields": {"stem": "q", "answer": {"path": "a", "as": "roman"}}},
            "fields.answer.as",
            "roman",
        ),
        (
            {"format": "jsonl", "fields": {"stem": "q", "answer": {"path": "a", "upper": True}}},
            "fields.answer.upper",
            "unknown transform",
        ),
        ({"format": "jsonl", "fields": {"stem": ["q"]}}, "fields.stem", "must be a path"),
        (
            {"format": "jsonl", "fields": {"stem": "q", "type": {"const": "riddle"}}},
            "fields.type",
            "not a question type",
        ),
        ({"format": "jsonl", "fields": {"stem": "q", "solution": "s"}}, "fields.solution", "unknown field"),
        ({"format": "jsonl", "fields": {"stem": "q", "explanation": "a..b"}}, "fields.explanation", "unexpected '.'"),
        ({"format": "jsonl", "records": "items", "fields": {"stem": "q"}}, "records", "json files only"),
        ({"format": "jsonl", "fields": {"type": {"const": "essay"}}}, "fields.stem", "question text"),
    ],
)
def test_an_invalid_mapping_is_refused_naming_the_field(tmp_path, mapping, field, words):
    data = write_jsonl(tmp_path / "tal.jsonl", [tal_row("1 + 2 = ?")])
    report, error = run_import(data, "--map", write_mapping(tmp_path, mapping, name="M.json"))
    assert error is not None and Question.objects.count() == 0
    [problem] = report["errors"]
    assert problem["source"] == "M.json" and problem["field"] == field and problem["line"] is None
    assert words in problem["message"]


def test_a_mapping_that_is_not_json_and_a_missing_column_are_refused(tmp_path):
    broken = tmp_path / "M.json"
    broken.write_text('{"format": "csv",', encoding="utf-8")
    data = tmp_path / "q.csv"
    data.write_text("Frage,Richtig\n1+1?,2\n", encoding="utf-8")
    report, error = run_import(data, "--map", broken)
    assert error is not None and report["errors"][0]["field"] == "(mapping)"
    assert "not valid JSON" in report["errors"][0]["message"]
    mapping = {"format": "csv", "fields": {"stem": "Question", "answer": "Richtig"}}
    report, error = run_import(data, "--map", write_mapping(tmp_path, mapping), "--subject", "数学")
    [problem] = report["errors"]
    assert (problem["line"], problem["field"]) == (1, "stem")
    assert "'Question'" in problem["message"] and "Frage, Richtig" in problem["message"]


def test_map_and_format_together_are_refused(tmp_path):
    data = write_jsonl(tmp_path / "sat.jsonl", AGIEVAL_ROWS)
    report, error = run_import(data, "--map", write_mapping(tmp_path, AGIEVAL_MAPPING), "--format", "jsonl-bank")
    assert error is not None and report["errors"][0]["field"] == "(format)"


def test_xlsx_with_options_in_one_cell(tmp_path):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Item", "Choices", "Key", "Level"])
    sheet.append(["Largest planet?", "A. Mars|B. Jupiter|C. Venus", "(B)", 3])
    sheet.append(["Smallest planet?", "A. Mercury|B. Jupiter", "A", "易"])
    workbook.save(tmp_path / "planets.xlsx")
    mapping = {
        "format": "xlsx",
        "fields": {
            "stem": "Item",
            "options": {"path": "Choices", "split": "|", "strip_letter": True},
            "answer": {"path": "Key", "as": "letters"},
            "difficulty": "Level",
            "subject": {"const": "科学/天文"},
        },
    }
    report, error = run_import(tmp_path / "planets.xlsx", "--map", write_mapping(tmp_path, mapping))
    assert error is None and report["created"] == 2
    largest = Question.objects.get(source_row=2)
    assert largest.answer == "B" and largest.options[1]["text"] == "Jupiter" and largest.difficulty == 3
    assert Question.objects.get(source_row=3).difficulty == 1


def test_a_wrong_mapping_fails_even_with_skip_invalid(tmp_path):
    data = write_jsonl(tmp_path / "sat.jsonl", AGIEVAL_ROWS)
    mapping = dict(AGIEVAL_MAPPING, format="jsonlines")
    report, error = run_import(data, "--map", write_mapping(tmp_path, mapping), "--skip-invalid")
    assert error is not None and report["errors"][0]["field"] == "format" and Question.objects.count() == 0


def test_option_letters_with_a_gap_are_reported(tmp_path):
    row = tal_row("1 + 2 = ?", answer="A")
    row["answer_option_list"] = [[{"aoVal": "A", "content": "3"}], [{"aoVal": "C", "content": "4"}]]
    data = write_jsonl(tmp_path / "tal.jsonl", [row])
    report, error = run_import(data, "--map", write_mapping(tmp_path, TAL_MAPPING))
    [problem] = report["errors"]
    assert problem["field"] == "options" and "A, C" in problem["message"] and "no gap" in problem["message"]


def test_a_file_in_the_other_json_format_is_told_so(tmp_path):
    pretty = tmp_path / "bank.jsonl"
    pretty.write_text(json.dumps({"items": AGIEVAL_ROWS}, indent=2), encoding="utf-8")
    report, error = run_import(pretty, "--map", write_mapping(tmp_path, AGIEVAL_MAPPING), "--skip-invalid")
    assert report["created"] == 0 and "format json" in report["errors"][0]["message"]
    lines = write_jsonl(tmp_path / "bank.json", AGIEVAL_ROWS)
    mapping = dict(AGIEVAL_MAPPING, format="json")
    report, error = run_import(lines, "--map", write_mapping(tmp_path, mapping))
    assert error is not None and "format jsonl" in report["errors"][0]["message"]
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps({"data": AGIEVAL_ROWS}), encoding="utf-8")
    report, error = run_import(nested, "--map", write_mapping(tmp_path, dict(mapping, records="items")))
    [problem] = report["errors"]
    assert problem["field"] == "records" and "the file has no 'items' (it has: data)" in problem["message"]
