"""Exact grading: every question type, every multiple-choice policy, and the edges students hit."""

import json
from decimal import Decimal

import pytest

from quizbank.grading import GradeResult, grade, parse_number
from quizbank.models import Question, QuestionType

D = Decimal


def question(qtype, *, options=None, answer="", answer_data=None, score="1", partial_score=None) -> Question:
    return Question(
        qtype=qtype,
        stem="…",
        options=options or [],
        answer=answer,
        answer_data=answer_data or {},
        score=D(score),
        partial_score=None if partial_score is None else D(partial_score),
    )


def choices(*fractions, keys="ABCD"):
    """Options A, B, ... with the given fractions (None: no fraction stored, as CSV imports leave them)."""
    options = []
    for key, fraction in zip(keys, fractions, strict=False):
        option = {"key": key, "text": f"option {key}"}
        if fraction is not None:
            option["fraction"] = fraction
        options.append(option)
    return options


# --- the result -------------------------------------------------------------------------------------


def test_result_is_frozen_and_scores_are_quantised_decimals():
    result = grade(question(QuestionType.SINGLE_CHOICE, options=choices(0, 1, 0, 0), answer="B", score="3"), "B")
    assert result == GradeResult(score=D("3.00"), max_score=D("3.00"), correct=True, detail={"chosen": "B"})
    assert str(result.score) == "3.00"
    with pytest.raises(AttributeError):
        result.score = D(0)


def test_max_score_override_scales_the_score():
    q = question(QuestionType.SINGLE_CHOICE, options=choices(0, 1), answer="B", score="2")
    result = grade(q, "B", max_score=D("5"))
    assert (result.score, result.max_score) == (D("5.00"), D("5.00"))


def test_unknown_policy_is_refused():
    q = question(QuestionType.MULTIPLE_CHOICE, options=choices(None, None, None), answer="AC")
    with pytest.raises(ValueError, match="all_or_nothing"):
        grade(q, "AC", policy="generous")


# --- single choice ----------------------------------------------------------------------------------


@pytest.mark.parametrize("response", ["B", "b", "Ｂ", "ｂ", " B ", ["B"]])
def test_single_choice_accepts_case_width_and_spacing(response):
    q = question(QuestionType.SINGLE_CHOICE, options=choices(None, None, None, None), answer="B", score="2")
    result = grade(q, response)
    assert (result.score, result.correct) == (D("2.00"), True)


def test_single_choice_full_width_a():
    q = question(QuestionType.SINGLE_CHOICE, options=choices(1, 0), answer="A")
    assert grade(q, "Ａ").correct is True


def test_single_choice_wrong_option_scores_zero():
    q = question(QuestionType.SINGLE_CHOICE, options=choices(None, None, None), answer="B", score="2")
    result = grade(q, "C")
    assert (result.score, result.correct, result.detail["chosen"]) == (D("0.00"), False, "C")


def test_single_choice_honours_moodle_partial_fractions():
    q = question(QuestionType.SINGLE_CHOICE, options=choices(1, 0.5, 0, -0.5), answer="A", score="4")
    assert grade(q, "A").score == D("4.00")
    partial = grade(q, "B")
    assert (partial.score, partial.correct) == (D("2.00"), False)


def test_single_choice_negative_fraction_never_below_zero():
    q = question(QuestionType.SINGLE_CHOICE, options=choices(1, 0, 0, -0.5), answer="A", score="4")
    assert grade(q, "D").score == D("0.00")


def test_single_choice_key_earns_full_marks_even_without_fractions():
    q = question(QuestionType.SINGLE_CHOICE, options=choices(0, 0, 0), answer="C", score="2")
    assert grade(q, "c").score == D("2.00")


def test_single_choice_feedback_of_the_chosen_option_is_in_the_detail():
    options = choices(1, 0)
    options[1]["feedback"] = "想想定义"
    q = question(QuestionType.SINGLE_CHOICE, options=options, answer="A")
    assert grade(q, "B").detail == {"chosen": "B", "feedback": "想想定义"}


@pytest.mark.parametrize("response", [None, "", "   ", []])
def test_single_choice_unanswered_scores_zero(response):
    q = question(QuestionType.SINGLE_CHOICE, options=choices(1, 0), answer="A")
    result = grade(q, response)
    assert (result.score, result.correct) == (D("0.00"), False)


def test_single_choice_unknown_letter_names_the_options():
    q = question(QuestionType.SINGLE_CHOICE, options=choices(1, 0, 0), answer="A")
    with pytest.raises(ValueError, match="'E' is not one of the options A, B, C"):
        grade(q, "E")


# --- multiple choice --------------------------------------------------------------------------------


def multiple(score="4", partial_score=None, options=None, answer="AC"):
    return question(
        QuestionType.MULTIPLE_CHOICE,
        options=options or choices(None, None, None, None),
        answer=answer,
        score=score,
        partial_score=partial_score,
    )


@pytest.mark.parametrize("response", ["AC", "CA", "ac", "ａｃ", "Ａ，Ｃ", "A, C", "A、C", ["A", "C"], ["c", "A", "A"]])
@pytest.mark.parametrize("policy", ["all_or_nothing", "partial_subset", "fractions"])
def test_multiple_choice_order_case_width_and_duplicates_do_not_matter(response, policy):
    result = grade(multiple(), response, policy=policy)
    assert (result.score, result.correct) == (D("4.00"), True)
    assert result.detail["chosen"] == ["A", "C"]


def test_all_or_nothing_gives_nothing_for_a_subset_or_a_wrong_option():
    assert grade(multiple(), "A", policy="all_or_nothing").score == D("0.00")
    assert grade(multiple(), "ACD", policy="all_or_nothing").score == D("0.00")


def test_partial_subset_default_is_half_the_score():
    result = grade(multiple(score="5"), "C")
    assert (result.score, result.correct) == (D("2.50"), False)
    assert result.detail == {"chosen": ["C"], "wrong": [], "missed": ["A"]}


def test_partial_subset_uses_the_questions_partial_score():
    assert grade(multiple(score="5", partial_score="2"), ["a"]).score == D("2.00")


def test_partial_subset_scales_the_partial_score_with_the_max_score():
    assert grade(multiple(score="5", partial_score="2"), "A", max_score=D("10")).score == D("4.00")


def test_partial_subset_any_wrong_option_scores_zero():
    result = grade(multiple(), "AD")
    assert (result.score, result.detail["wrong"]) == (D("0.00"), ["D"])
    assert grade(multiple(), "ACD").score == D("0.00")


def test_partial_subset_empty_response_scores_zero():
    assert grade(multiple(), "").score == D("0.00")
    assert grade(multiple(), []).score == D("0.00")


def test_partial_subset_needs_a_strict_subset():
    # With a one-letter key there is no strict non-empty subset: the key or nothing.
    q = multiple(answer="B")
    assert grade(q, "B").score == D("4.00")
    assert grade(q, "AB").score == D("0.00")


def test_fractions_policy_sums_the_chosen_fractions():
    q = multiple(score="6", options=choices(0.5, -1, 0.5, 0), answer="AC")
    assert grade(q, "A", policy="fractions").score == D("3.00")
    assert grade(q, "AC", policy="fractions").score == D("6.00")
    assert grade(q, "ACD", policy="fractions").score == D("6.00")


def test_fractions_policy_never_below_zero():
    q = multiple(score="6", options=choices(0.5, -1, 0.5, 0), answer="AC")
    result = grade(q, "AB", policy="fractions")
    assert (result.score, result.correct) == (D("0.00"), False)


def test_fractions_policy_with_moodle_thirds_is_still_correct():
    q = multiple(score="3", options=choices(0.3333333, 0.3333333, 0.3333333, -1), answer="ABC")
    result = grade(q, "ABC", policy="fractions")
    assert (result.score, result.correct) == (D("3.00"), True)
    assert grade(q, "AB", policy="fractions").score == D("2.00")


def test_fractions_policy_without_stored_fractions_lets_a_wrong_choice_cancel_a_right_one():
    q = multiple(score="4")  # key AC, no fractions stored
    assert grade(q, "A", policy="fractions").score == D("2.00")
    assert grade(q, "AB", policy="fractions").score == D("0.00")
    assert grade(q, "ABC", policy="fractions").score == D("2.00")
    assert grade(q, "ABCD", policy="fractions").score == D("0.00")


def test_fractions_policy_scales_positive_fractions_that_exceed_one():
    q = multiple(score="4", options=choices(1, 0, 1, 0), answer="AC")
    assert grade(q, "A", policy="fractions").score == D("2.00")


def test_multiple_choice_unknown_letter_is_refused():
    with pytest.raises(ValueError, match="not one of the options A, B, C, D"):
        grade(multiple(), "AX")


# --- true / false -----------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["对", "√", "T", "t", "true", "TRUE", "是", "正确", "Ｔ", True])
def test_true_words(word):
    q = question(QuestionType.TRUE_FALSE, answer="true", score="2")
    assert grade(q, word).score == D("2.00")
    assert grade(question(QuestionType.TRUE_FALSE, answer="false"), word).correct is False


@pytest.mark.parametrize("word", ["错", "×", "F", "f", "false", "否", "错误", False])
def test_false_words(word):
    q = question(QuestionType.TRUE_FALSE, answer="false", score="2")
    result = grade(q, word)
    assert (result.score, result.correct, result.detail) == (D("2.00"), True, {"chosen": False})


def test_true_false_unknown_word_names_the_accepted_words():
    q = question(QuestionType.TRUE_FALSE, answer="true")
    with pytest.raises(ValueError, match="'maybe' is not a true/false answer") as error:
        grade(q, "maybe")
    for word in ("对", "错", "√", "×", "t", "f", "true", "false", "是", "否"):
        assert word in str(error.value)


def test_true_false_unanswered_scores_zero():
    result = grade(question(QuestionType.TRUE_FALSE, answer="true"), "")
    assert (result.score, result.correct) == (D("0.00"), False)


# --- fill in the blank ------------------------------------------------------------------------------


def fill(blanks, *, order_free=False, case_sensitive=False, score="2"):
    data = {"blanks": blanks, "order_free": order_free, "case_sensitive": case_sensitive}
    return question(QuestionType.FILL_BLANK, answer_data=data, score=score)


def test_fill_blank_synonyms_and_normalisation():
    q = fill([{"answers": ["山西", "山西省", "晋"]}, {"answers": ["Hello World"]}])
    result = grade(q, ["山西省", "  ｈｅｌｌｏ　　world "])
    assert (result.score, result.correct) == (D("2.00"), True)
    assert [blank["correct"] for blank in result.detail["blanks"]] == [True, True]


def test_fill_blank_equal_split_and_partial_credit():
    q = fill([{"answers": ["a"]}, {"answers": ["b"]}, {"answers": ["c"]}], score="1")
    result = grade(q, ["a", "x", "c"])
    assert (result.score, result.correct) == (D("0.67"), False)
    assert [blank["correct"] for blank in result.detail["blanks"]] == [True, False, True]


def test_fill_blank_per_blank_scores():
    q = fill([{"answers": ["a"], "score": 3}, {"answers": ["b"], "score": 1}], score="4")
    assert grade(q, ["a", "x"]).score == D("3.00")
    assert grade(q, ["x", "b"]).score == D("1.00")


def test_fill_blank_blanks_without_a_score_share_the_rest():
    q = fill([{"answers": ["a"], "score": 2}, {"answers": ["b"]}, {"answers": ["c"]}], score="4")
    assert grade(q, ["x", "b", "c"]).score == D("2.00")
    assert grade(q, ["a", "x", "x"]).score == D("2.00")


def test_fill_blank_case_sensitive():
    q = fill([{"answers": ["NaCl"]}], case_sensitive=True, score="1")
    assert grade(q, ["NaCl"]).score == D("1.00")
    assert grade(q, ["nacl"]).score == D("0.00")
    assert grade(fill([{"answers": ["NaCl"]}], score="1"), ["NACL"]).score == D("1.00")


def test_fill_blank_in_order_does_not_accept_swapped_answers():
    q = fill([{"answers": ["北京"]}, {"answers": ["上海"]}])
    assert grade(q, ["上海", "北京"]).score == D("0.00")


def test_fill_blank_order_free_accepts_any_order():
    q = fill([{"answers": ["北京"]}, {"answers": ["上海"]}], order_free=True)
    result = grade(q, ["上海", "北京"])
    assert (result.score, result.correct) == (D("2.00"), True)
    assert [blank["response"] for blank in result.detail["blanks"]] == ["北京", "上海"]


def test_fill_blank_order_free_is_a_maximum_matching_not_greedy():
    # Greedy would give "x" to the first blank and leave "y" nowhere to go.
    q = fill([{"answers": ["x", "y"]}, {"answers": ["x"]}], order_free=True)
    result = grade(q, ["x", "y"])
    assert (result.score, result.correct) == (D("2.00"), True)


def test_fill_blank_order_free_prefers_the_blank_worth_more():
    q = fill([{"answers": ["x"], "score": 1}, {"answers": ["x"], "score": 3}], order_free=True, score="4")
    assert grade(q, ["x", ""]).score == D("3.00")


def test_fill_blank_order_free_counts_a_repeated_answer_once():
    colours = ["红", "黄", "蓝"]
    q = fill([{"answers": colours}, {"answers": colours}], order_free=True)
    assert grade(q, ["红", "红"]).score == D("1.00")
    assert grade(q, ["红", "蓝"]).score == D("2.00")


def test_fill_blank_extra_responses_are_ignored():
    q = fill([{"answers": ["a"]}, {"answers": ["b"]}], order_free=True)
    assert grade(q, ["x", "y", "a", "b"]).score == D("0.00")


def test_fill_blank_missing_responses_are_unanswered():
    q = fill([{"answers": ["a"]}, {"answers": ["b"]}])
    result = grade(q, ["a"])
    assert result.score == D("1.00")
    assert result.detail["blanks"][1] == {"response": None, "correct": False, "weight": "0.500000"}


def test_fill_blank_a_string_is_split_at_semicolons():
    q = fill([{"answers": ["山西"]}, {"answers": ["北京"]}])
    assert grade(q, "山西；北京").score == D("2.00")


# --- numerical --------------------------------------------------------------------------------------


def numerical(answers, score="2"):
    return question(QuestionType.NUMERICAL, answer_data={"answers": answers}, score=score)


def test_numerical_tolerance_boundary_is_included():
    q = numerical([{"value": 3.14, "tolerance": 0.01, "fraction": 1.0}])
    assert grade(q, "3.15").score == D("2.00")
    assert grade(q, "3.13").score == D("2.00")
    assert grade(q, "3.1500001").score == D("0.00")
    assert grade(q, "3.1299999").score == D("0.00")


def test_numerical_exact_value_without_tolerance():
    q = numerical([{"value": 72, "tolerance": 0, "fraction": 1.0}])
    assert grade(q, "72").correct is True
    assert grade(q, "72.0").correct is True
    assert grade(q, "72.01").correct is False


def test_numerical_range():
    q = numerical([{"min": 1, "max": 5, "fraction": 1.0}])
    assert [grade(q, text).correct for text in ("1", "5", "3.3", "0.99", "5.01")] == [True, True, True, False, False]


def test_numerical_best_matching_fraction():
    q = numerical(
        [
            {"value": 3.14, "tolerance": 0.001, "fraction": 1.0},
            {"value": 3, "tolerance": 0.5, "fraction": 0.5, "feedback": "more digits"},
        ]
    )
    best = grade(q, "3.1404")  # within both answers: the better fraction wins
    assert (best.score, best.correct, best.detail["matched"]) == (D("2.00"), True, "3.14±0.001")
    partial = grade(q, "3.2")
    assert (partial.score, partial.correct, partial.detail["feedback"]) == (D("1.00"), False, "more digits")
    assert grade(q, "3.1416").score == D("1.00")
    assert grade(q, "3.6").score == D("0.00")


@pytest.mark.parametrize(
    ("text", "value"),
    [("1,000", "1000"), ("１，０００", "1000"), ("12,345,678.5", "12345678.5"), ("３．１４", "3.14"), ("3,14", "3.14")]
    + [("−2", "-2"), ("1e3", "1000"), ("+7", "7"), (" 42 ", "42")],
)
def test_parse_number(text, value):
    assert parse_number(text) == D(value)


def test_numerical_thousands_separator():
    q = numerical([{"value": 1000, "tolerance": 0, "fraction": 1.0}])
    assert grade(q, "1,000").correct is True
    assert grade(q, "１０００").correct is True


@pytest.mark.parametrize("text", ["abc", "1,00,0", "NaN", "Infinity", "3.1.4"])
def test_numerical_unparsable_scores_zero_with_an_error(text):
    result = grade(numerical([{"value": 1, "tolerance": 0, "fraction": 1.0}]), text)
    assert (result.score, result.correct) == (D("0.00"), False)
    assert "number" in result.detail["error"]


def test_numerical_negative_fraction_never_below_zero():
    q = numerical([{"value": 1, "tolerance": 0, "fraction": 1.0}, {"value": -1, "tolerance": 0, "fraction": -0.5}])
    assert grade(q, "-1").score == D("0.00")


def test_numerical_falls_back_on_the_readable_key():
    assert grade(question(QuestionType.NUMERICAL, answer="1..5"), "4").correct is True
    assert grade(question(QuestionType.NUMERICAL, answer="2.5"), "2.5").correct is True


# --- matching ---------------------------------------------------------------------------------------


def matching(score="3"):
    pairs = [{"left": "中国", "right": "北京"}, {"left": "日本", "right": "东京"}, {"left": "法国", "right": "巴黎"}]
    return question(QuestionType.MATCHING, answer_data={"pairs": pairs, "distractors": ["伦敦"]}, score=score)


def test_matching_dict_all_correct():
    result = grade(matching(), {"中国": "北京", "日本": "东京", "法国": "巴黎"})
    assert (result.score, result.correct) == (D("3.00"), True)


def test_matching_partial_credit():
    result = grade(matching(score="2"), {"中国": "北京", "日本": "伦敦", "法国": "巴黎"})
    assert (result.score, result.correct) == (D("1.33"), False)
    assert [pair["correct"] for pair in result.detail["pairs"]] == [True, False, True]


def test_matching_list_of_rights_in_pair_order():
    assert grade(matching(), ["北京", "巴黎", "东京"]).score == D("1.00")
    assert grade(matching(), ["北京", "东京"]).score == D("2.00")


def test_matching_is_case_sensitive_but_normalises_width_and_spaces():
    pairs = [{"left": "cobalt", "right": "Co"}, {"left": "carbon monoxide", "right": "CO"}]
    q = question(QuestionType.MATCHING, answer_data={"pairs": pairs}, score="2")
    assert grade(q, {"cobalt": "CO", "carbon monoxide": "Co"}).score == D("0.00")
    assert grade(q, {" cobalt ": "Ｃｏ", "carbon  monoxide": "CO"}).score == D("2.00")


def test_matching_unknown_lefts_are_ignored_and_reported():
    result = grade(matching(), {"中国": "北京", "英国": "伦敦"})
    assert result.score == D("1.00")
    assert result.detail["unknown"] == ["英国"]


# --- short answer -----------------------------------------------------------------------------------


def short(answers, *, case_sensitive=False, score="2"):
    data = {"answers": answers, "case_sensitive": case_sensitive}
    return question(QuestionType.SHORT_ANSWER, answer_data=data, answer=answers[0]["text"], score=score)


def test_short_answer_exact_match_is_case_and_width_insensitive():
    q = short([{"text": "Photosynthesis", "fraction": 1.0}])
    result = grade(q, "  ＰＨＯＴＯsynthesis ")
    assert (result.score, result.correct, result.detail["needs_review"]) == (D("2.00"), True, False)


def test_short_answer_case_sensitive():
    q = short([{"text": "pH", "fraction": 1.0}], case_sensitive=True)
    assert grade(q, "pH").correct is True
    assert grade(q, "PH").detail["needs_review"] is True


def test_short_answer_partial_fraction():
    q = short([{"text": "光合作用", "fraction": 1.0}, {"text": "光合", "fraction": 0.5, "feedback": "写全"}])
    result = grade(q, "光合")
    assert (result.score, result.correct, result.detail["feedback"]) == (D("1.00"), False, "写全")


def test_short_answer_no_match_needs_review():
    result = grade(short([{"text": "光合作用", "fraction": 1.0}]), "呼吸作用")
    assert (result.score, result.correct) == (D("0.00"), False)
    assert result.detail == {"matched": None, "needs_review": True}


def test_short_answer_explicit_wrong_answer_needs_no_review():
    q = short([{"text": "光合作用", "fraction": 1.0}, {"text": "呼吸作用", "fraction": 0.0, "feedback": "反了"}])
    result = grade(q, "呼吸作用")
    assert (result.score, result.detail["needs_review"]) == (D("0.00"), False)


def test_short_answer_moodle_wildcard():
    q = short([{"text": "Newton*law", "fraction": 1.0}, {"text": "*", "fraction": 0.0}])
    assert grade(q, "Newton's second law").correct is True
    assert grade(q, "newtonlaw").correct is True
    catch_all = grade(q, "Einstein")
    assert (catch_all.score, catch_all.detail["needs_review"]) == (D("0.00"), False)


def test_short_answer_escaped_star_is_literal():
    q = short([{"text": "a\\*b", "fraction": 1.0}])
    assert grade(q, "a*b").correct is True
    assert grade(q, "axb").correct is False


def test_short_answer_regex_characters_are_literal():
    q = short([{"text": "x.y+(z)", "fraction": 1.0}])
    assert grade(q, "x.y+(z)").correct is True
    assert grade(q, "xay+(z)").correct is False


def test_short_answer_empty_response_needs_no_review():
    result = grade(short([{"text": "a", "fraction": 1.0}]), "")
    assert (result.score, result.correct, result.detail["needs_review"]) == (D("0.00"), False, False)


def test_short_answer_falls_back_on_the_readable_answer():
    q = question(QuestionType.SHORT_ANSWER, answer="光合作用", answer_data={})
    assert grade(q, "光合作用").correct is True


# --- essay and description --------------------------------------------------------------------------


def test_essay_is_pending():
    result = grade(question(QuestionType.ESSAY, answer="参考答案", score="10"), "我的论述")
    assert result == GradeResult(score=None, max_score=D("10.00"), correct=None, detail={"pending": True})


def test_description_is_worth_nothing():
    result = grade(question(QuestionType.DESCRIPTION, score="0"), "")
    assert (result.score, result.max_score, result.correct) == (D("0.00"), D("0.00"), None)


# --- cloze ------------------------------------------------------------------------------------------


def cloze(subquestions, score="6"):
    return question(QuestionType.CLOZE, answer_data={"subquestions": subquestions}, score=score)


SUBQUESTIONS = [
    {
        "type": "single_choice",
        "weight": 1,
        "options": [
            {"key": "A", "text": "Paris", "fraction": 1.0},
            {"key": "B", "text": "Lyon", "fraction": 0.0},
        ],
    },
    {"type": "short_answer", "weight": 2, "answers": [{"text": "Seine", "fraction": 1.0}], "case_sensitive": False},
    {"type": "numerical", "weight": 3, "answers": [{"value": 2.1, "tolerance": 0.1, "fraction": 1.0}]},
]


def test_cloze_all_correct():
    result = grade(cloze(SUBQUESTIONS), ["A", "seine", "2.15"])
    assert (result.score, result.correct, result.detail["needs_review"]) == (D("6.00"), True, False)


def test_cloze_weights():
    q = cloze(SUBQUESTIONS)
    assert grade(q, ["A", "x", "0"]).score == D("1.00")  # 6 × 1/6
    assert grade(q, ["B", "seine", "0"]).score == D("2.00")  # 6 × 2/6
    assert grade(q, ["B", "x", "2.1"]).score == D("3.00")  # 6 × 3/6
    assert grade(q, ["A", "seine", "9"]).score == D("3.00")


def test_cloze_drop_down_accepts_the_option_text():
    assert grade(cloze(SUBQUESTIONS), ["Ｐａｒｉｓ", "Seine", "2.1"]).correct is True
    assert grade(cloze(SUBQUESTIONS), ["Lyon", "Seine", "2.1"]).score == D("5.00")


def test_cloze_sub_question_detail_and_review():
    result = grade(cloze(SUBQUESTIONS), ["A", "Loire", "abc"])
    subs = result.detail["subquestions"]
    assert [sub["fraction"] for sub in subs] == ["1.000000", "0.000000", "0.000000"]
    assert subs[1]["needs_review"] is True
    assert "error" in subs[2]
    assert result.detail["needs_review"] is True


def test_cloze_missing_responses_are_unanswered():
    assert grade(cloze(SUBQUESTIONS), ["A"]).score == D("1.00")


def test_cloze_partial_fractions_and_multi_response():
    subquestions = [
        {
            "type": "short_answer",
            "weight": 1,
            "answers": [{"text": "cat", "fraction": 1}, {"text": "ca*", "fraction": 0.5}],
        },
        {
            "type": "multiple_choice",
            "weight": 1,
            "options": [
                {"key": "A", "text": "x", "fraction": 0.5},
                {"key": "B", "text": "y", "fraction": 0.5},
                {"key": "C", "text": "z", "fraction": -1},
            ],
        },
    ]
    q = cloze(subquestions, score="4")
    assert grade(q, ["cap", ["A", "B"]]).score == D("3.00")
    assert grade(q, ["cat", "A"]).score == D("3.00")  # 漏选: half of the gap
    assert grade(q, ["cat", "A"], policy="all_or_nothing").score == D("2.00")
    assert grade(q, ["cat", "AC"], policy="fractions").score == D("2.00")


def test_cloze_error_names_the_gap():
    with pytest.raises(ValueError, match="gap 1: 'Z' is not one of the options A, B"):
        grade(cloze(SUBQUESTIONS), ["Z", "Seine", "2.1"])


# --- what cannot be graded --------------------------------------------------------------------------


def test_unknown_question_type_is_refused():
    with pytest.raises(ValueError, match="cannot be graded"):
        grade(question("drawing"), "x")


def test_detail_is_json_ready():
    for q, response in [
        (multiple(), "A"),
        (fill([{"answers": ["a"]}]), ["a"]),
        (numerical([{"value": 1, "tolerance": 0, "fraction": 1.0}]), "1"),
        (matching(), ["北京"]),
        (cloze(SUBQUESTIONS), ["A", "x", "1"]),
    ]:
        json.dumps(grade(q, response).detail)


# --- normalisation: what counts as the same typed answer --------------------------------------------


def test_normalize_text_folds_width_and_collapses_whitespace_but_keeps_case_and_inner_spaces():
    from quizbank.normalize import normalize_text

    assert normalize_text("  ＡＢＣ　１２３ ") == "ABC 123"
    assert normalize_text("北　 京\n") == "北 京"  # one space left: the hash of a stem keeps it
    assert normalize_text("Hello\t\tWorld") == "Hello World"


@pytest.mark.parametrize(
    ("typed", "correct"),
    [
        ("北京", True),
        ("北 京", True),  # a space between CJK characters means nothing
        ("北　京", True),  # nor does an ideographic space
        (" 北京 ", True),
        ("北京市", True),  # a synonym
        ("北 京 市", True),
        ("北京 市区", False),
        ("南京", False),
    ],
)
def test_fill_blank_spaces_beside_cjk_characters_do_not_count(typed, correct):
    q = fill([{"answers": ["北京", "北京市"]}], score="1")
    assert grade(q, [typed]).correct is correct


@pytest.mark.parametrize(
    ("typed", "case_sensitive", "correct"),
    [
        ("ＡＢＣ", False, True),
        ("abc", False, True),
        ("ａｂｃ", False, True),
        ("ＡＢＣ", True, True),  # full-width is the same letter
        ("abc", True, False),  # but not another case
        ("A B C", False, False),  # spaces between Latin letters count
        ("维生素 C", False, True),  # a space between CJK and Latin does not
        ("维生素c", True, False),
    ],
)
def test_fill_blank_width_case_and_latin_spaces(typed, case_sensitive, correct):
    q = fill([{"answers": ["ABC", "维生素C"]}], case_sensitive=case_sensitive, score="1")
    assert grade(q, [typed]).correct is correct


def test_fill_blank_order_free_with_synonyms_and_spaces():
    q = fill([{"answers": ["北京", "北京市"]}, {"answers": ["上海", "上海市"]}], order_free=True)
    assert grade(q, ["上 海市", "北京"]).score == D("2.00")
    assert grade(q, ["北京市", "北京"]).score == D("1.00")  # two answers for one blank earn it once


def test_short_answer_spaces_beside_cjk_characters_do_not_count():
    q = short([{"text": "光合作用产生氧气", "fraction": 1.0}])
    assert grade(q, "光合作用 产生 氧气").correct is True
    assert grade(q, "光合作用产生氧").detail["needs_review"] is True


# --- multiple choice: the policies at their edges -----------------------------------------------------


def test_partial_subset_with_a_partial_score_of_zero_gives_nothing_for_a_subset():
    assert grade(multiple(score="4", partial_score="0"), "A").score == D("0.00")


@pytest.mark.parametrize("partial_score", ["2", "3"])
def test_partial_subset_worth_full_marks_is_still_not_correct(partial_score):
    # 漏选 may earn the whole score (3 is clamped to it), but the answer leaves out part of the key.
    result = grade(multiple(score="2", partial_score=partial_score), "A")
    assert (result.score, result.correct) == (D("2.00"), False)


def test_fractions_policy_missing_a_key_letter_is_not_correct_even_at_full_marks():
    q = multiple(score="2", options=choices(1, 0, 0, 0), answer="AC")  # a key and weights that disagree
    result = grade(q, "A", policy="fractions")
    assert (result.score, result.correct) == (D("2.00"), False)


@pytest.mark.parametrize("policy", ["all_or_nothing", "partial_subset", "fractions"])
@pytest.mark.parametrize("response", ["B", "BD", "ABCD", "D"])
def test_multiple_choice_never_scores_below_zero(policy, response):
    q = multiple(score="4", options=choices(0.5, -1, 0.5, -1), answer="AC")
    result = grade(q, response, policy=policy)
    assert D("0.00") <= result.score < D("4.00") and result.correct is False


def test_all_or_nothing_needs_every_key_letter_and_nothing_else():
    q = multiple(score="3", answer="ABC")
    assert [grade(q, r, policy="all_or_nothing").score for r in ("ABC", "AB", "ABCD", "")] == [
        D("3.00"),
        D("0.00"),
        D("0.00"),
        D("0.00"),
    ]


# --- numerical: the tolerance's bounds ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "correct"),
    [("-2.5", True), ("-1.5", True), ("-2", True), ("－２．５", True), ("-2.5001", False), ("-1.4999", False)],
)
def test_numerical_negative_value_bounds(typed, correct):
    q = numerical([{"value": -2, "tolerance": 0.5, "fraction": 1.0}])
    assert grade(q, typed).correct is correct


def test_numerical_float_tolerance_is_compared_in_decimal():
    # In binary floats 0.4 - 0.3 > 0.1; stored numbers are read as the decimals they were written as.
    q = numerical([{"value": 0.3, "tolerance": 0.1, "fraction": 1.0}])
    assert grade(q, "0.4").correct is True
    assert grade(q, "0.2").correct is True
    assert grade(q, "0.40000001").correct is False


def test_numerical_a_number_sent_as_json_number():
    q = numerical([{"value": 3.14, "tolerance": 0.01, "fraction": 1.0}])
    assert grade(q, 3.15).correct is True
    assert grade(q, 3).correct is False


# --- true / false: the spellings students use -----------------------------------------------------


@pytest.mark.parametrize("word", ["True", "tRuE", " 对 ", "✓", "yes", "Y", "１"])
def test_more_true_spellings(word):
    assert grade(question(QuestionType.TRUE_FALSE, answer="true"), word).correct is True


@pytest.mark.parametrize("word", ["False", "FALSE", "Ｆ", "✗", "X", "x", "no", "0", " 错 "])
def test_more_false_spellings(word):
    assert grade(question(QuestionType.TRUE_FALSE, answer="false"), word).correct is True
    assert grade(question(QuestionType.TRUE_FALSE, answer="true"), word).correct is False


@pytest.mark.parametrize("word", ["對", "错对", "truee", "?"])
def test_true_false_other_words_are_refused(word):
    with pytest.raises(ValueError, match="not a true/false answer"):
        grade(question(QuestionType.TRUE_FALSE, answer="true"), word)


# --- matching: partial credit ---------------------------------------------------------------------


def test_matching_one_right_given_to_two_lefts_earns_only_the_true_pair():
    result = grade(matching(score="3"), {"中国": "北京", "日本": "北京", "法国": "巴黎"})
    assert (result.score, result.correct) == (D("2.00"), False)


def test_matching_holes_and_distractors_earn_nothing():
    assert grade(matching(score="3"), [None, "东京", ""]).score == D("1.00")
    result = grade(matching(score="3"), {"中国": "伦敦", "日本": "伦敦", "法国": "伦敦"})
    assert (result.score, result.correct) == (D("0.00"), False)


# --- essay ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("response", [None, "", "  \n ", []])
def test_an_empty_essay_scores_zero_without_waiting_for_a_grader(response):
    result = grade(question(QuestionType.ESSAY, answer="参考答案", score="10"), response)
    assert (result.score, result.max_score, result.correct) == (D("0.00"), D("10.00"), False)
    assert result.detail == {"pending": False}


# --- duplicate submissions, through the session service ------------------------------------------


@pytest.mark.django_db
def test_a_duplicate_submission_is_graded_once_into_one_answer(django_user_model):
    from quizbank.models import Answer
    from quizbank.services import paper_create, question_create, session_answer_save, session_finish, session_start

    student = django_user_model.objects.create_user("dup")
    q = question_create(
        data={
            "subject": "测试/评分",
            "qtype": QuestionType.FILL_BLANK,
            "stem": "中国的首都是____",
            "answer": "北京",
            "answer_data": {"blanks": [{"answers": ["北京"]}]},
            "score": 2,
        }
    )
    session = session_start(user=student, paper=paper_create(title="重复提交", questions=[q]))
    for _ in range(3):
        answer = session_answer_save(user=student, session_id=session.pk, position=1, response=["北 京"], client_seq=7)
    assert Answer.objects.filter(session=session).count() == 1
    assert (answer.score, answer.is_correct, answer.client_seq) == (D("2.00"), True, 7)
    assert session_finish(user=student, session_id=session.pk).score == D("2.00")
