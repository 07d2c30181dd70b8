from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.progress import counted, progress_bar
from quizbank.exporters import EXPORT_FORMATS, TRAINING_FORMATS
from quizbank.exporters.training import export_grading
from quizbank.selectors import SPLITS, teacher_graded_answers
from quizbank.services.exports import bank_export


class Command(BaseCommand):
    help = (
        "Export the bank: training data (alpaca: a JSON list of {instruction, input, output}; sharegpt: "
        "conversations JSONL with its dataset_info.json beside it; openai: messages JSONL; llamafactory: a "
        "dataset folder) or exchange files (gift, moodle-xml, xlsx)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=EXPORT_FORMATS, default="alpaca")
        parser.add_argument("--out", type=Path, required=True, help="a file, or a folder for llamafactory")
        parser.add_argument("--subject", default="", help="only this subject path and below")
        parser.add_argument("--split", choices=SPLITS, default="all")
        parser.add_argument(
            "--task",
            choices=["explain", "grade"],
            default="explain",
            help="explain: answer and 解析 for each question; grade: each teacher-graded short answer or essay "
            "as the grading prompt and the teacher's marks (training formats only)",
        )
        parser.add_argument(
            "--examples",
            type=int,
            default=None,
            help="grade: the teacher's sample answers of the question in each prompt (default: GRADING_EXAMPLES, "
            "as the grader is served)",
        )
        parser.add_argument(
            "--allow-non-commercial",
            action="store_true",
            help="include evaluation-only sources (CC BY-NC: C-Eval, CMMLU) in training data",
        )

    def handle(self, *args, format, out, subject, split, allow_non_commercial, task, examples, **options):
        training = format in TRAINING_FORMATS
        if task == "grade":
            self.export_grading(format, out, subject, split, allow_non_commercial, examples)
            return
        with progress_bar(stream=self.stderr, unit="questions", description="writing") as bar:
            count = bank_export(
                fmt=format,
                out=out,
                subject=subject,
                split=split,
                allow_non_commercial=allow_non_commercial,
                on_progress=bar,
            )
        if not count:
            raise CommandError("no questions match; import a bank first (manage.py import_questions)")
        self.stdout.write(f"wrote {count} {'records' if training else 'questions'} to {out}")

    def export_grading(self, format, out, subject, split, allow_non_commercial, examples):
        if format not in TRAINING_FORMATS:
            raise CommandError(f"--task grade writes training data: --format {' or '.join(TRAINING_FORMATS)}")
        if examples is None:
            examples = settings.GRADING_EXAMPLES
        if examples < 0:
            raise CommandError("--examples must be 0 or more")
        answers = teacher_graded_answers(subject=subject, split=split, allow_non_commercial=allow_non_commercial)
        with progress_bar(stream=self.stderr, unit="answers", description="writing") as bar:
            count = export_grading(counted(answers, bar), out, format=format, examples=examples)
        if not count:
            raise CommandError("no answers graded by a teacher match: grade some short answers or essays first")
        self.stdout.write(f"wrote {count} grading records to {out}")
