import json

from django.core.management.base import BaseCommand

from inference.selectors import versions_table


class Command(BaseCommand):
    help = (
        "The model versions side by side on the evaluation suites: with --json a list of "
        '{"name", "method", "status", "active", "suites": {SUITE: {"n", "answer_accuracy", '
        '"explanation_fidelity", "grading_qwk"}}}.'
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the table as JSON")

    def handle(self, *args, **options):
        table = versions_table()
        if options["json"]:
            self.stdout.write(json.dumps(table, ensure_ascii=False))
            return
        for row in table:
            marker = "*" if row["active"] else " "
            scores = "  ".join(
                f"{name}: {_shown(suite.get('answer_accuracy'))} (n={suite.get('n')})"
                for name, suite in row["suites"].items()
            )
            self.stdout.write(f"{marker} {row['name']:<12} {row['method']:<10} {row['status']:<17} {scores or '—'}")


def _shown(value) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) else "—"
