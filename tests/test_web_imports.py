"""The web process never imports torch, transformers, peft or vllm."""

import subprocess
import sys

from tests.conftest import REPO

SCRIPT = r"""
import importlib, pkgutil, sys, os
os.environ["DJANGO_SETTINGS_MODULE"] = "quizsite.settings"
os.environ["DATABASE_URL"] = "sqlite:///:memory:"
os.environ["INFERENCE_URLS"] = "http://127.0.0.1:9"
os.environ["INFERENCE_RETRIES"] = "0"
import django
django.setup()
for package in ("core", "quizsite", "quizbank", "inference", "tuning"):
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if info.name.startswith("tuning.training"):
            continue  # the training code: workers only
        importlib.import_module(info.name)
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("import_questions", "fixtures/demo_bank.json", verbosity=0)
call_command("seed_demo", verbosity=0)
from django.test import Client
from quizbank.models import Question
client = Client()
assert client.login(username="student1", password="quizsite-demo")
question = Question.objects.first()
assert client.get("/practice/").status_code == 200
assert client.get(f"/practice/questions/{question.pk}/").status_code == 200
assert client.post(f"/practice/questions/{question.pk}/", {"response": question.answer}).status_code == 302
assert client.get(f"/api/v1/questions/{question.pk}").status_code == 200
heavy = sorted(name for name in ("torch", "transformers", "peft", "vllm", "accelerate") if name in sys.modules)
print("HEAVY", heavy)
"""


def python_run(script: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    """The script in a fresh interpreter with a bare environment plus env; it must succeed."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_web_modules_and_requests_import_no_model_libraries(tmp_path):
    result = python_run(SCRIPT, tmp_path, MODEL_ROOT=str(tmp_path))
    assert "HEAVY []" in result.stdout


LOADED = r"""
import os, socket, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "quizsite.settings"
os.environ["DATABASE_URL"] = "sqlite:///:memory:"
connected = []
real_connect = socket.socket.connect
def connect(self, address):
    connected.append(address)
    return real_connect(self, address)
socket.socket.connect = connect
import quizsite.wsgi
wanted = ("quizbank.apis.sessions", "quizbank.exam_views", "inference.apis", "kombu.transport.redis")
print("LOADED", sorted(name for name in wanted if name in sys.modules), "CONNECTED", connected)
"""


def test_a_web_worker_loads_the_views_and_the_broker_library_before_its_first_request_connecting_nowhere(tmp_path):
    # On an exam day the first submissions reach every worker together: what they would load then is
    # loaded when the worker loads the app. The broker named here answers nowhere, and nothing connects.
    result = python_run(LOADED, tmp_path, CELERY_BROKER_URL="redis://127.0.0.1:9/0")
    loaded = ["inference.apis", "kombu.transport.redis", "quizbank.apis.sessions", "quizbank.exam_views"]
    assert f"LOADED {loaded} CONNECTED []" in result.stdout, result.stdout
