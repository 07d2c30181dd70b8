"""serve_model's supervisor on real vLLM CPU servers: a promoted LoRA version is hot-loaded and
answers under its name, a promoted merged version replaces the server without a request failing,
and a server killed mid-exam loses no answer: the pending grades complete once it is back."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pytest

from core.ports import free_port
from inference.engines import get_engine, reset_engine
from inference.engines.base import ModelServerError
from inference.serving.plans import adapter_of, serving_plan
from inference.serving.process import vllm_command
from inference.serving.supervisor import ServingSupervisor
from quizbank import prompts
from tests.waiting import wait_for
from tuning.services import version_promote, version_register

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# A LoRA adapter trained to answer one question its own way: which weights answer is then visible.
# Characters of the demo bank, so the bank-trained tokenizer has whole tokens for them.
PASSWORD_RECORD = {"instruction": "今天的口令是什么？", "input": "", "output": "长方形的周长是多少厘米"}
PASSWORD_MESSAGES = prompts.prompt_messages(PASSWORD_RECORD)


@pytest.fixture(scope="module")
def lora_model(trained_model, tmp_path_factory) -> Path:
    """The merged directory of a LoRA run on the trained model (its adapter kept beside it)."""
    from tuning.training.config import TuningConfig, preset
    from tuning.training.workflow import run_training

    data = tmp_path_factory.mktemp("lora-data") / "password.json"
    data.write_text(json.dumps([PASSWORD_RECORD] * 16, ensure_ascii=False), encoding="utf-8")
    config = TuningConfig(
        model_name_or_path=str(trained_model),
        dataset_path=str(data),
        output_dir=str(tmp_path_factory.mktemp("lora")),
        **(preset("lora", dataset_size=16, memorise=True) | {"num_train_epochs": 60.0, "learning_rate": 1e-3}),
    )
    return run_training(config).model_dir


@pytest.fixture(scope="module")
def expected(trained_model, lora_model) -> dict[str, str]:
    """What each set of weights answers, run in process: the served versions must answer the same."""
    from inference.engines.local import LocalEngine

    texts = {
        name: readable(LocalEngine(path, name).chat(PASSWORD_MESSAGES, max_tokens=16).text)
        for name, path in (("base", trained_model), ("lora", lora_model))
    }
    assert texts["lora"] == PASSWORD_RECORD["output"], texts  # the adapter learnt its answer
    assert texts["base"] != texts["lora"]
    return texts


def readable(text: str) -> str:
    """Text without the replacement characters of a cut multi-byte character (vLLM holds those back)."""
    return text.replace("\ufffd", "")


@pytest.fixture
def supervisor(settings, tmp_path):
    settings.SERVING_LORA = True
    settings.SERVING_POLL_SECONDS = 0.5
    settings.SERVING_DRAIN_SECONDS = 60
    settings.INFERENCE_RETRIES = 3
    supervisor = ServingSupervisor(host="127.0.0.1", port=free_port(), log_dir=tmp_path / "logs")
    settings.INFERENCE_URLS = [f"http://127.0.0.1:{supervisor.port}"]
    reset_engine()
    supervisor.start_in_thread()
    yield supervisor
    supervisor.shutdown()
    wait_for(lambda: supervisor.current is None or not supervisor.current.alive(), timeout=60, what="stopped")
    reset_engine()


def served_ready():
    return any(get_engine().health().values())


def ask(max_tokens: int = 16):
    return get_engine().chat(PASSWORD_MESSAGES, max_tokens=max_tokens)


def test_serving_plans_and_flags(db, trained_model, lora_model, settings):
    full = version_register(name="ft-full", path=trained_model, method="full")
    lora = version_register(name="ft-lora", path=lora_model, method="lora", parent=full)
    settings.SERVING_LORA = False
    assert serving_plan(lora).model_path == str(lora_model) and not serving_plan(lora).enable_lora
    settings.SERVING_LORA = True
    plan = serving_plan(lora)
    assert adapter_of(lora) == (lora_model.parent / "adapter", trained_model)
    assert (plan.model_path, plan.name, plan.adapter_path) == (
        str(trained_model),
        "ft-full",
        str(lora_model.parent / "adapter"),
    )
    argv, env = vllm_command(model_path=plan.model_path, version_name=plan.name, port=9, enable_lora=True)
    assert "--enable-lora" in argv and argv[argv.index("--max-lora-rank") + 1] == str(settings.VLLM_MAX_LORA_RANK)
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"


def test_promotion_switches_the_served_version_without_dropping_a_request(
    trained_model, lora_model, expected, supervisor
):
    full = version_register(name="ft-full", path=trained_model, method="full")
    lora = version_register(name="ft-lora", path=lora_model, method="lora", parent=full)
    merged = version_register(name="ft-merged", path=lora_model, method="full", parent=full)
    version_promote(version=full, force=True, reason="switching the served version under test")
    wait_for(served_ready, timeout=400, what="the first server is up")
    before = ask()
    assert (before.model, readable(before.text)) == ("ft-full", expected["base"])
    first_pid = supervisor.current.process.pid

    # Requests keep coming during both switches; none may fail.
    results, errors, stop = [], [], threading.Event()

    def traffic():
        while not stop.wait(0.2):  # steady, leaving the two cores room to start the next server
            try:
                results.append(ask(max_tokens=24))
            except ModelServerError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=traffic) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        # A LoRA version over the served base: hot-loaded into the same server, asked for by name.
        version_promote(version=lora, force=True, reason="switching the served version under test")
        hot = wait_for(lambda: (r := ask()).model == "ft-lora" and r, timeout=60, what="the adapter answers")
        assert readable(hot.text) == expected["lora"]
        assert supervisor.current.process.pid == first_pid  # no restart
        assert "ft-lora" in get_engine().served_models()

        # Merged weights: a second server starts, takes the new connections, the first is drained.
        version_promote(version=merged, force=True, reason="switching the served version under test")
        switched = wait_for(lambda: (r := ask()).model == "ft-merged" and r, timeout=600, what="the new server")
        assert readable(switched.text) == expected["lora"]
        assert supervisor.current.process.pid != first_pid
        wait_for(lambda: _gone(first_pid), timeout=120, what="the old server is stopped")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    assert errors == []
    assert {result.model for result in results} <= {"ft-full", "ft-lora", "ft-merged"}
    assert len(results) > 10


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie until reaped counts as gone
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_killing_the_server_mid_exam_loses_no_answer_and_pending_grades_complete(
    trained_model, supervisor, alice, demo_bank, settings
):
    from inference.grading import answer_grade_with_model
    from inference.tasks import grade_pending
    from quizbank.models import Answer, GradeStatus, QuestionType, SessionState
    from quizbank.services import paper_create, question_create, session_answer_save, session_finish, session_start

    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.GRADING_SWEEP_EVERY_SECONDS = 0
    version_promote(
        version=version_register(name="ft-full", path=trained_model, method="full"),
        force=True,
        reason="switching the served version under test",
    )
    choice = next(question for question in demo_bank if question.qtype == QuestionType.SINGLE_CHOICE)
    essay = question_create(
        data={
            "subject": "测试/评分",
            "qtype": QuestionType.ESSAY,
            "stem": "简述分数加法的步骤。",
            "answer": "先通分，再把分子相加。",
            "answer_data": {"rubric": [{"id": "1", "criterion": "通分", "points": 2}]},
            "score": 2,
        }
    )
    paper = paper_create(title="断电卷", questions=[choice, essay])
    wait_for(served_ready, timeout=400, what="the server is up")
    session = session_start(user=alice, paper=paper)
    items = {item.question_id: item.position for item in session.items.all()}
    session_answer_save(user=alice, session_id=session.pk, position=items[choice.pk], response=choice.answer)

    crashed = supervisor.current.process
    os.killpg(crashed.pid, signal.SIGKILL)  # the model server dies mid-exam
    crashed.wait(timeout=30)
    assert not served_ready()

    # The student goes on: saving and submitting never wait for the model.
    session_answer_save(user=alice, session_id=session.pk, position=items[essay.pk], response="先通分，再相加。")
    session_finish(user=alice, session_id=session.pk)
    session.refresh_from_db()
    assert session.state == SessionState.FINISHED
    answers = {answer.question_id: answer for answer in Answer.objects.filter(session=session)}
    assert set(answers) == {choice.pk, essay.pk}
    assert answers[choice.pk].grade_status == GradeStatus.AUTO and answers[choice.pk].is_correct is True
    assert answers[essay.pk].grade_status == GradeStatus.PENDING
    with pytest.raises(ModelServerError):  # the grading task retries on this, later
        answer_grade_with_model(answer_id=answers[essay.pk].pk)
    assert Answer.objects.get(pk=answers[essay.pk].pk).grade_status == GradeStatus.PENDING

    # The supervisor starts the server again; the grading sweep queues the pending answer.
    wait_for(served_ready, timeout=400, what="the server is back")
    assert supervisor.restarts == 1
    grade_pending.apply()
    graded = Answer.objects.get(pk=answers[essay.pk].pk)
    assert graded.grade_status in (GradeStatus.MODEL, GradeStatus.NEEDS_REVIEW)
    assert graded.grading_model_version == "ft-full" and graded.grading_attempts == 1
    assert graded.grading_raw
    assert Answer.objects.filter(session=session).count() == 2
