import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from quizbank.selectors import SPLITS, dataset_alpaca


class Command(BaseCommand):
    help = 'Export the bank as instruction data: a JSON list of {"instruction", "input", "output"}.'

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["alpaca"], default="alpaca")
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--subject", default="", help="only this subject path and below")
        parser.add_argument("--split", choices=SPLITS, default="all")

    def handle(self, *args, out, subject, split, **options):
        records = dataset_alpaca(subject=subject, split=split)
        if not records:
            raise CommandError("no questions match; import a bank first (manage.py import_questions)")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(records, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        self.stdout.write(f"wrote {len(records)} records to {out}")
