import json

from django.core.management.base import CommandError

from core.commands import ModelVersionCommand
from core.progress import progress_bar
from inference.engines import active_version_name, get_engine
from inference.explanations import bank_explain, version_served


class Command(ModelVersionCommand):
    help = (
        "Explain the bank's current questions with a version the model server serves (the active one unless "
        "--version names another), storing each explanation for the review pages. Only what that version has "
        "not explained yet is asked, so running it again goes on where a run stopped. With --json the last line "
        'is {"version", "explained", "failed", "total"}.'
    )

    def add_arguments(self, parser):
        parser.add_argument("--version", default="", help="the served version to explain with (default: the active)")
        parser.add_argument("--batch", type=int, default=32, help="questions sent to the server at once")
        parser.add_argument("--json", action="store_true", help="print only the JSON result")

    def handle(self, *args, version, batch, **options):
        version = version or active_version_name()
        if not version:
            raise CommandError("no version is active: promote one, or name one with --version")
        engine = get_engine()
        if not version_served(version_name=version, client=engine):
            raise CommandError(f"no model server serves {version}: start one (make run) and try again")
        if batch < 1:
            raise CommandError("--batch must be at least 1")
        with progress_bar(
            stream=self.stderr, unit="questions", description="explaining", enabled=not options["json"]
        ) as bar:
            state = bank_explain(
                version_name=version,
                client=engine,
                batch=batch,
                progress=(lambda s: bar(s.done + s.failed, s.total)) if bar else None,
            )
        result = {"version": version, "explained": state.done, "failed": state.failed, "total": state.total}
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(f"{version}: {state.done} of {state.total} questions explained, {state.failed} failed")
        if state.failed:
            self.stderr.write(f"{state.failed} failed: run the command again to ask for them again")
