"""The open question banks under ../shared/datasets import completely, quirks and all."""

import dataclasses
import json
import unicodedata
from decimal import Decimal
from pathlib import Path

import pytest

from quizbank.importers import (
    BankImportError,
    csv_banks,
    detect_format,
    gaokao_json,
    iter_file,
    jsonl_banks,
    parse_file,
)
from quizbank.importers.base import RowError
from quizbank.models import Question, QuestionType
from quizbank.normalize import record_hash
from quizbank.services import bank_import_file
from tests.conftest import SHARED

DATASETS = SHARED / "datasets"
pytestmark = pytest.mark.skipif(not (SHARED / "datasets").is_dir(), reason="../shared/datasets is absent")

MANIFEST_PATH = DATASETS / "MANIFEST.json"
MANIFEST = json.loads(MANIFEST_PATH.read_text(encoding="utf-8")) if MANIFEST_PATH.is_file() else []
NOT_DATA = {"MANIFEST.json", "README.md", "LICENSE", "LICENSE-DATA"}

# top folder → (format name, dataset, licence)
SOURCES = {
    "gaokao-bench": ("gaokao-bench", "GAOKAO-Bench", "Apache-2.0"),
    "ceval": ("ceval-cmmlu", "C-Eval", "CC BY-NC-SA 4.0"),
    "cmmlu": ("ceval-cmmlu", "CMMLU", "CC BY-NC-SA 4.0"),
    "aqua-rat": ("jsonl-bank", "AQuA-RAT", "Apache-2.0"),
    "gsm8k": ("jsonl-bank", "GSM8K", "MIT"),
}

GAOKAO = DATASETS / "gaokao-bench"
OBJECTIVE = GAOKAO / "Data" / "Objective_Questions"
SUBJECTIVE = GAOKAO / "Data" / "Subjective_Questions"
RESULTS = GAOKAO / "Results" / "gpt_4_0314_sub" / "gpt-4-1106-preview_correction_wo_marking_criterion"
CEVAL = DATASETS / "ceval"
CMMLU = DATASETS / "cmmlu" / "data"
AQUA = DATASETS / "aqua-rat" / "dev.json"
GSM8K = DATASETS / "gsm8k" / "grade_school_math" / "data" / "test.jsonl"


def records(path: Path) -> list:
    return parse_file(path)


def by_row(path: Path) -> dict:
    return {record.source_row: record for record in records(path)}


def items_and_errors(path: Path) -> tuple[list, list[RowError]]:
    items = list(iter_file(path))
    return [i for i in items if not isinstance(i, RowError)], [i for i in items if isinstance(i, RowError)]


# --- every file, auto-detected, with the count its source implies ---------------------------------


def test_the_manifest_lists_every_data_file():
    on_disk = {
        path.relative_to(DATASETS).as_posix()
        for path in DATASETS.rglob("*")
        if path.is_file() and path.name not in NOT_DATA
    }
    assert on_disk == {entry["dst"] for entry in MANIFEST}


@pytest.mark.parametrize("entry", MANIFEST, ids=[entry["dst"] for entry in MANIFEST])
def test_every_file_imports_whole_with_its_format_detected(entry):
    path = DATASETS / entry["dst"]
    fmt, dataset, licence = SOURCES[entry["dst"].split("/")[0]]
    assert detect_format(path).name == fmt
    found = records(path)  # raises BankImportError with every bad row
    # GAOKAO-Bench: one question per item, several sub-questions under one stem included.
    assert len(found) == entry["items"]
    assert {(record.source_dataset, record.source_licence) for record in found} == {(dataset, licence)}
    assert [record.source_row for record in found] == sorted({record.source_row for record in found})


def test_dataset_totals_match_the_readme():
    totals: dict[str, int] = {}
    for entry in MANIFEST:
        top = entry["dst"].split("/")[0]
        key = "gaokao-bench/Results" if entry["dst"].startswith("gaokao-bench/Results") else top
        totals[key] = totals.get(key, 0) + len(records(DATASETS / entry["dst"]))
    assert totals == {
        "gaokao-bench": 520,
        "gaokao-bench/Results": 60,
        "ceval": 384,
        "cmmlu": 325,
        "aqua-rat": 254,
        "gsm8k": 150,
    }


@pytest.mark.parametrize(
    ("name", "types"),
    [
        ("2010-2022_Math_I_MCQs.json", {QuestionType.SINGLE_CHOICE: 100}),
        ("2010-2022_Physics_MCQs.json", {QuestionType.SINGLE_CHOICE: 41, QuestionType.MULTIPLE_CHOICE: 23}),
        ("2010-2022_Chinese_Lang_and_Usage_MCQs.json", {QuestionType.SINGLE_CHOICE: 30}),
        ("2010-2022_Geography_MCQs.json", {QuestionType.CLOZE: 34}),
        ("2010-2013_English_MCQs.json", {QuestionType.SINGLE_CHOICE: 50}),
    ],
)
def test_gaokao_objective_files_give_the_types_their_answers_imply(name, types):
    found = records(OBJECTIVE / name)
    assert {qtype: sum(1 for r in found if r.qtype == qtype) for qtype in types} == types
    assert all(len(r.options) == 4 for r in found if r.qtype != QuestionType.CLOZE)


def test_gaokao_geography_sub_question_counts_follow_the_answer_lists():
    found = records(OBJECTIVE / "2010-2022_Geography_MCQs.json")
    sizes = [len(r.answer_data["subquestions"]) for r in found]
    assert (sizes.count(3), sizes.count(2)) == (27, 7)
    assert all(len(sub["options"]) == 4 for r in found for sub in r.answer_data["subquestions"])
    # the bench scores each sub-question: 27 × 3 × 4 + 7 × 2 × 4 = 380 points
    assert sum(r.score for r in found) == 380


# --- C-Eval ---------------------------------------------------------------------------------------


def test_ceval_crlf_file_with_quoted_multi_line_fields():
    path = CEVAL / "dev" / "high_school_physics_dev.csv"
    assert b"\r\n" in path.read_bytes()
    found = by_row(path)
    assert sorted(found) == [2, 3, 4, 5, 6]  # the header is record 1
    record = found[3]  # id 1, whose explanation spans two lines
    assert record.stem == "A、B 两物体的动量之比为 2:1，动能的大小之比为 1:3，则它们的质量之比为____"
    assert [o["text"] for o in record.options] == ["$2:1$", "$1:3$", "$2:3$", "$12:1$"]
    assert record.answer == "D" and record.qtype == QuestionType.SINGLE_CHOICE
    assert record.explanation.startswith("1. 物体动量$p=mv$")
    assert "。\n2. 因此，A、B质量之比" in record.explanation
    assert not any(
        "\r" in text for r in found.values() for text in [r.stem, r.explanation, *(o["text"] for o in r.options)]
    )
    assert record.subject == "C-Eval/高中物理"


def test_ceval_val_file_has_answers_but_no_explanations():
    found = records(CEVAL / "val" / "law_val.csv")
    assert len(found) == 24
    assert {r.explanation for r in found} == {""}
    assert {r.subject for r in found} == {"C-Eval/法学"}
    assert all(r.answer in "ABCD" for r in found)


# --- CMMLU ----------------------------------------------------------------------------------------


def test_cmmlu_header_with_an_empty_first_column_is_recognised():
    path = CMMLU / "dev" / "computer_science.csv"
    assert path.read_text(encoding="utf-8").startswith(",Question,A,B,C,D,Answer")
    assert detect_format(path).name == "ceval-cmmlu"
    found = by_row(path)
    assert {r.subject for r in found.values()} == {"CMMLU/计算机科学"}
    assert found[2].answer == "B" and found[2].explanation == ""


def test_cmmlu_kangxi_radicals_are_kept_and_hash_like_their_nfkc_form():
    record = by_row(CMMLU / "dev" / "computer_science.csv")[2]
    assert record.stem == "关系数据库中的数据逻辑结构是"
    assert [o["text"] for o in record.options] == ["树形结构", "\u2f06维表格", "层次结构", "\u2f79状结构"]
    normalised = dataclasses.replace(
        record, options=[dict(o, text=unicodedata.normalize("NFKC", o["text"])) for o in record.options]
    )
    assert normalised.options[1]["text"] == "二维表格"
    assert record_hash(normalised) == record_hash(record)
    other = dataclasses.replace(record, options=[*record.options[:3], {"key": "D", "text": "环状结构"}])
    assert record_hash(other) != record_hash(record)


def test_cmmlu_options_are_stripped_and_garbled_ones_kept_as_they_are():
    found = by_row(CMMLU / "test" / "high_school_mathematics.csv")
    assert [o["text"] for o in found[2].options] == ["{—1,0,1}", "{0,1,2}", "{0,1}", "{—1,0,1,2}"]
    assert found[19].options[3] == {"key": "D", "text": "(2,+?)"}  # "∞" lost upstream
    assert by_row(CMMLU / "dev" / "computer_science.csv")[3].options[0]["text"] == "ARP"


def test_cmmlu_empty_option_is_an_error_naming_row_and_column(tmp_path):
    path = tmp_path / "computer_science.csv"
    path.write_text(",Question,A,B,C,D,Answer\n0,问题一,甲,乙,丙,丁,A\n1,问题二,甲,乙, ,丁,B\n", encoding="utf-8")
    found, errors = items_and_errors(path)
    assert len(found) == 1
    assert [(e.row, e.field) for e in errors] == [(3, "C")]
    assert "item 3, field 'C'" in str(errors[0])


# --- GAOKAO-Bench objective -----------------------------------------------------------------------


def test_gaokao_single_choice_keeps_latex_verbatim():
    record = by_row(OBJECTIVE / "2010-2022_Math_I_MCQs.json")[1]
    assert record.qtype == QuestionType.SINGLE_CHOICE and record.answer == "D"
    assert record.stem == (
        r"1. （5 分) 已知集合 $A=\{x \in R|| x \mid \leqslant 2\}\}, B=\{x \in Z \mid \sqrt{x} \leqslant 4\}$, "
        r"则 $A \cap B=(\quad$ ）"
    )
    assert [o["text"] for o in record.options] == ["$(0,2)$", "$[0,2]$", r"$\{0,2\}$", r"$\{0,1,2\}$"]
    assert record.stem_format == "markdown"
    assert record.subject == "高考/数学" and record.score == 5 and record.difficulty is None


def test_gaokao_options_all_on_one_line_with_full_width_dots():
    record = by_row(OBJECTIVE / "2010-2022_Chinese_Lang_and_Usage_MCQs.json")[29]
    assert "\n" not in record.stem and record.stem.endswith("下列各句中，没有语病的一句是（ ）")
    assert [o["key"] for o in record.options] == ["A", "B", "C", "D"]
    assert record.options[2]["text"].startswith("首届跨境电商论坛近日在北京举行")
    assert record.options[3]["text"].endswith("昨日交出了首份答卷。")
    # emphasis dots ("浩．如．烟．海．") in the stem are not options
    emphasised = by_row(OBJECTIVE / "2010-2022_Chinese_Lang_and_Usage_MCQs.json")[28]
    assert "浩．如．烟．海．" in emphasised.stem
    assert [o["text"] for o in emphasised.options] == ["①②④", "①④⑤", "②③⑥", "③⑤⑥"]
    english = by_row(OBJECTIVE / "2010-2013_English_MCQs.json")[1]
    assert [o["text"] for o in english.options] == ["was doing", "would  do", "had done", "do"]


def test_gaokao_multi_select_answer_is_a_multiple_choice_question():
    record = by_row(OBJECTIVE / "2010-2022_Physics_MCQs.json")[4]
    assert record.qtype == QuestionType.MULTIPLE_CHOICE
    assert record.answer == "AC"
    assert record.score == 6 and record.partial_score == 3
    assert record.options[0]["text"] == "奥斯特发现了电流磁效应; 法拉第发现了电磁感应现象"


def test_gaokao_several_sub_questions_under_one_stem_are_one_cloze_question():
    record = by_row(OBJECTIVE / "2010-2022_Geography_MCQs.json")[1]
    assert record.qtype == QuestionType.CLOZE
    assert record.answer == "B；C"
    assert record.score == 8  # 4 points for each of the two sub-questions
    assert record.stem.startswith("日本某汽车公司在中国建有多个整车生产厂和零件生产厂")
    assert record.stem.endswith(
        "1．（4 分）该公司在中国建零部件生产厂，主要目的是（ ） {#1}\n"
        "2．（4 分）中国整车生产厂被迫减产是由于该公司在灾区有（ ） {#2}"
    )
    first, second = record.answer_data["subquestions"]
    assert first["type"] == second["type"] == "single_choice"
    assert first["answers"] == [{"text": "B", "fraction": 1.0}]
    assert first["options"][3] == {"key": "D", "text": "建立其全球整车生产的零部件工业基地", "fraction": 0.0}
    assert [(o["text"], o["fraction"]) for o in second["options"]] == [
        ("研发中心", 0.0),
        ("一般零部件厂", 0.0),
        ("核心零部件厂", 1.0),
        ("整车厂", 0.0),
    ]


def test_gaokao_sub_questions_all_on_one_line_and_an_ocr_slip_in_an_option_letter():
    found = by_row(OBJECTIVE / "2010-2022_Geography_MCQs.json")
    one_line = found[8]
    assert [[o["text"] for o in sub["options"]][0] for sub in one_line.answer_data["subquestions"]] == [
        "离原料产地较近",
        "原料价格",
        "原料使用量",
    ]
    assert "{#3}" in one_line.stem and one_line.stem.count("\n") == 2
    # "A.基础设施 B.商业氛围 C.科研实力 B.配套产业": the second "B." stands where "D." belongs
    slip = found[28].answer_data["subquestions"][1]
    assert [o["key"] + o["text"] for o in slip["options"]] == ["A基础设施", "B商业氛围", "C科研实力", "D配套产业"]
    assert slip["answers"] == [{"text": "D", "fraction": 1.0}]


def test_gaokao_empty_analysis_becomes_empty_explanation():
    assert by_row(OBJECTIVE / "2010-2022_Geography_MCQs.json")[28].explanation == ""
    dictation = records(SUBJECTIVE / "2010-2022_Chinese_Language_Famous_Passages_and_Sentences_Dictation.json")
    assert dictation[0].explanation == ""


def test_gaokao_trailing_page_heading_is_not_part_of_the_last_option():
    record = by_row(OBJECTIVE / "2010-2022_Math_I_MCQs.json")[83]
    assert record.options[3]["text"] == "12 个"


def gaokao_file(tmp_path, items, keywords="2010-2022_Biology_MCQs"):
    path = tmp_path / f"{keywords}.json"
    path.write_text(json.dumps({"keywords": keywords, "example": items}, ensure_ascii=False, indent=4), "utf-8")
    return path


def test_gaokao_fractional_score(tmp_path):
    item = {
        "year": "2015",
        "category": "（新课标）",
        "index": 0,
        "score": 1.5,
        "analysis": "\n",
        "answer": ["C"],
        "question": "1. (1.5 分) 细胞中含量最多的化合物是（ ）\nA. 蛋白质\nB. 糖类\nC. 水\nD. 脂质\n",
    }
    path = gaokao_file(tmp_path, [item])
    assert detect_format(path).name == "gaokao-bench"
    (record,) = records(path)
    assert record.score == Decimal("1.5")
    assert record.subject == "高考/生物"
    assert record.stem == "1. (1.5 分) 细胞中含量最多的化合物是（ ）"


def test_gaokao_item_without_findable_options_is_an_error_not_a_crash(tmp_path):
    good = {"index": 0, "score": 5, "analysis": "", "answer": ["A"], "question": "1+1=（ ）\nA. 2\nB. 3\n"}
    bad = {"index": 1, "score": 5, "analysis": "", "answer": ["B"], "question": "见图中的四个选项（图略）\n"}
    found, errors = items_and_errors(gaokao_file(tmp_path, [good, bad]))
    assert len(found) == 1
    assert [(e.row, e.field) for e in errors] == [(2, "question")]
    assert "item index 1" in errors[0].message
    with pytest.raises(BankImportError):
        parse_file(gaokao_file(tmp_path, [bad]))


def test_gaokao_one_option_list_for_several_blanks_is_shared(tmp_path):
    item = {
        "index": 0,
        "score": 2,
        "analysis": "",
        "answer": ["C", "A"],
        "question": "Passage ___1___ and ___2___.\nA. first\nB. second\nC. third\nD. fourth\nE. fifth\n",
    }
    (record,) = records(gaokao_file(tmp_path, [item], keywords="2010-2022_English_Fill_in_Blanks"))
    assert record.qtype == QuestionType.CLOZE and record.score == 4
    assert record.stem == "Passage ___1___ and ___2___.\n{#1} {#2}"
    first, second = record.answer_data["subquestions"]
    assert [o["key"] for o in first["options"]] == [o["key"] for o in second["options"]] == list("ABCDE")
    assert (first["answers"][0]["text"], second["answers"][0]["text"]) == ("C", "A")


def test_sniffers_leave_other_files_alone():
    assert not csv_banks.sniff("题干,A,B,C,D,答案\n1+1=?,1,2,3,4,B\n", "bank.csv")
    assert not gaokao_json.sniff('{"format": "quizsite-bank", "version": 1, "questions": []}', "bank.json")
    assert not jsonl_banks.sniff('{\n    "keywords": "2010-2022_Math_I_MCQs",\n', "Math.json")
    assert not jsonl_banks.sniff('{"question": "q", "answer": "no final line"}\n', "qa.jsonl")
    assert jsonl_banks.sniff(GSM8K.read_text(encoding="utf-8")[:65536], "test.jsonl")


# --- GAOKAO-Bench subjective and results ----------------------------------------------------------


def test_gaokao_fill_in_the_blank_is_short_answer_with_the_latex_reference():
    record = by_row(SUBJECTIVE / "2010-2022_Math_I_Fill-in-the-Blank.json")[3]
    assert record.qtype == QuestionType.SHORT_ANSWER
    assert record.answer == "$(x-3)^{2}+y^{2}=2$"
    assert record.answer_data["answers"] == [{"text": "$(x-3)^{2}+y^{2}=2$", "fraction": 1.0, "feedback": ""}]
    assert record.explanation.startswith("解：设圆的方程为 $(x-a)^{2}+(y-b)^{2}=r^{2}$")


def test_gaokao_open_ended_is_essay_with_reference_answer_and_analysis():
    record = by_row(SUBJECTIVE / "2010-2022_Physics_Open-ended_Questions.json")[1]
    assert record.qtype == QuestionType.ESSAY
    assert record.answer.startswith("$B$ 上升的最大高度是")
    assert record.explanation.startswith("解: 小球 $\\mathrm{A}$ 与地面的碰撞是弹性的")
    assert record.score == 18 and record.subject == "高考/物理"
    assert {r.qtype for r in records(SUBJECTIVE / "2010-2022_History_Open-ended_Questions.json")} == {"essay"}


def test_gaokao_dictation_and_error_correction():
    dictation = records(SUBJECTIVE / "2010-2022_Chinese_Language_Famous_Passages_and_Sentences_Dictation.json")
    assert {r.qtype for r in dictation} == {QuestionType.SHORT_ANSWER}
    assert dictation[0].answer.startswith("（1）金就砺则利")
    assert dictation[18].answer.startswith("(1).不过数仞而下")  # the "【答案】" label dropped
    correction = records(SUBJECTIVE / "2012-2022_English_Language_Error_Correction.json")
    assert {r.qtype for r in correction} == {QuestionType.ESSAY}
    assert correction[0].answer.splitlines()[:2] == ["little改为 less", "toy改为 toys"]
    assert correction[0].answer_data["grading_instructions"]
    assert correction[0].subject == "高考/英语"


def test_gaokao_results_files_keep_the_question_and_nothing_of_the_model_output():
    path = RESULTS / "gpt-4-0314_2010-2022_Math_I_Fill-in-the-Blank_wo_marking_criterion.json"
    raw = json.loads(path.read_text(encoding="utf-8"))["example"]
    found = records(path)
    assert len(found) == 40
    for record, item in zip(found, raw, strict=True):
        stored = json.dumps(dataclasses.asdict(record), ensure_ascii=False, default=str)
        assert item["model_output"].strip()[:40] not in stored
        assert item["model_correction"].strip()[:40] not in stored
        assert record.answer == item["standard_answer"].strip()
    data = records(SUBJECTIVE / "2010-2022_Math_I_Fill-in-the-Blank.json")
    assert [record_hash(r) for r in found] == [record_hash(r) for r in data[:40]]


# --- AQuA-RAT and GSM8K ---------------------------------------------------------------------------


def test_aqua_rat_json_lines_with_lettered_options():
    assert detect_format(AQUA).name == "jsonl-bank"  # JSON Lines despite .json
    record = by_row(AQUA)[1]
    assert record.qtype == QuestionType.SINGLE_CHOICE
    assert record.options == [
        {"key": "A", "text": "32400"},
        {"key": "B", "text": "6000"},
        {"key": "C", "text": "600"},
        {"key": "D", "text": "60000"},
        {"key": "E", "text": "10"},
    ]
    assert record.answer == "A"
    assert record.explanation.startswith("To calculate the equivalent of miles in a kilometer")
    assert record.explanation.endswith("Correct answer - A")
    assert record.subject == "AQuA-RAT/algebra"


def test_gsm8k_final_number_is_a_numerical_answer_and_annotations_are_removed():
    found = by_row(GSM8K)
    record = found[1]
    assert record.qtype == QuestionType.NUMERICAL
    assert record.answer == "18"
    assert record.answer_data["answers"][0]["value"] == 18
    assert record.answer_data["answers"][0]["tolerance"] == 0
    assert record.explanation == (
        "Janet sells 16 - 3 - 4 = 9 duck eggs a day.\nShe makes 9 * 2 = $18 every day at the farmer\u2019s market."
    )
    assert not any("<<" in r.explanation or "####" in r.explanation for r in found.values())
    assert found[147].answer == "2125"  # "#### 2,125"
    assert found[147].answer_data["answers"][0]["value"] == 2125


def test_json_lines_bad_line_is_an_error_with_its_line_number(tmp_path):
    good = json.dumps({"question": "2+2?", "answer": "2+2=<<2+2=4>>4\n#### 4"})
    path = tmp_path / "test.jsonl"
    path.write_text(f"{good}\n{{not json\n\n{good}\n", encoding="utf-8")
    found, errors = items_and_errors(path)
    assert [r.source_row for r in found] == [1, 4]
    assert [(e.row, e.field) for e in errors] == [(2, "(json)")]


# --- licences, in the database --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "dataset", "licence", "non_commercial"),
    [
        (CEVAL / "val" / "logic_val.csv", "C-Eval", "CC BY-NC-SA 4.0", True),
        (CMMLU / "test" / "chinese_driving_rule.csv", "CMMLU", "CC BY-NC-SA 4.0", True),
        (OBJECTIVE / "2010-2022_Physics_MCQs.json", "GAOKAO-Bench", "Apache-2.0", False),
        (AQUA, "AQuA-RAT", "Apache-2.0", False),
        (GSM8K, "GSM8K", "MIT", False),
    ],
    ids=["ceval", "cmmlu", "gaokao", "aqua-rat", "gsm8k"],
)
def test_licences_are_recorded_and_nc_data_is_marked_non_commercial(path, dataset, licence, non_commercial):
    report = bank_import_file(path=path)
    assert report.created > 0 and report.created + report.duplicates == len(records(path))
    questions = list(Question.objects.all())
    assert {(q.source_dataset, q.source_licence, q.is_non_commercial) for q in questions} == {
        (dataset, licence, non_commercial)
    }


@pytest.mark.django_db
def test_results_files_repeat_data_questions_and_the_bank_reports_duplicates():
    data = bank_import_file(path=SUBJECTIVE / "2010-2022_Math_I_Fill-in-the-Blank.json")
    results = bank_import_file(path=RESULTS / "gpt-4-0314_2010-2022_Math_I_Fill-in-the-Blank_wo_marking_criterion.json")
    assert data.created == 81
    assert (results.created, results.duplicates) == (0, 40)


@pytest.mark.django_db
def test_geography_cloze_questions_are_stored_with_their_sub_questions():
    bank_import_file(path=OBJECTIVE / "2010-2022_Geography_MCQs.json")
    question = Question.objects.get(source_row=1)
    assert question.qtype == QuestionType.CLOZE
    assert question.score == 8
    assert len(question.answer_data["subquestions"]) == 2
    assert question.subject.path == "高考/地理"
