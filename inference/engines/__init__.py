"""Which engine answers, and which model version it serves.

`get_engine()` is the process-wide engine, built from settings: the model servers over HTTP
(`engines.http`), or with INFERENCE_BACKEND=transformers the model in this process
(`engines.local`). The active version (ModelVersion.is_active) is read here and nowhere else in
inference: `active_version()` for the supervisor that serves it, `active_version_name()` for the
HTTP engine that asks for it by name.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from inference.engines.base import Engine, ModelServerError
from inference.engines.http import HttpEngine

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from inference.engines.local import LocalEngine
    from tuning.models import ModelVersion

_engine: HttpEngine | None = None
_local_engine: LocalEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    """The process-wide engine: the model servers over HTTP, or with INFERENCE_BACKEND=transformers
    the model in this process (INFERENCE_LOCAL_PATH, else the active version's directory; a newly
    promoted version is picked up at the next call)."""
    global _engine, _local_engine
    if settings.INFERENCE_BACKEND == "transformers":
        # imported here: the web process never loads the in-process engine unless settings choose it
        from inference.engines.local import LocalEngine

        path, name = _local_model()
        with _engine_lock:
            if _local_engine is None or (str(_local_engine.path), _local_engine.model) != (path, name):
                _local_engine = LocalEngine(path, name)
            return _local_engine
    with _engine_lock:
        if _engine is None:
            _engine = HttpEngine(
                urls=settings.INFERENCE_URLS,
                model=settings.INFERENCE_MODEL_NAME,
                preferred=active_version_name,
                timeout=settings.INFERENCE_TIMEOUT,
                retries=settings.INFERENCE_RETRIES,
            )
        return _engine


def reset_engine() -> None:
    """Forget the process-wide engine: the next `get_engine()` builds one from the settings of then."""
    global _engine, _local_engine
    with _engine_lock:
        _engine = None
        _local_engine = None


def _active_versions() -> QuerySet[ModelVersion]:
    from tuning.models import ModelVersion

    return ModelVersion.objects.filter(is_active=True)


def active_version() -> ModelVersion | None:
    """The version promoted to be served, if any."""
    return _active_versions().first()


def active_version_name() -> str | None:
    name: str | None = _active_versions().values_list("name", flat=True).first()
    return name


def _local_model() -> tuple[str, str]:
    """(directory, version name) of the model to run in process."""
    from tuning.models import ModelVersion

    if settings.INFERENCE_LOCAL_PATH:
        path = str(Path(settings.INFERENCE_LOCAL_PATH))
        version = ModelVersion.objects.filter(path=path).order_by("-created_at").first()
        return path, version.name if version else Path(path).name
    active = active_version()
    if active is None:
        raise ModelServerError("no active model version to run in process")
    return str(Path(active.path)), active.name
