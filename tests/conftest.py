"""Shared fixtures: personas, the demo bank, a tiny trained model and a real vLLM server.

Slow fixtures are session-scoped: the tiny model is trained once (about two minutes on two
CPU cores) and one vLLM server (about a minute to start) serves every test that needs it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parent.parent
DEMO_BANK = REPO / "fixtures" / "demo_bank.json"
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_model_root(settings, tmp_path):
    settings.MODEL_ROOT = tmp_path / "models"
    settings.MEDIA_ROOT = tmp_path / "media"  # question images
    settings.BASE_MODEL_PATH = ""
    # Personas are created in most tests: a real password hash costs ~0.4 s each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests that want the model's queued work (grading, explanation batches) switch it on themselves.
    settings.MODEL_TASKS_ON_EVENTS = False
    # Tests age and revoke tokens by editing their rows, which a process's memory of checked tokens
    # cannot see; the tests of that memory switch it on themselves.
    settings.API_TOKEN_CACHE_SECONDS = 0


@pytest.fixture(autouse=True)
def _short_evaluations(settings):
    """Every trained version is scored on the evaluation suites in process: the answer letter comes first,
    so a short budget scores accuracy the same in far less time. Tests of explanation fidelity raise it."""
    settings.EVALUATION_MAX_TOKENS = 16


@pytest.fixture(autouse=True)
def _empty_cache():
    """Rate-limit counts are kept in the cache by user id, and ids repeat from one test to the next; so
    are what a process remembers of checked tokens and of exam sessions."""
    from django.core.cache import cache

    from core.tokens import checked_tokens
    from quizbank.selectors.access import paper_assignments_forget
    from quizbank.selectors.papers import fixed_paper_slots_forget
    from quizbank.services.autosave import facts_forget

    cache.clear()
    checked_tokens.forget_all()
    facts_forget()
    fixed_paper_slots_forget()
    paper_assignments_forget()


@pytest.fixture
def alice(django_user_model):
    """alice, a student."""
    return django_user_model.objects.create_user("alice", password="alice-pass-123")


@pytest.fixture
def bob(django_user_model):
    """bob, another student."""
    return django_user_model.objects.create_user("bob", password="bob-pass-123")


def _member_of(django_user_model, username: str, group: str):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(username, password=f"{username}-pass-123")
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def carol(django_user_model):
    """carol, a teacher."""
    return _member_of(django_user_model, "carol", "teacher")


@pytest.fixture
def dave(django_user_model):
    """dave, an admin."""
    return _member_of(django_user_model, "dave", "admin")


@pytest.fixture
def demo_bank(db):
    from quizbank.services import bank_import_file

    bank_import_file(path=DEMO_BANK)
    from quizbank.models import Question

    return list(Question.objects.order_by("id"))


def demo_records() -> list[dict]:
    """The demo bank as instruction records, without a database (for session fixtures)."""
    from quizbank import prompts

    bank = json.loads(DEMO_BANK.read_text(encoding="utf-8"))
    return [
        prompts.instruction_record(
            qtype=q["type"], stem=q["stem"], options=q["options"], answer=q["answer"], explanation=q["explanation"]
        )
        for q in bank["questions"]
    ]


def _built_once(tmp_path_factory, name: str, build) -> Path:
    """What `build(directory)` makes, once per test session even with parallel workers (pytest-xdist):
    the first worker builds it under a lock in the session's shared temporary directory, the others
    wait and use it. `build` returns the path to hand out, which is kept beside the result."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this session
    directory = root / f"built-{name}"
    pointer = root / f"built-{name}.path"
    with FileLock(str(root / f"built-{name}.lock")):
        if not pointer.exists():
            directory.mkdir(parents=True, exist_ok=True)
            pointer.write_text(str(build(directory)), encoding="utf-8")
    return Path(pointer.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory) -> Path:
    """A freshly bootstrapped (random) tiny model with a tokenizer trained on the demo bank."""

    def build(directory: Path) -> Path:
        from tuning.training.bootstrap import bootstrap_tiny_model

        texts = [text for record in demo_records() for text in record.values() if text]
        bootstrap_tiny_model(texts, directory / "tiny")
        return directory / "tiny"

    return _built_once(tmp_path_factory, "tiny-base", build)


@pytest.fixture
def base_version(tiny_base_model):
    """The tiny base model, registered and active (as bootstrap_model leaves it)."""
    from tuning.services import version_promote, version_register

    return version_promote(version=version_register(name="base", path=tiny_base_model, method="bootstrap"))


@pytest.fixture
def fake_training(monkeypatch, tiny_base_model):
    """run_training without the training: the base model's directory stands in for the result."""
    from tuning.training import workflow

    def trained(config, **kwargs):
        return workflow.TrainingResult(model_dir=tiny_base_model, metrics={"eval": {"answer_accuracy": 0.5}})

    monkeypatch.setattr(workflow, "run_training", trained)


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "demo.json"
    path.write_text(json.dumps(demo_records(), ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained_model(tiny_base_model, demo_dataset, tmp_path_factory) -> Path:
    """The tiny model fully fine-tuned until it has learnt the demo bank (the demo's settings)."""

    def build(directory: Path) -> Path:
        from tuning.training.config import TuningConfig, preset
        from tuning.training.workflow import run_training

        config = TuningConfig(
            model_name_or_path=str(tiny_base_model),
            dataset_path=str(demo_dataset),
            output_dir=str(directory),
            **preset("full", dataset_size=100, memorise=True),
        )
        return run_training(config).model_dir

    return _built_once(tmp_path_factory, "trained", build)


def _free_port() -> int:
    from core.ports import free_port

    return free_port()


class VLLMServer:
    def __init__(self, model_dir: Path, version_name: str, log_path: Path):
        from inference.serving.process import GUARD, STOP_GRACE, pin, vllm_command

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.version_name = version_name
        argv, env = vllm_command(model_path=model_dir, version_name=version_name, port=self.port)
        # the key the server requires (the configured one: the app's client sends the same)
        self.api_key = env["VLLM_API_KEY"]
        self.headers = {"Authorization": f"Bearer {self.api_key}"}
        self.log_path = log_path
        self._log = log_path.open("wb")
        # under the serving supervisor's guard: when this test process ends however it ends (a SIGTERM
        # from `timeout` skips fixture teardown), the pipe closes and the guard stops the server's session
        lifeline, self._lifeline = os.pipe()
        guarded = [sys.executable, "-c", GUARD, str(lifeline), str(STOP_GRACE), "", *argv]
        try:
            self.process = subprocess.Popen(
                guarded, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                pass_fds=(lifeline,),
            )  # fmt: skip
        finally:
            os.close(lifeline)
        pin(self.process.pid)  # every core, not the one core a thread that ran torch may be pinned to

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vLLM exited with {self.process.returncode}:\n{self.log_path.read_text()[-4000:]}")
            try:
                if requests.get(f"{self.url}/v1/models", headers=self.headers, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"vLLM did not start in {timeout} s:\n{self.log_path.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        os.close(self._lifeline)
        self._log.close()


@pytest.fixture(scope="session")
def vllm_server(trained_model, tmp_path_factory):
    """A real vLLM CPU server on the trained tiny model, for the whole session."""
    server = VLLMServer(trained_model, "ft-test", tmp_path_factory.mktemp("vllm") / "server.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def served(settings, vllm_server):
    """Point the app at the session's vLLM server."""
    from inference.engines import reset_engine

    settings.INFERENCE_URLS = [vllm_server.url]
    reset_engine()
    yield vllm_server
    reset_engine()


@pytest.fixture
def no_model_server(settings):
    """Point the app at a port where nothing listens."""
    from inference.engines import reset_engine

    settings.INFERENCE_URLS = [f"http://127.0.0.1:{_free_port()}"]
    settings.INFERENCE_RETRIES = 1
    reset_engine()
    yield
    reset_engine()
