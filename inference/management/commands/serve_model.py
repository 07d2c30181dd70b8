from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError, CommandParser

from core.commands import ModelVersionCommand
from inference.engines import active_version
from inference.engines.http import model_server_api_key
from inference.serving.plans import serving_plan
from inference.serving.process import serving_device, vllm_command
from inference.serving.supervisor import ServingSupervisor
from tuning.models import ModelVersion


class Command(ModelVersionCommand):
    help = (
        "Serve the active model version (or --version) through vLLM's OpenAI-compatible server on VLLM_PORT, "
        "switching to a newly promoted version without dropping requests and restarting a server that dies."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--version", default="", help="serve this model version, not the active one")
        parser.add_argument("--port", type=int, default=None)
        parser.add_argument("--print", action="store_true", help="print the vLLM command instead of serving")

    def handle(self, *args: Any, version: str, port: int | None, **options: Any) -> None:
        try:
            model_server_api_key()  # production: VLLM_API_KEY must be set
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        model = ModelVersion.objects.filter(name=version).first() if version else active_version()
        if model is None:
            raise CommandError(
                f"no model version named {version!r}"
                if version
                else "no active model version: run `manage.py bootstrap_model` (and `manage.py tune`) first"
            )
        plan = serving_plan(model)
        if options["print"]:
            argv, _ = vllm_command(
                model_path=plan.model_path,
                version_name=plan.name,
                port=port,
                enable_lora=plan.enable_lora or settings.SERVING_LORA,
            )
            self.stdout.write(" ".join(argv))  # the API key is not in it: vLLM reads VLLM_API_KEY
            return
        port = port or settings.VLLM_PORT
        self.stdout.write(
            f"serving {model.name} ({plan.model_path}) on {serving_device()}, {settings.VLLM_HOST}:{port}, API key required"
        )
        self.stdout.flush()
        ServingSupervisor(host=settings.VLLM_HOST, port=port, log_dir=settings.VAR_DIR / "logs", version=version).run()
