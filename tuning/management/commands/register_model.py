import json

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import ApplicationError
from tuning.registry import base_model_register


class Command(BaseCommand):
    help = (
        "Register a Hugging Face-layout checkpoint (config.json, tokenizer with a chat template, safetensors) "
        "as a base model version, after checking that transformers trains it and vLLM serves it."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the checkpoint directory (or, with --config-only, its config.json)")
        parser.add_argument("--name", required=True, help="the version's name, e.g. r1-distill-qwen-7b")
        parser.add_argument(
            "--config-only",
            action="store_true",
            help="register the config alone, for estimates only: it can be neither trained nor served",
        )
        parser.add_argument("--json", action="store_true", help="print the registered version as JSON")

    def handle(self, *args, **opts):
        try:
            version = base_model_register(name=opts["name"], path=opts["path"], config_only=opts["config_only"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        summary = {
            "name": version.name,
            "architecture": version.architecture,
            "params": version.parameters,
            "config_only": version.config_only,
            "path": version.path,
            "notes": version.spec.get("notes", []),
        }
        if opts["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False))
            return
        kind = "config only (estimates)" if version.config_only else "base model"
        self.stdout.write(
            f"registered {version.name}: {version.architecture}, {version.parameters / 1e9:.2f}B parameters, {kind}"
        )
        for note in summary["notes"]:
            self.stdout.write(note)
