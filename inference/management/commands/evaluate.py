import json

from django.conf import settings
from django.core.management.base import CommandError

from core.commands import ModelVersionCommand
from inference.engines import get_engine
from inference.engines.base import ModelServerError
from inference.evaluation import evaluate_questions, version_evaluate
from quizbank.selectors import SPLITS, question_list
from tuning.models import ModelVersion, VersionState


class Command(ModelVersionCommand):
    help = (
        "Ask the running model server every single-choice question of the bank and report "
        '{"n", "answer_accuracy", "explanation_fidelity"} (the last line of output with --json). '
        "With --new-version, run the checks a newly trained version goes through instead, in this process "
        "(again, when they failed or were interrupted)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--version", default="", help="refuse unless the server is serving this version")
        parser.add_argument("--split", choices=SPLITS, default="all")
        parser.add_argument("--subject", default="")
        parser.add_argument("--limit", type=int, default=0)
        parser.add_argument("--concurrency", type=int, default=8)
        parser.add_argument("--max-tokens", type=int, default=256, help="longest answer generated per question")
        parser.add_argument("--json", action="store_true", help="print only the JSON result")
        parser.add_argument(
            "--new-version", default="", metavar="NAME", help="evaluate this trained version in process"
        )
        parser.add_argument("--promote", action="store_true", help="with --new-version: promote it once evaluated")

    def handle(self, *args, version, split, subject, limit, concurrency, max_tokens, **options):
        if options["new_version"]:
            return self._evaluate_new_version(options["new_version"], promote=options["promote"])
        client = get_engine()
        try:
            served = client.served_models()
        except ModelServerError as exc:
            raise CommandError(f"no model server at {', '.join(settings.INFERENCE_URLS)}: {exc.message}") from exc
        if version and version not in served:
            raise CommandError(
                f"the server is serving {served}, not {version!r}: run `manage.py serve_model --version {version}`"
            )
        questions = question_list(subject=subject, split=split)
        if limit:
            questions = questions[:limit]
        if not questions:
            raise CommandError("no questions in that split")
        result = evaluate_questions(questions, client=client, concurrency=concurrency, max_tokens=max_tokens)
        served_versions = [name for name in served if name != settings.INFERENCE_MODEL_NAME]
        result = {**result, "split": split, "version": served_versions[0] if served_versions else served[0]}
        if not options["json"]:
            self.stdout.write(f"asked {result['n']} questions of split {split!r} of version {result['version']}")
        self.stdout.write(json.dumps(result, ensure_ascii=False))

    def _evaluate_new_version(self, name: str, *, promote: bool) -> None:
        target = ModelVersion.objects.filter(name=name).first()
        if target is None:
            raise CommandError(f"no model version named {name!r}")
        if target.state == VersionState.EVALUATED:
            raise CommandError(f"{name} is already evaluated")
        evaluated = version_evaluate(version_id=target.pk, promote=promote, again=True)
        if evaluated is None:
            raise CommandError(f"{name} is {target.get_state_display().lower()}: nothing to evaluate")
        active = ", now active" if evaluated.is_active else ""
        self.stdout.write(f"{name}: {evaluated.get_state_display().lower()}{active}")
        self.stdout.write(json.dumps(evaluated.metrics.get("grading") or {}, ensure_ascii=False))
        if evaluated.state != VersionState.EVALUATED:
            raise CommandError(f"{name} could not be evaluated; its run's events say why")
