"""The bank as training data: the seed's Alpaca records, OpenAI-style `messages` JSONL, and a
LLaMA-Factory dataset folder. Record text comes from quizbank.prompts, as in training and serving.

Two tasks: `explain` (each question → its answer and 解析) and `grade` (each answer a teacher graded →
the grading prompt and the teacher's marks as the grader's JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path

from django.db.models import Q

from quizbank import prompts
from quizbank.models import Answer, GradeStatus, Question, QuestionType

DATASET_NAME = "quizsite"
GRADING_DATASET_NAME = "quizsite_grading"
GRADED_TYPES = (QuestionType.SHORT_ANSWER, QuestionType.ESSAY)


def question_record(question: Question) -> dict | None:
    return prompts.instruction_record(
        qtype=question.qtype,
        stem=question.stem,
        options=question.options,
        answer=question.answer,
        explanation=question.explanation,
        answer_data=question.answer_data,
    )


def records(questions: Iterable[Question]) -> Iterator[dict]:
    for question in questions:
        record = question_record(question)
        if record is not None:
            yield record


def _write_json_list(items: Iterable[dict], out: Path) -> int:
    """A JSON list written item by item (flat memory for large banks)."""
    count = 0
    with out.open("w", encoding="utf-8") as handle:
        handle.write("[")
        for item in items:
            handle.write(",\n  " if count else "\n  ")
            handle.write(json.dumps(item, ensure_ascii=False))
            count += 1
        handle.write("\n]\n" if count else "]\n")
    return count


def export_alpaca(questions: Iterable[Question], out: Path) -> int:
    return write_alpaca(records(questions), out)


def write_alpaca(items: Iterable[dict], out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    return _write_json_list(items, out)


def messages_record(record: dict) -> dict:
    return {"messages": prompts.training_messages(record)}


def export_sharegpt(questions: Iterable[Question], out: Path) -> int:
    return write_sharegpt(records(questions), out)


def write_sharegpt(items: Iterable[dict], out: Path) -> int:
    """One {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]} per line."""
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with out.open("w", encoding="utf-8") as handle:
        for record in items:
            handle.write(json.dumps(messages_record(record), ensure_ascii=False) + "\n")
            count += 1
    return count


def llamafactory_dataset_info(file_name: str, dataset_name: str = DATASET_NAME) -> dict:
    """LLaMA-Factory's dataset_info.json entry for an Alpaca-format file."""
    return {
        dataset_name: {
            "file_name": file_name,
            "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"},
        }
    }


def export_llamafactory(questions: Iterable[Question], out: Path) -> int:
    """A folder LLaMA-Factory reads as is: `--dataset_dir OUT --dataset quizsite`."""
    return write_llamafactory(records(questions), out, dataset_name=DATASET_NAME)


def write_llamafactory(items: Iterable[dict], out: Path, *, dataset_name: str) -> int:
    """The dataset file and its dataset_info.json entry; entries of other datasets already in the
    folder are kept, so the explanation and grading data can share one dataset_dir."""
    out.mkdir(parents=True, exist_ok=True)
    file_name = f"{dataset_name}.json"
    count = _write_json_list(items, out / file_name)
    info_path = out / "dataset_info.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    info.update(llamafactory_dataset_info(file_name, dataset_name))
    info_path.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return count


# --- grading: teacher-graded answers → grader training data --------------------------------------


def answer_worth(answer: Answer) -> Decimal:
    return answer.max_score if answer.max_score is not None else answer.question.score


def answer_rubric(answer: Answer) -> list[dict]:
    return prompts.grading_rubric(answer_data=answer.question.answer_data, max_score=answer_worth(answer))


def proportional_criteria(rubric: list[dict], *, score: Decimal, worth: Decimal) -> list[dict]:
    """A single score spread over the rubric in proportion to each criterion's points."""
    fraction = float(score) / float(worth) if worth else 0.0
    fraction = min(max(fraction, 0.0), 1.0)
    return [
        {"id": entry["id"], "awarded": round(entry["points"] * fraction, 2), "max": entry["points"], "evidence": ""}
        for entry in rubric
    ]


def teacher_criteria(answer: Answer, rubric: list[dict]) -> list[dict]:
    # Teachers grade with one score (answer_grade); per-criterion marks would replace this spread.
    return proportional_criteria(rubric, score=answer.score or Decimal(0), worth=answer_worth(answer))


def grading_examples(answer: Answer, rubric: list[dict], *, limit: int) -> list[dict]:
    """Up to `limit` sample answers the teacher wrote with the question, with their marks
    (answer_data["grading_examples"]: [{"response": str, "score": points of the question's score}, or
    {"response": str, "criteria": [{"id", "awarded"}]}]).

    Only teacher-written text is shown to the grader as an example: another student's answer, even one
    a teacher graded, could carry instructions that steer a classmate's grade or be quoted in their
    feedback. Teachers' grades of students' answers still teach the grader, each as its own record."""
    if limit <= 0:
        return []
    question = answer.question
    examples = []
    for entry in (question.answer_data or {}).get("grading_examples") or []:
        if not isinstance(entry, dict) or not str(entry.get("response") or "").strip():
            continue
        if entry.get("criteria"):
            criteria = [{"id": str(mark["id"]), "awarded": float(mark["awarded"])} for mark in entry["criteria"]]
        else:
            score = Decimal(str(entry.get("score") or 0))
            criteria = proportional_criteria(rubric, score=score, worth=question.score)
        examples.append({"response": str(entry["response"]), "criteria": criteria})
        if len(examples) == limit:
            break
    return examples


def grading_prompt_parts(answer: Answer, *, examples: int) -> dict:
    """The keyword arguments of prompts.grading_messages / grading_record for one answer."""
    question = answer.question
    rubric = answer_rubric(answer)
    return {
        "stem": question.stem,
        "reference": question.answer,
        "rubric": rubric,
        "examples": grading_examples(answer, rubric, limit=examples),
        "response": answer.response,
        "instructions": str((question.answer_data or {}).get("grading_instructions") or ""),
    }


def grading_record(answer: Answer, *, examples: int) -> dict:
    parts = grading_prompt_parts(answer, examples=examples)
    return prompts.grading_record(
        **parts, criteria=teacher_criteria(answer, parts["rubric"]), feedback=answer.feedback, confidence=1.0
    )


def teacher_graded_answers(
    *, subject: str = "", split: str = "all", allow_non_commercial: bool = True
) -> Iterator[Answer]:
    """Answers to short-answer and essay questions whose grade a teacher set, in id order; the split
    is the question's, so no question of the test split teaches the grader. Answers to the questions of
    exams still open are left out: the grading prompt carries the key."""
    from quizbank.selectors.exams import locked_question_ids
    from quizbank.selectors.questions import question_split  # that module imports this one

    queryset = (
        Answer.objects.filter(grade_status=GradeStatus.TEACHER, question__qtype__in=GRADED_TYPES, score__isnull=False)
        .exclude(response="")
        .exclude(question_id__in=locked_question_ids())
        .select_related("question", "question__root")
        .order_by("id")
    )
    if subject:
        path = subject.strip().strip("/")
        queryset = queryset.filter(Q(question__subject__path=path) | Q(question__subject__path__startswith=f"{path}/"))
    for answer in queryset.iterator(chunk_size=500):
        if not allow_non_commercial and answer.question.is_non_commercial:
            continue
        if split == "all" or question_split(answer.question) == split:
            yield answer


def grading_records(answers: Iterable[Answer], *, examples: int = 0) -> Iterator[dict]:
    for answer in answers:
        yield grading_record(answer, examples=examples)


def export_grading(answers: Iterable[Answer], out: Path, *, format: str, examples: int = 0) -> int:
    items = grading_records(answers, examples=examples)
    if format == "alpaca":
        return write_alpaca(items, out)
    if format == "sharegpt":
        return write_sharegpt(items, out)
    if format == "llamafactory":
        return write_llamafactory(items, out, dataset_name=GRADING_DATASET_NAME)
    raise ValueError(f"grading data has no {format!r} format")
