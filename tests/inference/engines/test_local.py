"""The in-process transformers backend: the same interface and, for the same greedy request, the same
text as the vLLM server; chosen by INFERENCE_BACKEND."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from inference.engines import get_engine, reset_engine
from inference.engines.local import LocalEngine
from quizbank import prompts
from tests.conftest import REPO, demo_records

KEYS = ["A", "B", "C", "D"]


@pytest.fixture
def local_backend(settings):
    settings.INFERENCE_BACKEND = "transformers"
    reset_engine()
    yield settings
    reset_engine()


def test_a_bad_backend_is_refused_at_start():
    env = {**os.environ, "INFERENCE_BACKEND": "ollama", "DJANGO_SETTINGS_MODULE": "quizsite.settings"}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "INFERENCE_BACKEND: 'ollama' is not one of vllm, transformers" in done.stderr


# --- on the random tiny model: the interface, fast ------------------------------------------------


def test_stream_batch_and_single_calls_agree(tiny_base_model):
    client = LocalEngine(tiny_base_model, "base")
    conversations = [prompts.prompt_messages(record) for record in demo_records()[:5]]
    singles = [client.chat(messages, max_tokens=12) for messages in conversations]
    assert all(result.model == "base" and result.server == "local" for result in singles)
    batched = client.chat_many([{"messages": messages, "max_tokens": 12} for messages in conversations])
    assert [result.text for result in batched] == [result.text for result in singles]  # left padding changes nothing
    stream = client.chat_stream(conversations[0], max_tokens=12)
    assert stream.model == "base"
    assert "".join(stream) == singles[0].text
    assert client.served_models() == ["base"] and client.served_version("local") == "base"
    assert client.health() == {"local": True}


def test_the_answer_format_holds_even_on_an_untrained_model(tiny_base_model):
    client = LocalEngine(tiny_base_model, "base")
    pattern = prompts.choice_output_pattern(KEYS)
    requests_ = [
        {"messages": prompts.prompt_messages(record), "max_tokens": 24, "regex": pattern}
        for record in demo_records()[:3]
    ]
    requests_.append({"messages": requests_[0]["messages"], "max_tokens": 24})  # unconstrained: its own batch
    results = client.chat_many(requests_, concurrency=2)
    for result in results[:3]:
        assert re.fullmatch(pattern, result.text) or (
            result.finish_reason == "length" and re.match(r"答案：[ABCD]\n解析：", result.text)
        ), result.text
    assert prompts.parse_output(results[0].text).answer in KEYS
    assert not results[3].text.startswith("答案：")  # the random model, left free


def test_ids_are_the_trainers(tiny_base_model):
    from transformers import AutoTokenizer

    from tuning.training.data import prompt_ids

    record = demo_records()[0]
    result = LocalEngine(tiny_base_model, "base").chat(
        prompts.prompt_messages(record), max_tokens=1, return_token_ids=True
    )
    assert result.prompt_token_ids == prompt_ids(AutoTokenizer.from_pretrained(tiny_base_model), record)


# --- on the trained model, beside the vLLM server --------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db
def test_the_local_backend_answers_as_the_server_does(served, trained_model, demo_bank):
    from inference.explanations import explanation_from_result, question_chat_request

    server = get_engine()
    local = LocalEngine(trained_model, "ft-test")
    questions = demo_bank[3::40]
    requests_ = [question_chat_request(question, max_tokens=128) for question in questions]
    for question, request in zip(questions, requests_, strict=True):
        by_server, by_local = server.chat(**request), local.chat(**request)
        assert by_local.model == by_server.model == "ft-test"
        # Both decode greedily in float32 with the same template and answer format; the answer letter
        # must agree whatever the numerics, and on this model the whole text does.
        assert explanation_from_result(by_local.text, "").answer == explanation_from_result(by_server.text, "").answer
        assert explanation_from_result(by_local.text, "").answer == question.answer
        assert by_local.text == by_server.text
    many = local.chat_many(requests_)
    assert [result.text for result in many] == [local.chat(**request).text for request in requests_]
    plain = {key: value for key, value in requests_[0].items() if key != "regex"}
    assert "".join(local.chat_stream(**plain)) == local.chat(**plain).text


@pytest.mark.slow
@pytest.mark.django_db
def test_get_engine_runs_the_active_version_in_process(local_backend, trained_model, demo_bank):
    from inference.explanations import question_explain
    from tuning.services import version_promote, version_register

    version_promote(version=version_register(name="ft-local", path=trained_model, method="full"))
    client = get_engine()
    assert isinstance(client, LocalEngine) and client.model == "ft-local"
    assert get_engine() is client  # one per process
    question = demo_bank[11]
    explained = question_explain(question=question)
    assert explained.model == "ft-local"
    assert explained.answer == question.answer

    local_backend.INFERENCE_LOCAL_PATH = str(trained_model)
    assert get_engine().model == "ft-local"  # the version registered at that path
