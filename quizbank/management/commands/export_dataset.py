from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from quizbank.exporters import EXPORT_FORMATS, exporter
from quizbank.selectors import SPLITS, questions_iter

TRAINING_FORMATS = ("alpaca", "sharegpt", "llamafactory")


class Command(BaseCommand):
    help = (
        "Export the bank: training data (alpaca: a JSON list of {instruction, input, output}; sharegpt: "
        "messages JSONL; llamafactory: a dataset folder) or exchange files (gift, moodle-xml, xlsx)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=EXPORT_FORMATS, default="alpaca")
        parser.add_argument("--out", type=Path, required=True, help="a file, or a folder for llamafactory")
        parser.add_argument("--subject", default="", help="only this subject path and below")
        parser.add_argument("--split", choices=SPLITS, default="all")
        parser.add_argument(
            "--task", choices=["explain"], default="explain", help="explain: answer and 解析 for each question"
        )
        parser.add_argument(
            "--allow-non-commercial",
            action="store_true",
            help="include evaluation-only sources (CC BY-NC: C-Eval, CMMLU) in training data",
        )

    def handle(self, *args, format, out, subject, split, allow_non_commercial, **options):
        training = format in TRAINING_FORMATS
        questions = questions_iter(
            subject=subject, split=split, allow_non_commercial=allow_non_commercial or not training
        )
        count = exporter(format)(questions, out)
        if not count:
            raise CommandError("no questions match; import a bank first (manage.py import_questions)")
        self.stdout.write(f"wrote {count} {'records' if training else 'questions'} to {out}")
