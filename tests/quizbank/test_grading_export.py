"""`export_dataset --task grade`: answers a teacher graded as grader training data, in the prompt the
model grader is served."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from decimal import Decimal

import jsonschema
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from quizbank import prompts
from quizbank.models import Answer, Paper, QuestionType
from quizbank.prompt_inputs import grading_prompt_parts
from quizbank.selectors import question_split
from quizbank.services import answer_grade, paper_create, question_create, session_answer_save, session_finish
from quizbank.services import session_start as start

pytestmark = pytest.mark.django_db

RUBRIC = [{"id": "1", "criterion": "论点明确", "points": 4}, {"id": "2", "criterion": "论据充分", "points": 6}]
_numbers = itertools.count(1)


def make_question(qtype=QuestionType.ESSAY, **data):
    number = next(_numbers)
    defaults = {
        "qtype": qtype,
        "stem": f"论述光合作用的意义。#{number}",
        "answer": "光合作用把光能转化为化学能。",
        "answer_data": {"rubric": RUBRIC},
        "score": 10,
    }
    return question_create(data={"subject": "测试/导出", **defaults, **data})


def finished_answer(user, question, response) -> Answer:
    """An answer of a finished attempt on an exam that has closed since (an open exam's questions never
    become training data)."""
    paper = paper_create(title=f"卷 {next(_numbers)}", questions=[question])
    session = start(user=user, paper=paper)
    session_answer_save(user=user, session_id=session.pk, position=session.items.get().position, response=response)
    session_finish(user=user, session_id=session.pk)
    Paper.objects.filter(pk=paper.pk).update(close_at=timezone.now() - timedelta(minutes=1))
    return Answer.objects.get(session=session)


@pytest.fixture
def graded(alice, bob, carol):
    """alice's essay graded 7.5 by carol; bob's still pending and another graded by the model (neither exported)."""
    question = make_question()
    answer = finished_answer(alice, question, "光合作用为生物提供能量和氧气。")
    answer_grade(answer_id=answer.pk, score=Decimal("7.5"), feedback="论据还可更充分。", grader=carol)
    finished_answer(bob, question, "不知道")
    by_model = finished_answer(bob, make_question(), "能量")
    answer_grade(answer_id=by_model.pk, score=0, feedback="", grader=None, status="model")
    return Answer.objects.get(pk=answer.pk)


def export(tmp_path, *args) -> list[dict]:
    out = tmp_path / "grade.json"
    call_command("export_dataset", "--task", "grade", "--out", str(out), *args)
    return json.loads(out.read_text(encoding="utf-8"))


def test_a_teacher_graded_answer_becomes_a_grading_record(tmp_path, graded):
    (record,) = export(tmp_path)
    assert record["instruction"] == prompts.GRADING_INSTRUCTION
    assert f"{prompts.GRADING_RESPONSE_LABEL}：\n~~~\n{graded.response}\n~~~" in record["input"]
    grade = json.loads(record["output"])
    jsonschema.validate(grade, prompts.GRADING_SCHEMA)
    # One score of 7.5 of 10, spread over the rubric in proportion to its points.
    assert [(mark["id"], mark["awarded"], mark["max"]) for mark in grade["criteria"]] == [("1", 3.0, 4), ("2", 4.5, 6)]
    assert (grade["feedback"], grade["confidence"]) == ("论据还可更充分。", 1.0)


def test_the_record_is_exactly_the_prompt_the_grader_is_served(tmp_path, graded, settings):
    settings.GRADING_EXAMPLES = 3
    (record,) = export(tmp_path)
    served = prompts.grading_messages(**grading_prompt_parts(graded, examples=3))
    assert prompts.prompt_messages(record) == served


def test_the_teachers_sample_answers_are_the_examples(tmp_path, graded, bob, carol):
    question = graded.question
    question.answer_data = {**question.answer_data, "grading_examples": [{"response": "提供氧气。", "score": 2}]}
    question.save(update_fields=["answer_data"])
    other = finished_answer(bob, question, "同学的答案。")
    answer_grade(answer_id=other.pk, score=2, feedback="", grader=carol)
    first, second = export(tmp_path, "--examples", "2")
    assert "教师评分示例 1：\n~~~\n提供氧气。\n~~~\n得分：[1] 0.8/4；[2] 1.2/6" in first["input"]
    assert "教师评分示例 2" not in first["input"]
    # a classmate's answer, even graded by a teacher, is never an example (it trains as its own record)
    assert "同学的答案。" not in first["input"] and graded.response not in second["input"]
    first, second = export(tmp_path, "--examples", "0")
    assert "教师评分示例" not in first["input"] + second["input"]


def test_without_a_rubric_the_record_has_one_overall_criterion(tmp_path, alice, carol):
    question = make_question(
        QuestionType.SHORT_ANSWER,
        answer="光合作用",
        answer_data={"answers": [{"text": "光合作用", "fraction": 1.0}]},
        score=2,
    )
    answer = finished_answer(alice, question, "光和作用")
    answer_grade(answer_id=answer.pk, score=1, feedback="错别字", grader=carol)
    (record,) = export(tmp_path)
    assert json.loads(record["output"])["criteria"] == [{"id": "overall", "awarded": 1.0, "max": 2.0, "evidence": ""}]


def test_sharegpt_grading_export_is_conversations_jsonl(tmp_path, graded):
    out = tmp_path / "grade.jsonl"
    call_command("export_dataset", "--task", "grade", "--format", "sharegpt", "--out", str(out))
    (line,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    human, gpt = line["conversations"]
    assert (human["from"], gpt["from"]) == ("human", "gpt")
    assert human["value"].startswith(prompts.GRADING_INSTRUCTION)
    jsonschema.validate(json.loads(gpt["value"]), prompts.GRADING_SCHEMA)
    assert json.loads((tmp_path / "dataset_info.json").read_text(encoding="utf-8"))["grade"]["formatting"] == "sharegpt"


def test_openai_grading_export_is_messages_jsonl(tmp_path, graded):
    out = tmp_path / "grade.jsonl"
    call_command("export_dataset", "--task", "grade", "--format", "openai", "--out", str(out))
    (line,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    user, assistant = line["messages"]
    assert (user["role"], assistant["role"]) == ("user", "assistant")
    assert user["content"].startswith(prompts.GRADING_INSTRUCTION)
    jsonschema.validate(json.loads(assistant["content"]), prompts.GRADING_SCHEMA)


def test_llamafactory_grading_dataset_sits_beside_the_explanation_dataset(tmp_path, graded):
    out = tmp_path / "lf"
    call_command("export_dataset", "--format", "llamafactory", "--out", str(out))
    call_command("export_dataset", "--task", "grade", "--format", "llamafactory", "--out", str(out))
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert set(info) == {"quizsite", "quizsite_grading"}
    assert info["quizsite_grading"]["file_name"] == "quizsite_grading.json"
    (record,) = json.loads((out / "quizsite_grading.json").read_text(encoding="utf-8"))
    assert record["instruction"] == prompts.GRADING_INSTRUCTION


def test_the_default_task_is_still_the_explanation_export(tmp_path, graded):
    out = tmp_path / "explain.json"
    call_command("export_dataset", "--out", str(out))
    records = json.loads(out.read_text(encoding="utf-8"))
    assert records and all(record["instruction"] != prompts.GRADING_INSTRUCTION for record in records)


def test_the_split_is_the_questions(tmp_path, graded):
    split = question_split(graded.question)
    assert len(export(tmp_path, "--split", split)) == 1
    other = next(name for name in ("train", "val", "test") if name != split)
    with pytest.raises(CommandError, match="no answers graded by a teacher"):
        export(tmp_path, "--split", other)


def test_nothing_graded_by_a_teacher_is_an_error(tmp_path, alice):
    finished_answer(alice, make_question(), "答")
    with pytest.raises(CommandError, match="no answers graded by a teacher"):
        export(tmp_path)


def test_grading_data_comes_only_in_training_formats(tmp_path, graded):
    with pytest.raises(CommandError, match="--task grade writes training data"):
        call_command("export_dataset", "--task", "grade", "--format", "gift", "--out", str(tmp_path / "g.gift"))
