from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from quizbank.importers import BankImportError
from quizbank.services import bank_import_file


class Command(BaseCommand):
    help = "Import question-bank files (quizsite-bank JSON or Alpaca JSON). A file with any bad row is not imported."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--subject", default="", help="subject path for records without one, e.g. 数学/函数")

    def handle(self, *args, files, subject, **options):
        failed = False
        for path in files:
            try:
                report = bank_import_file(path=path, subject=subject)
            except BankImportError as exc:
                failed = True
                self.stderr.write(f"{path}: not imported, {len(exc.errors)} error(s):")
                for error in exc.errors:
                    self.stderr.write(f"  {error}")
                continue
            self.stdout.write(f"{report.file}: {report.created} new, {report.duplicates} already in the bank")
        if failed:
            raise CommandError("some files were not imported")
