"""The base-model registry: checkpoints registered as base versions, checked before anything trains on them.

A checkpoint (Hugging Face layout: config.json, a tokenizer, safetensors) is registered when transformers
can train its architecture and vLLM can serve it. Without a chat template the project's one
(quizbank.prompts.DEEPSEEK_CHAT_TEMPLATE) is written beside it, and the registration says so: a model
trained with one template and served with another answers badly. A config alone registers for estimates
only (`config_only`): it has no weights, so it is never trained nor served.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction

from core.exceptions import ApplicationError
from quizbank import prompts
from tuning.checkpoints import TEMPLATE_FILE, CheckpointError, config_path, read_checkpoint, support_problems
from tuning.models import ModelVersion, VersionState
from tuning.services import version_register

TEMPLATE_APPLIED = "no chat template: the DeepSeek template the project trains and serves with was written to {path}"


def base_model_register(*, name: str, path: Path | str, config_only: bool = False) -> ModelVersion:
    """Check the checkpoint at `path` and register it as base version `name`.

    Refused, with the reason: a name in use, no config.json, an architecture transformers cannot train or
    vLLM cannot serve, and (unless `config_only`) no tokenizer or no safetensors weights. What was done
    on the way (a template applied) is listed in the version's spec["notes"].
    """
    name = name.strip()
    if not name:
        raise ApplicationError("a base model needs a name", extra={"field": "name"})
    if ModelVersion.objects.filter(name=name).exists():
        raise ApplicationError(f"a model version named {name!r} exists already", extra={"field": "name"})
    try:
        checkpoint = read_checkpoint(path)
    except CheckpointError as exc:
        raise ApplicationError(str(exc), extra={"field": "path"}) from exc
    problems = support_problems(checkpoint)
    if not config_only:
        if not checkpoint.has_tokenizer:
            problems.append("no tokenizer (tokenizer.json, tokenizer.model or vocab.json) beside config.json")
        if checkpoint.weight_parameters is None:
            problems.append("no safetensors weights (register it with config_only to estimate with it)")
    if problems:
        raise ApplicationError(
            f"{checkpoint.architecture or 'the model'} at {path} cannot be registered: {'; '.join(problems)}",
            extra={"field": "path", "problems": problems},
        )
    notes = []
    if config_only:
        directory = _config_copy(name=name, path=path)
    else:
        directory = checkpoint.path
        if not checkpoint.has_template:
            notes.append(_template_apply(directory))
    with transaction.atomic():
        version = version_register(
            name=name,
            path=directory,
            method="config" if config_only else "checkpoint",
            state=VersionState.EVALUATED,
            config_only=config_only,
        )
        version.spec = {**version.spec, "notes": notes}
        version.save(update_fields=["spec"])
    return version


def _config_copy(*, name: str, path: Path | str) -> Path:
    """A config registered alone is kept under MODEL_ROOT (the file it came from may go)."""
    directory = Path(settings.MODEL_ROOT) / "configs" / name
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config_path(path), directory / "config.json")
    return directory


def _template_apply(directory: Path) -> str:
    target = directory / TEMPLATE_FILE
    try:
        target.write_text(prompts.DEEPSEEK_CHAT_TEMPLATE, encoding="utf-8")
    except OSError as exc:
        raise ApplicationError(
            f"{directory} has no chat template and the DeepSeek one cannot be written there ({exc}); add "
            f"{TEMPLATE_FILE} or a chat_template in tokenizer_config.json",
            extra={"field": "path"},
        ) from exc
    return TEMPLATE_APPLIED.format(path=target)
