"""The grader's agreement with teachers on held-out answers: the arithmetic on fixed outputs, then a
real tuning run whose new version is evaluated on them (by inference, on tuning's announcement)."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from inference.engines.base import ChatResult, ModelServerError
from inference.evaluation import grading_agreement
from quizbank import prompts
from quizbank.models import Answer, Paper, Question, QuestionType
from quizbank.selectors import teacher_graded_answers
from quizbank.selectors.questions import question_split
from quizbank.services import answer_grade, paper_create, question_create, session_answer_save, session_finish
from quizbank.services import session_start as start
from tuning.metrics import quadratic_weighted_kappa

pytestmark = pytest.mark.django_db

RUBRIC = [{"id": "1", "criterion": "要点", "points": 10}]
_numbers = itertools.count(1)


class FixedGrader:
    """Stands in for a model client: one fixed output (or error) per request, in order."""

    def __init__(self, outputs):
        self.outputs = list(outputs)
        self.requests: list[dict] = []

    def chat_many(self, requests_, *, concurrency=8):
        self.requests.extend(requests_)
        results = []
        for output in self.outputs[: len(requests_)]:
            if isinstance(output, Exception):
                results.append(output)
            else:
                results.append(ChatResult(text=output, model="ft-test", finish_reason="stop"))
        return results


def grade(awarded: float) -> str:
    return json.dumps(
        {"criteria": [{"id": "1", "awarded": awarded, "max": 10, "evidence": ""}], "feedback": "好", "confidence": 0.9}
    )


def essay_in_split(split: str) -> Question:
    """A new essay question whose (hash-based) split is `split`."""
    while True:
        number = next(_numbers)
        question = question_create(
            data={
                "subject": "测试/评分一致性",
                "qtype": QuestionType.ESSAY,
                "stem": f"简述光合作用的意义。#{number}",
                "answer": "光合作用把光能转化为化学能。",
                "answer_data": {"rubric": RUBRIC},
                "score": 10,
            }
        )
        if question_split(question) == split:
            return question
        question.delete()


def teacher_graded(user, teacher, question, response: str, score: int) -> Answer:
    paper = paper_create(title=f"卷 {next(_numbers)}", questions=[question], scores=None)
    session = start(user=user, paper=paper)
    session_answer_save(user=user, session_id=session.pk, position=session.items.get().position, response=response)
    session_finish(user=user, session_id=session.pk)
    # closed since: the questions of an exam still open never become training data
    Paper.objects.filter(pk=paper.pk).update(close_at=timezone.now() - timedelta(minutes=1))
    answer = Answer.objects.get(session=session)
    answer_grade(answer_id=answer.pk, score=score, feedback="教师评语", grader=teacher)
    answer.refresh_from_db()
    return answer


@pytest.fixture
def held_out(alice, carol):
    question = essay_in_split("test")
    return [
        teacher_graded(alice, carol, question, f"答案 {index}", score) for index, score in enumerate([10, 8, 5, 0, 3])
    ]


def test_agreement_matches_the_hand_computed_kappa(held_out):
    # teacher 10 8 5 0 3 (of 10); the model: 10, 6, unreadable (0), 0, a failed request (0)
    client = FixedGrader([grade(10), grade(6), "不是 JSON", grade(0), ModelServerError("down")])
    result = grading_agreement(held_out, client=client)
    teacher, model = [10, 8, 5, 0, 3], [10, 6, 0, 0, 0]
    # observed disagreement: (2² + 5² + 3²) / 10² over 5; expected from the margins
    hist_t = {score: teacher.count(score) for score in teacher}
    hist_m = {score: model.count(score) for score in model}
    observed = sum((a - b) ** 2 for a, b in zip(teacher, model, strict=True)) / 100
    expected = sum(hist_t[a] * hist_m[b] * (a - b) ** 2 / 100 for a in hist_t for b in hist_m) / 5
    assert result["qwk"] == pytest.approx(1 - observed / expected, abs=1e-4)
    assert result["qwk"] == pytest.approx(quadratic_weighted_kappa(teacher, model, min_score=0, max_score=10), abs=1e-4)
    assert result["n"] == 5
    assert result["exact_agreement"] == pytest.approx(2 / 5)
    assert result["mean_abs_error"] == pytest.approx((0 + 2 + 5 + 0 + 3) / 5)
    assert result["unparsable"] == 1 and result["failed_requests"] == 1
    # the live grader's prompt and its decoding schema
    first = client.requests[0]
    assert first["json_schema"]["properties"]["criteria"]["items"]["properties"]["id"]["enum"] == ["1"]
    assert "答案 0" in json.dumps(first["messages"], ensure_ascii=False)


def test_held_out_grades_are_never_shown_as_examples(settings, held_out, alice, carol):
    settings.GRADING_EXAMPLES = 3
    client = FixedGrader([grade(5)] * 5)
    grading_agreement(held_out, client=client)
    for request, answer in zip(client.requests, held_out, strict=True):
        text = json.dumps(request["messages"], ensure_ascii=False)
        others = [other.response for other in held_out if other.pk != answer.pk]
        assert not any(other in text for other in others)
    # the examples are the teacher's own sample answers; no student's answer, evaluated or not
    outside = teacher_graded(alice, carol, held_out[0].question, "集合外的答案", 7)
    question = held_out[0].question
    question.answer_data = {**question.answer_data, "grading_examples": [{"response": "教师的示范答案", "score": 7}]}
    question.save(update_fields=["answer_data"])
    client = FixedGrader([grade(5)] * 5)
    grading_agreement(Answer.objects.filter(pk__in=[answer.pk for answer in held_out]).order_by("pk"), client=client)
    texts = [json.dumps(request["messages"], ensure_ascii=False) for request in client.requests]
    assert all("教师的示范答案" in text and "集合外的答案" not in text for text in texts)
    assert outside.pk not in {answer.pk for answer in held_out}


def test_no_answers_no_requests():
    client = FixedGrader([])
    assert grading_agreement([], client=client)["n"] == 0 and client.requests == []


def test_teacher_grades_of_the_training_split_join_the_run_dataset(demo_bank, tiny_base_model, alice, carol):
    from tuning.services import run_create, version_register

    version_register(name="base", path=tiny_base_model, method="bootstrap")
    trained = teacher_graded(alice, carol, essay_in_split("train"), "训练集答案", 6)
    teacher_graded(alice, carol, essay_in_split("test"), "留出答案", 4)
    run = run_create(method="lora", split="all", enqueue=False)
    records = json.loads(open(run.dataset_path, encoding="utf-8").read())
    texts = [record["input"] for record in records]
    assert any(trained.response in text for text in texts)
    assert not any("留出答案" in text for text in texts)  # the test split only measures the grader
    grading = [record for record in records if record["instruction"] == prompts.GRADING_INSTRUCTION]
    assert len(grading) == 1 and run.dataset_size == len(records)
    assert json.loads(grading[0]["output"])["criteria"][0]["awarded"] == 6  # the teacher's grade


@pytest.mark.slow
def test_a_tuning_runs_version_is_evaluated_on_held_out_grades_before_promotion(
    settings, demo_bank, tiny_base_model, alice, carol, django_capture_on_commit_callbacks
):
    from tuning.models import RunStatus, VersionState
    from tuning.services import run_create, run_execute, version_register

    settings.GRADING_MAX_TOKENS = 48  # the tiny model writes no JSON worth waiting for
    version_register(name="base", path=tiny_base_model, method="bootstrap")
    question = essay_in_split("test")
    for index, score in enumerate([9, 2, 6]):
        teacher_graded(alice, carol, question, f"留出答案 {index}", score)
    held_out = len(list(teacher_graded_answers(split="test")))
    run = run_create(method="lora", split="all", overrides={"num_train_epochs": 1.0}, enqueue=False)
    with django_capture_on_commit_callbacks(execute=True):  # the evaluation starts once the version is committed
        run = run_execute(run_id=run.pk, inline=True)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.output_version.state == VersionState.EVALUATED
    grading = run.metrics["suites"]["grading-heldout"]
    assert grading["n"] == held_out == 3
    assert isinstance(grading["grading_qwk"], float) and -1.0 <= grading["grading_qwk"] <= 1.0
    assert run.output_version.metrics["suites"]["grading-heldout"] == grading


def test_the_tuning_pages_show_grading_agreement(client, dave, tiny_base_model):
    from django.urls import reverse

    from tuning.models import RunStatus, TuningRun
    from tuning.services import version_register

    suites = {"grading-heldout": {"revision": 1, "n": 7, "grading_qwk": 0.8123}}
    base = version_register(name="base", path=tiny_base_model, method="bootstrap")
    version = version_register(name="ft-9", path=tiny_base_model, method="lora", metrics={"suites": suites})
    run = TuningRun.objects.create(
        method="lora",
        base_version=base,
        output_version=version,
        status=RunStatus.SUCCEEDED,
        config={},
        dataset_size=0,
        metrics={"suites": suites},
    )
    client.force_login(dave)
    page = client.get(reverse("tuning-run", args=[run.pk])).content.decode()
    assert "grading-heldout@1" in page and "0.8123" in page
    index = client.get(reverse("tuning-index")).content.decode()
    assert "0.8123（7）" in index
