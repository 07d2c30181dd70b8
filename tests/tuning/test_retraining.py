"""Scheduled retraining: new teacher grades start a run as new questions do, and the schedule and its
thresholds are periodic tasks in the database, which admins edit."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from quizbank.models import Answer, Paper, Question, QuestionType
from quizbank.selectors.questions import question_split
from quizbank.services import answer_grade, paper_create, question_create, session_answer_save, session_finish
from quizbank.services import session_start as start
from tuning.models import TuningRun
from tuning.services import retrain_if_due, version_promote, version_register

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)


def essay_in_train_split() -> Question:
    while True:
        question = question_create(
            data={
                "subject": "测试/重新训练",
                "qtype": QuestionType.ESSAY,
                "stem": f"简述节约用水的意义。#{next(_numbers)}",
                "answer": "淡水资源有限。",
                "answer_data": {"rubric": [{"id": "1", "criterion": "要点", "points": 10}]},
                "score": 10,
            }
        )
        if question_split(question) == "train":
            return question
        question.delete()


def teacher_graded(user, teacher, question: Question, score: int) -> Answer:
    paper = paper_create(title=f"卷 {next(_numbers)}", questions=[question], scores=None)
    session = start(user=user, paper=paper)
    session_answer_save(user=user, session_id=session.pk, position=session.items.get().position, response="答案")
    session_finish(user=user, session_id=session.pk)
    # closed since: the questions of an exam still open never become training data
    Paper.objects.filter(pk=paper.pk).update(close_at=timezone.now() - timedelta(minutes=1))
    answer = Answer.objects.get(session=session)
    return answer_grade(answer_id=answer.pk, score=score, grader=teacher)


@pytest.fixture
def active_version(tiny_base_model):
    return version_promote(version=version_register(name="ft-old", path=tiny_base_model, method="full"))


def test_enough_new_teacher_grades_start_a_run_without_enough_new_questions(active_version, alice, carol):
    question = essay_in_train_split()
    for score in (10, 6, 2):
        teacher_graded(alice, carol, question, score)
    assert retrain_if_due(min_new_questions=50, min_new_grades=4) is None  # one question, three grades
    assert retrain_if_due(min_new_questions=50, min_new_grades=0) is None  # the grades trigger off
    run = retrain_if_due(min_new_questions=50, min_new_grades=3)
    assert run is not None and run.base_version == active_version and run.promote
    assert run.dataset_size == 1 + 3  # the new question and the three grading records
    assert retrain_if_due(min_new_questions=50, min_new_grades=3) is None  # one at a time


def test_the_periodic_tasks_are_in_the_database_after_migrate_with_the_thresholds_as_kwargs(settings):
    from django.core.management.sql import emit_post_migrate_signal
    from django_celery_beat.models import PeriodicTask

    tasks = {task.name: task for task in PeriodicTask.objects.select_related("interval")}
    assert set(settings.PERIODIC_TASKS) <= set(tasks)
    retrain = tasks["tuning-retrain-if-due"]
    assert (retrain.task, retrain.enabled, retrain.interval.every) == (
        "tuning.retrain_if_due",
        True,
        settings.TUNING_RETRAIN_EVERY_SECONDS,
    )
    assert json.loads(retrain.kwargs) == {
        "min_new_questions": settings.TUNING_RETRAIN_MIN_NEW_QUESTIONS,
        "min_new_grades": settings.TUNING_RETRAIN_MIN_NEW_GRADES,
    }
    assert tasks["inference-explain-missing"].task == "inference.explain_missing"
    # an admin's change survives the next migrate
    retrain.kwargs = json.dumps({"min_new_questions": 10, "min_new_grades": 5})
    retrain.save()
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert json.loads(PeriodicTask.objects.get(name="tuning-retrain-if-due").kwargs)["min_new_grades"] == 5
    assert PeriodicTask.objects.filter(name="tuning-retrain-if-due").count() == 1


def test_the_retraining_task_takes_its_thresholds_from_the_periodic_tasks_kwargs(active_version):
    from django_celery_beat.models import PeriodicTask

    from tuning.tasks import retrain_if_due as retrain_task

    question_create(data={"subject": "测试", "qtype": "true_false", "stem": "水是液体。", "answer": "true"})
    periodic = PeriodicTask.objects.get(name="tuning-retrain-if-due")
    retrain_task.apply(kwargs=json.loads(periodic.kwargs))  # 200 new questions or 50 grades by default
    assert not TuningRun.objects.exists()
    periodic.kwargs = json.dumps({"min_new_questions": 1, "min_new_grades": 0})  # as an admin sets them
    periodic.save()
    retrain_task.apply(kwargs=json.loads(periodic.kwargs))
    assert TuningRun.objects.get().base_version == active_version
