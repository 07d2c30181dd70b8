import os

from django.core.management.base import CommandError

from inference.serving import serving_device, vllm_command
from quizsite.commands import ModelVersionCommand
from tuning.models import ModelVersion


class Command(ModelVersionCommand):
    help = "Run vLLM's OpenAI-compatible server on the active model version (or --version)."

    def add_arguments(self, parser):
        parser.add_argument("--version", default="", help="model version name (default: the active one)")
        parser.add_argument("--port", type=int, default=None)
        parser.add_argument("--print", action="store_true", help="print the command instead of running it")

    def handle(self, *args, version, port, **options):
        model = (
            ModelVersion.objects.filter(name=version).first()
            if version
            else ModelVersion.objects.filter(is_active=True).first()
        )
        if model is None:
            raise CommandError(
                f"no model version named {version!r}"
                if version
                else "no active model version: run `manage.py bootstrap_model` (and `manage.py tune`) first"
            )
        argv, env = vllm_command(model_path=model.path, version_name=model.name, port=port)
        if options["print"]:
            self.stdout.write(" ".join(argv))
            return
        self.stdout.write(f"serving {model.name} ({model.path}) on {serving_device()}")
        self.stdout.flush()
        os.execve(argv[0], argv, env)  # noqa: S606 (the server replaces this process, so signals reach it)
