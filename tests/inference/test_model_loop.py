"""The whole loop on a real vLLM CPU server: trained tiny model → served → explanations, evaluation."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient
from transformers import AutoTokenizer

from inference.engines import get_engine
from quizbank.prompt_inputs import question_record
from tests.conftest import VLLMServer
from tuning.training.data import prompt_ids

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def last_json_line(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_the_server_gets_exactly_the_token_ids_the_trainer_built(served, trained_model, demo_bank):
    """Chat-template parity: a model is served with the template it was trained on."""
    from quizbank import prompts

    tokenizer = AutoTokenizer.from_pretrained(trained_model)
    for question in demo_bank[::17]:
        record = question_record(question)
        result = get_engine().chat(prompts.prompt_messages(record), max_tokens=1, return_token_ids=True)
        assert result.prompt_token_ids == prompt_ids(tokenizer, record)


def test_a_student_gets_the_served_models_explanation(served, alice, demo_bank):
    api = APIClient()
    api.force_authenticate(alice)
    question = demo_bank[5]
    wrong = next(key for key in question.option_keys if key != question.answer)
    body = api.post(reverse("api-v1-question-answers", args=[question.pk]), {"response": wrong}, format="json").json()
    assert body["is_correct"] is False
    assert body["explanation_source"] == "model" and body["ai_generated"] is True
    assert body["model_version"] == "ft-test"
    assert body["model_answer"] == question.answer
    assert body["explanation"] == question.explanation  # the tuned model reproduces the bank's 解析


def test_the_answer_page_shows_the_ai_explanation(served, client, alice, demo_bank):
    client.force_login(alice)
    question = demo_bank[7]
    response = client.post(reverse("practice-question", args=[question.pk]), {"response": question.answer}, follow=True)
    html = response.content.decode()
    assert "✓ 正确" in html and "AI 生成 · ft-test" in html
    assert question.explanation in html


def _suite_of_the_whole_bank() -> None:
    from inference.evaluation.suites import bank_suite
    from quizbank.models import Question

    root = Question.objects.values_list("subject__path", flat=True).first().split("/")[0]
    bank_suite(name="demo-bank", subject=root)  # every subject of the demo bank: 数学/…


def test_evaluate_scores_the_served_version_and_refuses_one_not_served(
    served, demo_bank, trained_model, tiny_base_model, settings, capsys
):
    from inference.models import EvalRun

    settings.EVALUATION_MAX_TOKENS = 192  # the whole 解析: its fidelity is measured
    from tuning.services import version_register

    version_register(name="ft-test", path=trained_model, method="full")
    version_register(name="base", path=tiny_base_model, method="bootstrap")
    _suite_of_the_whole_bank()
    call_command("evaluate", "--json", "--version", "ft-test", "--suite", "demo-bank")
    result = last_json_line(capsys.readouterr().out)
    assert result["version"] == result["answered_by"] == "ft-test" and result["engine"] == "server"
    assert result["n"] == 100 and result["suite"] == "demo-bank"
    assert result["answer_accuracy"] >= 0.9 and result["ci95"][0] <= result["answer_accuracy"] <= result["ci95"][1]
    assert result["explanation_fidelity"] >= 0.9
    assert EvalRun.objects.get(version__name="ft-test").results.filter(answered_by="ft-test").count() == 100
    with pytest.raises(CommandError, match=r"base is not being served \(the server serves .*ft-test"):
        call_command("evaluate", "--json", "--version", "base", "--suite", "demo-bank")
    assert not EvalRun.objects.filter(version__name="base").exists()  # nothing stored under a name that did not answer
    with pytest.raises(CommandError, match="no model version named 'ft-99'"):
        call_command("evaluate", "--json", "--version", "ft-99")


def test_before_tuning_evaluate_shows_chance_level(settings, tiny_base_model, demo_bank, tmp_path, capsys):
    from inference.engines import reset_engine
    from tuning.services import version_register

    settings.EVALUATION_MAX_TOKENS = 48
    version_register(name="base", path=tiny_base_model, method="bootstrap")
    _suite_of_the_whole_bank()
    server = VLLMServer(tiny_base_model, "base", tmp_path / "base-server.log")
    try:
        server.wait_ready()
        settings.INFERENCE_URLS = [server.url]
        reset_engine()
        call_command("evaluate", "--json", "--version", "base", "--suite", "demo-bank")
    finally:
        server.stop()
        reset_engine()
    result = last_json_line(capsys.readouterr().out)
    assert result["n"] == 100 and result["answered_by"] == "base"
    assert result["answer_accuracy"] <= 0.45  # four options: chance is 0.25
    assert result["explanation_fidelity"] < 0.5
