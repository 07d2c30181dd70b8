"""get_engine picks the engine from settings, one per process, and is where inference reads which
model version is active."""

import re

import pytest

from inference.engines import active_version, active_version_name, get_engine, reset_engine
from inference.engines.base import Engine, ModelServerError
from inference.engines.http import HttpEngine
from tests.conftest import REPO
from tuning.models import ModelVersion


@pytest.fixture
def fresh_engine():
    reset_engine()
    yield
    reset_engine()


def test_the_http_engine_is_built_from_settings_once_per_process(settings, fresh_engine):
    settings.INFERENCE_BACKEND = "vllm"
    settings.INFERENCE_URLS = ["http://127.0.0.1:9", "http://127.0.0.1:10"]
    settings.INFERENCE_TIMEOUT, settings.INFERENCE_RETRIES = 7.0, 4
    engine = get_engine()
    assert isinstance(engine, HttpEngine) and isinstance(engine, Engine)
    assert (engine.urls, engine.model, engine.timeout, engine.retries) == (
        ["http://127.0.0.1:9", "http://127.0.0.1:10"],
        settings.INFERENCE_MODEL_NAME,
        7.0,
        4,
    )
    assert engine.preferred is active_version_name  # asks each server for the active version by name
    assert get_engine() is engine
    reset_engine()
    assert get_engine() is not engine


@pytest.mark.django_db
def test_the_active_version_is_read_here(settings):
    assert active_version() is None and active_version_name() is None
    ModelVersion.objects.create(name="old", path="/m/old", method="full")
    active = ModelVersion.objects.create(name="ft-2", path="/m/ft-2", method="full", is_active=True)
    assert active_version() == active and active_version_name() == "ft-2"


@pytest.mark.django_db
def test_in_process_without_an_active_version_is_a_clear_error(settings, fresh_engine):
    settings.INFERENCE_BACKEND, settings.INFERENCE_LOCAL_PATH = "transformers", ""
    with pytest.raises(ModelServerError, match="no active model version"):
        get_engine()


def test_no_other_inference_module_looks_up_the_active_version():
    readers = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "inference").rglob("*.py"))
        if re.search(r"is_active\s*=\s*True", path.read_text(encoding="utf-8")) and "migrations" not in path.parts
    ]
    assert readers == ["inference/engines/__init__.py"]
