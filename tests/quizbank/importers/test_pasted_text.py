from decimal import Decimal

import pytest

from quizbank.importers import RowError, detect_format, iter_file, parse_file
from quizbank.importers.pasted_text import sniff
from quizbank.models import Question
from quizbank.services import bank_import
from tests.conftest import SHARED

pytestmark = pytest.mark.skipif(not (SHARED / "formats").is_dir(), reason="../shared/formats is absent")

XMKY = SHARED / "formats" / "chinese_systems" / "xmky_exam_txt_import_example.txt"


@pytest.fixture(scope="module")
def xmky():
    return parse_file(XMKY, subject="示例")


def test_the_example_is_recognised_and_every_question_read(xmky):
    assert detect_format(XMKY).name == "pasted-text"
    assert [(record.source_row, record.qtype) for record in xmky] == [
        (1, "single_choice"),
        (8, "multiple_choice"),
        (20, "short_answer"),
        (23, "fill_blank"),
        (32, "true_false"),
        (35, "true_false"),
        (40, "short_answer"),
        (43, "short_answer"),
    ]


def test_single_choice_with_every_option_mark(xmky):
    single = xmky[0]
    assert single.stem == "这是一道单选题的题干，简单写法"
    assert single.options == [
        {"key": "A", "text": "单选题的A选项"},
        {"key": "B", "text": "单选题的B选项"},
        {"key": "C", "text": "单选题的C选项"},
        {"key": "D", "text": "单选题的D选项"},
    ]
    assert (single.answer, single.score, single.partial_score, single.explanation) == ("B", 1, None, "")


def test_multiple_choice_with_score_partial_score_and_explanation(xmky):
    multi = xmky[1]
    assert multi.stem == "这是一道多选题的题干，可选写法，\n题干可换行。"
    assert [option["text"] for option in multi.options] == [
        "多选题的A选项，",
        "多选题的B选项",
        "多选题的C选项",
        "多选题的D选项",
    ]
    assert (multi.answer, multi.score, multi.partial_score) == ("AB", Decimal(3), Decimal(1))
    lines = multi.explanation.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("字母+点（句号|顿号）表示【选项】")
    assert lines[1].startswith("【题干】：1、允许换行") and lines[1].endswith("\\n```")
    assert lines[3] == "【解析】：试题解析，练习或考后查阅"


def test_subjective_fill_blank_is_a_short_answer_for_a_teacher(xmky):
    subjective = xmky[2]
    assert subjective.stem == "这是一道填空题_____，_____，简单写法"
    assert subjective.answer == "北京；上海"
    assert subjective.answer_data == {
        "answers": [{"text": "北京；上海", "fraction": 1.0, "feedback": ""}],
        "case_sensitive": True,
    }
    assert subjective.score == 2  # two blanks, 1 each by default


def test_fill_blank_with_synonyms_scores_and_flags(xmky):
    blank = xmky[3]
    assert blank.stem == "这是一道填空题________，____________，可选写法"
    assert blank.answer == "山西；老婆"
    assert blank.answer_data == {
        "blanks": [
            {"answers": ["山西", "山西省", "晋"], "score": 2},
            {"answers": ["老婆", "媳妇", "内人"], "score": 2},
        ],
        "order_free": True,
        "case_sensitive": False,
    }
    assert blank.score == 4
    assert blank.explanation.startswith("连续五个或五个以上的下划线，表示一个填空")
    # bracketed words inside an explanation stay explanation
    assert "[答案无顺序][不区分大小写]无效" in blank.explanation
    assert blank.explanation.endswith("如：[山西 山西省 晋][老婆 媳妇 内人]")
    assert len(blank.explanation.splitlines()) == 6


def test_true_false_with_a_word_or_a_tick(xmky):
    simple, scored = xmky[4], xmky[5]
    assert (simple.stem, simple.answer, simple.score) == ("这是一道判断题的题干，简单写法", "true", 1)
    assert (scored.answer, scored.score) == ("true", 2)
    assert (
        scored.explanation == "中括号内【文字】表示答案，可填“对错√×是否”\n中括号内【数字分】表示该题分数，不填默认1分"
    )


def test_question_and_answer_are_short_answers_with_multi_line_answers(xmky):
    simple, long = xmky[6], xmky[7]
    assert (simple.stem, simple.answer, simple.score) == ("这是一道问答题的题干，简单写法", "我是问答题的答案", 1)
    assert long.answer == "我是问答题的答案，\n可换行\n换行"
    assert long.answer_data["answers"][0]["text"] == long.answer
    assert long.score == 10
    assert long.explanation.splitlines()[-1] == "默认为主观题，需要人工阅卷"


@pytest.mark.django_db
def test_the_example_imports_into_the_bank():
    report = bank_import(paths=[XMKY], subject="示例")
    assert (report.created, report.errors) == (8, [])
    assert Question.objects.get(source_row=8).partial_score == 1


def test_false_answers_headings_and_questions_without_blank_lines(tmp_path):
    path = tmp_path / "paper.txt"
    path.write_text(
        "期中考试\n一、判断题\n1、地球是平的\n[错]\n2、水是湿的\n[×][2分]\n[解析]常识\n1、不是新题\n"
        "\n二、多选题\n3．质数有\nA、2\nB、3\nC、4\n[A B][4分]\n",
        encoding="utf-8",
    )
    records = parse_file(path, subject="x")
    assert [(r.source_row, r.qtype, r.answer) for r in records] == [
        (3, "true_false", "false"),
        (5, "true_false", "false"),
        (11, "multiple_choice", "AB"),
    ]
    assert records[1].explanation == "常识\n1、不是新题"
    assert records[2].partial_score == 2  # half the score by default


def test_each_broken_question_gives_one_error_with_its_line(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_text(
        "1.没有答案\nA.一\nB.二\n\n"
        "2.两个空_____和_____\n[北京 上海 广州]\n\n"
        "3.选项字母不对\nA.一\nB.二\n[E]\n\n"
        "4.括号没关\n[答案\n\n"
        "5.好题\n[对]\n",
        encoding="utf-8",
    )
    items = list(iter_file(path, fmt="pasted-text", subject="x"))
    errors = [item for item in items if isinstance(item, RowError)]
    assert [(error.row, error.field) for error in errors] == [
        (1, "answer"),
        (5, "answer"),
        (8, "answer"),
        (13, "answer"),
    ]
    assert "no answer line" in errors[0].message
    assert "2 blank(s)" in errors[1].message and "line 6" in errors[1].message
    assert "[E]" in errors[2].message
    assert "line 14: a '[' is not closed" in errors[3].message
    assert [item.stem for item in items if not isinstance(item, RowError)] == ["好题"]


def test_sniff_wants_numbered_stems_with_a_bracket_answer():
    assert sniff("1.题干\nA.一\nB.二\n[A]\n", "paste.txt")
    assert not sniff("Q?\nA. one\nB. two\nANSWER: A\n", "q.txt")
    assert not sniff("1. 第一章\n2. 第二章\n", "notes.txt")
