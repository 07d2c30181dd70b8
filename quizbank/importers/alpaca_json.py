"""The seed's instruction data: a JSON list of {"instruction", "input", "output"}.

Records in the project's own prompt format (options in the input, "答案：X" in the output)
come back as choice questions; any other record becomes a short-answer question whose
reference answer is the output.
"""

from __future__ import annotations

from quizbank import prompts
from quizbank.importers.base import ImportSource, ParseStream, QuestionRecord, RowError
from quizbank.importers.registry import Format
from quizbank.models import QuestionType

KEYS = {"instruction", "input", "output"}


def sniff(head: str, file_name: str) -> bool:
    return head.lstrip().startswith("[") and '"instruction"' in head and '"output"' in head


def parse(source: ImportSource) -> ParseStream:
    name = source.file_name
    data, error = source.json()
    if error:
        yield error
        return
    if not isinstance(data, list):
        yield RowError(name, None, "(file)", "Alpaca data must be a JSON list of records")
        return
    for row, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            yield RowError(name, row, "(item)", "must be an object")
            continue
        missing = sorted({"instruction", "output"} - set(item))
        if missing:
            yield RowError(name, row, missing[0], "is missing")
            continue
        wrong_type = sorted(key for key in KEYS & set(item) if not isinstance(item[key], str))
        if wrong_type:
            yield RowError(name, row, wrong_type[0], "must be a string")
            continue
        yield _record(item, file_name=name, row=row, subject=source.subject)


def _record(item: dict, *, file_name: str, row: int, subject: str) -> QuestionRecord:
    common = {"subject": subject, "source_file": file_name, "source_row": row, "source_dataset": "alpaca"}
    restored = prompts.question_from_record(item)
    if restored is not None:
        return QuestionRecord(**restored, **common)
    stem = item["instruction"].strip()
    if item.get("input", "").strip():
        stem += "\n\n" + item["input"].strip()
    answer, _, explanation = item["output"].partition(f"\n{prompts.EXPLANATION_PREFIX}")
    return QuestionRecord(
        qtype=QuestionType.SHORT_ANSWER, stem=stem, answer=answer.strip(), explanation=explanation.strip(), **common
    )


FORMAT = Format(name="alpaca", label="Alpaca JSON", extensions=(".json",), parse=parse, sniff=sniff)
