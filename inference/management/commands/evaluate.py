import json

from django.core.management.base import CommandError

from core.commands import ModelVersionCommand
from core.exceptions import ApplicationError
from core.progress import progress_bar
from inference.engines import get_engine
from inference.engines.base import ModelServerError
from inference.evaluation import IN_PROCESS, SERVER, local_engine, version_evaluate
from inference.evaluation.scoring import SUMMARY_KEYS, score_version
from inference.evaluation.suites import suite_named
from tuning.models import ModelVersion, VersionState


class Command(ModelVersionCommand):
    help = (
        "Score a model version on an evaluation suite (bank-heldout, bank-trained, grading-heldout, or one made "
        "with `manage.py suites --create`) through the model server, and print the result; its last line with "
        '--json is {"version", "answered_by", "suite", "n", "answer_accuracy", "ci95": [lo, hi], '
        '"explanation_fidelity", "grading_qwk"}. Fails when the server serves another version (score it in '
        "this process with --in-process). With --new-version, run the checks a newly trained version goes "
        "through instead (again, when they failed or were interrupted)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--version", default="", help="the model version to score")
        parser.add_argument("--suite", default="bank-heldout", help="the suite to score it on")
        parser.add_argument(
            "--in-process", action="store_true", help="load the version here instead of asking a server"
        )
        parser.add_argument("--again", action="store_true", help="score again even if already scored on this revision")
        parser.add_argument("--json", action="store_true", help="print only the JSON result")
        parser.add_argument(
            "--new-version", default="", metavar="NAME", help="evaluate this trained version in process"
        )
        parser.add_argument("--promote", action="store_true", help="with --new-version: promote it once evaluated")

    def handle(self, *args, version, suite, in_process, again, **options):
        if options["new_version"]:
            return self._evaluate_new_version(options["new_version"], promote=options["promote"])
        target = ModelVersion.objects.filter(name=version).first() if version else None
        if target is None:
            raise CommandError(f"no model version named {version!r}" if version else "name the version: --version NAME")
        if in_process:
            engine, kind = local_engine(target.path, target.name), IN_PROCESS
        else:
            engine, kind = get_engine(), SERVER
            try:
                served = engine.served_models()
            except ModelServerError as exc:
                raise CommandError(
                    f"no model server answers ({exc.message}): start it, or score {target.name} with --in-process"
                ) from exc
            if target.name not in served and engine.model != target.name:
                raise CommandError(
                    f"{target.name} is not being served (the server serves {', '.join(served)}): "
                    f"serve it with `manage.py serve_model --version {target.name}`, or use --in-process"
                )
        try:
            chosen = suite_named(suite, version=target)
            with progress_bar(
                stream=self.stderr, unit="items", description="scoring", enabled=not options["json"]
            ) as bar:
                run = score_version(
                    version=target, suite=chosen, engine=engine, engine_kind=kind, again=again, on_progress=bar
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        result = {
            "version": target.name,
            "answered_by": run.answered_by,
            "suite": chosen.name,
            "revision": chosen.revision,
            "engine": run.engine,
        } | {key: run.metrics.get(key) for key in SUMMARY_KEYS}
        if not options["json"]:
            self.stdout.write(
                f"{target.name} on {chosen} ({run.engine}): {result['n']} items, accuracy {result['answer_accuracy']}"
            )
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
        self.stdout.write(json.dumps(evaluated.metrics.get("suites") or {}, ensure_ascii=False))
        if evaluated.state != VersionState.EVALUATED:
            raise CommandError(f"{name} could not be evaluated; its run's events say why")
