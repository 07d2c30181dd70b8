"""Bank rows as the fields of quizbank.prompts: pure functions from a question or an answer to what
the prompt is built from, used by the exporter (training data), the trainer and the server alike.
Nothing here queries the database beyond the answer's question, which callers select with it.

Two tasks: `explain` (a question → its instruction record: answer and 解析) and `grade` (an answer →
the grading prompt's parts, and with a teacher's marks the grader's training record)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from quizbank import prompts
from quizbank.models import Answer, Question, answer_worth


def question_record(question: Question) -> dict | None:
    """The question as the seed's instruction record; None for what is no training example."""
    return prompts.instruction_record(
        qtype=question.qtype,
        stem=question.stem,
        options=question.options,
        answer=question.answer,
        explanation=question.explanation,
        answer_data=question.answer_data,
    )


def question_records(questions: Iterable[Question]) -> Iterator[dict]:
    for question in questions:
        record = question_record(question)
        if record is not None:
            yield record


# --- grading: an answer → the grading prompt -----------------------------------------------------


def answer_rubric(answer: Answer) -> list[dict]:
    """The rubric [{id, criterion, points}] an answer is graded against, by the model and on the
    teacher's grading page alike: the question's, or one "overall" criterion worth the answer."""
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
    """A teacher-graded answer as the grader's training record: the prompt in, the teacher's marks out."""
    parts = grading_prompt_parts(answer, examples=examples)
    return prompts.grading_record(
        **parts, criteria=teacher_criteria(answer, parts["rubric"]), feedback=answer.feedback, confidence=1.0
    )


def grading_records(answers: Iterable[Answer], *, examples: int = 0) -> Iterator[dict]:
    for answer in answers:
        yield grading_record(answer, examples=examples)
