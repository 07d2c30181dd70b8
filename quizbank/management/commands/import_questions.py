import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.progress import progress_bar
from quizbank.importers.registry import formats
from quizbank.services import bank_import


class Command(BaseCommand):
    help = (
        "Import question files (format detected by extension and content, or --format). By default a file set "
        "with any bad row writes nothing; --skip-invalid imports the good rows and lists the rest."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--format", default="", choices=[""] + [fmt.name for fmt in formats()])
        parser.add_argument("--subject", default="", help="subject path for questions without one, e.g. 数学/函数")
        parser.add_argument(
            "--map", type=Path, default=None, metavar="MAPPING.json", help="read a layout no importer knows (README)"
        )
        parser.add_argument("--skip-invalid", action="store_true")
        parser.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
        parser.add_argument("--json", action="store_true", help="print the report as JSON on the last line")

    def handle(self, *args, paths, format, subject, skip_invalid, dry_run, **options):
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise CommandError(f"no such file: {', '.join(missing)}")
        # the rows are counted by the import's own progress reports, the same ones an upload's job shows
        with progress_bar(stream=self.stderr, unit="rows", description="reading", enabled=not options["json"]) as bar:
            report = bank_import(
                paths=paths,
                fmt=format,
                subject=subject,
                skip_invalid=skip_invalid,
                dry_run=dry_run,
                on_progress=bar,
                mapping=options["map"],
            )
            if bar:
                bar(report.rows_read)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False))
        else:
            for error in report.errors:
                self.stderr.write(f"  {error}")
            for warning in report.warnings:
                self.stderr.write(f"  warning: {warning}")
            verb = "would create" if dry_run else "created"
            self.stdout.write(
                f"{verb} {report.created}, {report.duplicates} already in the bank, {report.skipped} rejected"
                + ("" if not report.errors or skip_invalid else " — nothing written (fix the rows or --skip-invalid)")
            )
        if report.errors and (not skip_invalid or report.refused):
            raise CommandError(f"{len(report.errors)} error(s); nothing was written")
