from django.core.management.base import BaseCommand, CommandError

from core.exceptions import ApplicationError
from quizbank.selectors import dataset_alpaca
from tuning.services import base_model_bootstrap


class Command(BaseCommand):
    help = (
        "Create the base model: a tiny random DeepSeek-R1-Distill-Qwen (Qwen2) model with a tokenizer trained on "
        "the bank, or register BASE_MODEL_PATH (a real DeepSeek checkpoint on disk) when that is set. The new base is "
        "scored on the evaluation suites before the command returns."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="build it again even if a base model exists")

    def handle(self, *args, force, **options):
        texts = [text for record in dataset_alpaca() for text in record.values() if text]
        try:
            version = base_model_bootstrap(texts=texts, force=force, inline=True)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        state = "active" if version.is_active else "not active"
        self.stdout.write(f"base model {version.name} ({version.method}, {state}): {version.path}")
