import json

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import ApplicationError
from inference.evaluation.suites import BUILT_IN, bank_suite
from inference.models import EvalSuite


class Command(BaseCommand):
    help = (
        "List the evaluation suites, or make one from a subject or an imported source (a benchmark file such as "
        "C-Eval's val split, once imported): every new version is then scored on it. --deactivate NAME stops "
        "scoring new versions on a suite (its scores stay)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--create", default="", metavar="NAME", help="a new suite of this name")
        parser.add_argument("--subject", default="", help="with --create: the subject path, e.g. 数学/函数")
        parser.add_argument("--source", default="", help="with --create: the source dataset or file name")
        parser.add_argument("--deactivate", default="", metavar="NAME")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, create, subject, source, deactivate, **options):
        if create:
            try:
                suite = bank_suite(name=create, subject=subject, source=source)
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(f"suite {suite} with {suite.items.count()} items")
            return
        if deactivate:
            if deactivate in BUILT_IN:
                raise CommandError(f"{deactivate} is built in")
            if not EvalSuite.objects.filter(name=deactivate).update(is_active=False):
                raise CommandError(f"no suite named {deactivate!r}")
            self.stdout.write(f"{deactivate}: new versions are no longer scored on it")
            return
        rows = [
            {
                "name": suite.name,
                "revision": suite.revision,
                "kind": suite.kind,
                "selector": suite.selector,
                "items": suite.items.count(),
                "active": suite.is_active,
                "frozen": suite.frozen_at is not None,
                "versions": suite.runs.count(),
            }
            for suite in EvalSuite.objects.order_by("name", "revision")
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False))
            return
        for row in rows:
            state = "frozen" if row["frozen"] else "open"
            self.stdout.write(
                f"{row['name']}@{row['revision']:<3} {row['kind']:<8} {row['items']:>5} items  {state:<6} "
                f"scored for {row['versions']} version(s)  {row['selector']}"
            )
