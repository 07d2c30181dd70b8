"""The model grader for short answers and essays.

The served model proposes marks per rubric criterion as JSON (constrained by a JSON schema); the
server, not the model, clamps each mark to its criterion's points and adds them up. A grade is
recorded as the model's only when the model is confident and the answer is clearly but not wholly right
or wrong; anything else waits for a teacher as needs_review, with the model's proposal kept beside it:
unreadable output, low confidence, a partly correct answer, full marks or none (where an answer that
talks the model round would land), feedback that quotes the key (it would show the key to the student),
and a request the server refuses (4xx: asking again would not help). A teacher's grade is never touched.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import jsonschema
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inference.engines import get_engine
from inference.engines.base import ChatResult, Engine, ModelRequestRefused, ModelServerError
from inference.key_quotes import KeyText, grading_key
from quizbank import prompts
from quizbank.models import GRADED_TYPES, UNGRADED, Answer, GradeStatus, SessionState, answer_worth
from quizbank.prompt_inputs import grading_prompt_parts
from quizbank.services import answer_grade

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
# A total strictly between these fractions of the item's score is "partly correct": a teacher decides.
PARTLY_CORRECT = (Decimal("0.2"), Decimal("0.8"))


class GradingOutputError(ValueError):
    """The model's output is not a grade (not JSON, or not the grading schema)."""


@dataclass(frozen=True)
class ModelGrade:
    criteria: list[dict]  # one per rubric criterion, in rubric points, clamped: [{id, awarded, max, evidence}]
    score: Decimal  # the clamped marks added up on the server, scaled to the item's score
    feedback: str
    confidence: float


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a mark")


def grade_parse(text: str, *, rubric: list[dict], worth: Decimal) -> ModelGrade:
    """The model's JSON as marks on the rubric: unknown criteria dropped, missing ones 0, each mark
    clamped to [0, its points]; the total is recomputed here, whatever the model added up."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise GradingOutputError(f"the output is not JSON: {exc}") from exc
    try:
        jsonschema.validate(data, prompts.GRADING_SCHEMA)
    except jsonschema.ValidationError as exc:
        raise GradingOutputError(f"the output is not a grade: {exc.message}") from exc
    proposed: dict[str, dict] = {}
    for mark in data["criteria"]:
        proposed.setdefault(mark["id"], mark)  # a criterion marked twice counts once
    criteria = []
    earned = possible = Decimal(0)
    for entry in rubric:
        points = Decimal(str(entry["points"]))
        mark = proposed.get(entry["id"])
        awarded = Decimal(str(mark["awarded"])) if mark else Decimal(0)
        awarded = min(max(awarded, Decimal(0)), points)  # an infinite mark clamps too
        earned += awarded
        possible += points
        criteria.append(
            {
                "id": entry["id"],
                "awarded": float(awarded),
                "max": float(points),
                "evidence": mark["evidence"] if mark else "",
            }
        )
    score = (earned / possible * worth).quantize(CENT, rounding=ROUND_HALF_UP) if possible else Decimal(0)
    return ModelGrade(
        criteria=criteria,
        score=min(score, worth),
        feedback=data["feedback"].strip(),
        confidence=float(data["confidence"]),
    )


def review_reason(grade: ModelGrade, *, worth: Decimal, key: KeyText | None = None) -> str:
    """Why a teacher must look at the model's grade; "" when the model's grade stands.

    The model's own confidence decides nothing at the ends of the range: an injected answer that
    talks the model round lands on full marks (or a classmate's on none), confidently."""
    if grade.confidence < settings.GRADING_MIN_CONFIDENCE:
        return "low_confidence"
    if key is not None and key.quoted_in(grade.feedback):
        return "feedback_quotes_key"
    if grade.score >= worth:
        return "full_marks"
    if grade.score <= 0:
        return "no_marks"
    low, high = (fraction * worth for fraction in PARTLY_CORRECT)
    if low < grade.score < high:
        return "partly_correct"
    return ""


def _gradable(answer_id: int) -> Answer | None:
    answer = Answer.objects.select_related("question", "session").filter(pk=answer_id).first()
    if answer is None:
        logger.info("answer %s is gone: not graded", answer_id)
        return None
    if answer.grade_status not in UNGRADED or answer.question.qtype not in GRADED_TYPES:
        return None  # graded already (by a teacher, perhaps) or not a free-text answer
    if answer.session_id and answer.session.state != SessionState.FINISHED:
        return None  # still being answered, or abandoned: nothing to grade
    return answer


def answers_awaiting_model_grade(*, older_than_seconds: float) -> list[int]:
    """Short answers and essays of finished attempts that wait for the model and were untouched for a
    while: their grading task was lost or gave up (a long outage). The grading sweep queues them again.
    Pending ones, and those marked for review by the key alone (no accepted answer matched) that the
    model has not looked at yet; what the model itself sent to review stays with the teachers."""
    before = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Answer.objects.filter(
            Q(grade_status=GradeStatus.PENDING) | Q(grade_status=GradeStatus.NEEDS_REVIEW, grading_attempts=0),
            question__qtype__in=GRADED_TYPES,
            session__state=SessionState.FINISHED,
            updated_at__lt=before,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def decoding_schema(rubric: list[dict], max_tokens: int) -> dict:
    # Bounded strings keep the JSON within the token budget, so it always closes: a tenth of the budget
    # for the feedback and a tenth shared by the evidence, as a character may take several tokens.
    evidence = max(10, min(120, max_tokens // 10 // max(1, len(rubric))))
    return prompts.grading_decoding_schema(
        rubric, evidence_chars=evidence, feedback_chars=max(20, min(300, max_tokens // 10))
    )


def answer_grade_with_model(*, answer_id: int, client: Engine | None = None) -> Answer | None:
    """Grade one pending (or needs_review) short answer or essay with the served model.

    ModelServerError propagates: the answer is left as it was, and the task retries later. While every
    model server is cooling down after failures it is raised before any work (a class submitting
    together while the server is down queues hundreds of these).
    """
    engine = client or get_engine()
    if client is None and engine.cooling_down():
        raise ModelServerError("the model server is not available", extra={"attempts": ["every server cooling down"]})
    answer = _gradable(answer_id)
    if answer is None:
        return None
    parts = grading_prompt_parts(answer, examples=settings.GRADING_EXAMPLES)
    messages = prompts.grading_messages(**parts)
    max_tokens = settings.GRADING_MAX_TOKENS
    try:
        result = engine.chat(messages, max_tokens=max_tokens, json_schema=decoding_schema(parts["rubric"], max_tokens))
    except ModelRequestRefused as exc:
        return _answer_record_refusal(answer_id=answer_id, messages=messages, refusal=exc)
    worth = answer_worth(answer)
    try:
        grade, error = grade_parse(result.text, rubric=parts["rubric"], worth=worth), ""
    except GradingOutputError as exc:
        grade, error = None, str(exc)
        if result.finish_reason == "length":
            error = f"the output was cut off at {max_tokens} tokens; {error}"
    return _answer_record_grade(answer_id=answer_id, messages=messages, result=result, grade=grade, error=error)


def _answer_record_grade(
    *, answer_id: int, messages: list[dict], result: ChatResult, grade: ModelGrade | None, error: str
) -> Answer | None:
    with transaction.atomic():
        answer = Answer.objects.select_for_update(of=("self",)).select_related("question").filter(pk=answer_id).first()
        if answer is None or answer.grade_status not in UNGRADED:
            return answer  # a teacher graded it while the model was thinking
        worth = answer_worth(answer)
        reason = (
            "unreadable_output"
            if grade is None
            else review_reason(grade, worth=worth, key=grading_key(answer.question))
        )
        answer.grading_prompt = json.dumps(messages, ensure_ascii=False)
        answer.grading_raw = result.text
        answer.grading_model_version = result.model
        answer.grading_error = error
        answer.grading_attempts += 1
        answer.grading_criteria = grade.criteria if grade else []
        answer.grading_confidence = grade.confidence if grade else None
        # The proposal where the teachers' grading queue shows it (grade_detail); never in the score.
        proposal = {"reason": reason, "version": result.model}
        if grade:
            proposal |= {"score": str(grade.score), "feedback": grade.feedback, "confidence": grade.confidence}
        answer.grade_detail = {**(answer.grade_detail or {}), "model_proposal": proposal}
        if reason:
            answer.grade_status = GradeStatus.NEEDS_REVIEW
        answer.save(
            update_fields=[
                "grading_prompt",
                "grading_raw",
                "grading_model_version",
                "grading_error",
                "grading_attempts",
                "grading_criteria",
                "grading_confidence",
                "grade_detail",
                "grade_status",
                "updated_at",
            ]
        )
        if reason or grade is None:
            return answer
        return answer_grade(
            answer_id=answer_id, score=grade.score, feedback=grade.feedback, grader=None, status="model"
        )


def _answer_record_refusal(*, answer_id: int, messages: list[dict], refusal: ModelRequestRefused) -> Answer | None:
    """The server refused the grading request (4xx: too long, a schema it cannot take): asking again would
    be refused again, so the answer goes to the teachers' queue with the reason, and, having been seen by
    the model once, is not queued again by the grading sweep."""
    error = f"{refusal.message}: {refusal.extra.get('detail', '')}".strip().rstrip(":")
    with transaction.atomic():
        answer = Answer.objects.select_for_update(of=("self",)).filter(pk=answer_id).first()
        if answer is None or answer.grade_status not in UNGRADED:
            return answer
        answer.grading_prompt = json.dumps(messages, ensure_ascii=False)
        answer.grading_error = error
        answer.grading_attempts += 1
        proposal = {"reason": "refused", "detail": error}
        answer.grade_detail = {**(answer.grade_detail or {}), "model_proposal": proposal}
        answer.grade_status = GradeStatus.NEEDS_REVIEW
        answer.save(
            update_fields=[
                "grading_prompt",
                "grading_error",
                "grading_attempts",
                "grade_detail",
                "grade_status",
                "updated_at",
            ]
        )
    logger.warning("grading answer %s was refused by the model server: %s", answer_id, error)
    return answer
