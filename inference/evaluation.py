"""How well the served model knows the bank: the right option letter, and the bank's 解析 by
character-level ROUGE-L (the same measure the training runs report); and how well it grades: its
agreement with the teachers' grades on held-out answers (quadratic weighted kappa).

`version_evaluate` is the check a newly trained version goes through before it may be promoted
(tuning announces the version; receivers.py starts this): its grading agreement, measured with the
version loaded in this process, since no server serves it yet. Its held-out answer accuracy and
explanation fidelity were measured by the training run itself (tuning/training/evaluate.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from django.conf import settings

from core.exceptions import ApplicationError
from inference.engines.base import Engine
from inference.explanations import explanation_from_result, question_chat_request
from inference.grading import GradingOutputError, decoding_schema, grade_parse
from quizbank import prompts
from quizbank.models import Answer, Question, QuestionType, answer_worth
from quizbank.prompt_inputs import grading_prompt_parts
from quizbank.selectors import teacher_graded_answers
from tuning.metrics import quadratic_weighted_kappa, rouge_l_chars
from tuning.models import ModelVersion, RunEvent
from tuning.services import (
    version_evaluation_fail,
    version_evaluation_finish,
    version_evaluation_start,
    version_event_add,
    version_promote,
)

logger = logging.getLogger(__name__)

GRADE_STEPS = 10  # grades compared on a 0..10 scale of the item's worth


def evaluate_questions(
    questions: list[Question], *, client: Engine, concurrency: int = 8, max_tokens: int = 256
) -> dict:
    questions = [question for question in questions if question.qtype == QuestionType.SINGLE_CHOICE]
    started = time.monotonic()
    results = client.chat_many(
        [question_chat_request(question, max_tokens=max_tokens) for question in questions], concurrency=concurrency
    )
    correct = failed = 0
    fidelity = 0.0
    for question, result in zip(questions, results, strict=True):
        if isinstance(result, Exception):
            failed += 1
            continue
        explained = explanation_from_result(result.text, result.model)
        correct += explained.answer == question.answer
        fidelity += rouge_l_chars(explained.explanation, question.explanation)
    n = len(questions)
    return {
        "n": n,
        "answer_accuracy": round(correct / n, 4) if n else 0.0,
        "explanation_fidelity": round(fidelity / n, 4) if n else 0.0,
        "failed_requests": failed,
        "seconds": round(time.monotonic() - started, 2),
    }


def grading_agreement(
    answers: Iterable[Answer], *, client, concurrency: int = 8, max_tokens: int | None = None
) -> dict:
    """The model's grades of teacher-graded answers beside the teachers': QWK on a 0..10 scale of each
    item's worth, exact agreement on that scale and the mean difference in points.

    The prompt is the live grader's; its examples are the teacher's own sample answers, so no held-out
    grade is shown to the model. Output that is not a grade, and requests that failed,
    count as 0 marks (as the live grader would not give the answer a grade either)."""
    answers = list(answers)
    max_tokens = max_tokens or settings.GRADING_MAX_TOKENS
    started = time.monotonic()
    requests_, rubrics = [], []
    for answer in answers:
        parts = grading_prompt_parts(answer, examples=settings.GRADING_EXAMPLES)
        rubrics.append(parts["rubric"])
        requests_.append(
            {
                "messages": prompts.grading_messages(**parts),
                "max_tokens": max_tokens,
                "json_schema": decoding_schema(parts["rubric"], max_tokens),
            }
        )
    results = client.chat_many(requests_, concurrency=concurrency) if requests_ else []
    teacher_steps, model_steps = [], []
    unparsable = failed = 0
    difference = Decimal(0)
    for answer, rubric, result in zip(answers, rubrics, results, strict=True):
        worth = answer_worth(answer)
        model_score = Decimal(0)
        if isinstance(result, Exception):
            failed += 1
        else:
            try:
                model_score = grade_parse(result.text, rubric=rubric, worth=worth).score
            except GradingOutputError:
                unparsable += 1
        teacher_score = answer.score or Decimal(0)
        teacher_steps.append(_steps(teacher_score, worth))
        model_steps.append(_steps(model_score, worth))
        difference += abs(model_score - teacher_score)
    n = len(answers)
    return {
        "n": n,
        "qwk": round(quadratic_weighted_kappa(teacher_steps, model_steps, min_score=0, max_score=GRADE_STEPS), 4),
        "exact_agreement": round(sum(a == b for a, b in zip(teacher_steps, model_steps, strict=True)) / n, 4)
        if n
        else 0.0,
        "mean_abs_error": round(float(difference) / n, 4) if n else 0.0,
        "unparsable": unparsable,
        "failed_requests": failed,
        "seconds": round(time.monotonic() - started, 2),
    }


def _steps(score: Decimal, worth: Decimal) -> int:
    if not worth:
        return 0
    steps = (Decimal(GRADE_STEPS) * Decimal(score) / Decimal(worth)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return min(max(int(steps), 0), GRADE_STEPS)


# --- the checks a new version goes through ---------------------------------------------------------


def version_evaluate(*, version_id: int, promote: bool = False, again: bool = False) -> ModelVersion | None:
    """Evaluate a trained version (trained -> evaluating -> evaluated), then promote it if its run asked
    for that and it is not worse than the active version. Nothing is lost when a check fails: the
    version stays registered, marked evaluation_failed, and is not promoted. None when the version is
    gone or already taken by another evaluation (`again` retries a failed or interrupted one)."""
    version = version_evaluation_start(version_id=version_id, again=again)
    if version is None:
        logger.info("version %s is not waiting for evaluation; nothing to do", version_id)
        return None
    try:
        grading = held_out_grading_agreement(model_dir=version.path, name=version.name)
    except Exception as exc:  # whatever broke, the trained version stays and says why it is not promotable
        logger.exception("version %s: evaluation failed", version.name)
        return version_evaluation_fail(version=version, error=f"{type(exc).__name__}: {exc}")
    version = version_evaluation_finish(version=version, metrics={"grading": grading})
    if promote:
        try:
            version_promote(version=version)
        except ApplicationError as exc:
            version_event_add(version=version, level=RunEvent.Level.WARN, message=f"not promoted: {exc.message}")
        else:
            version_event_add(version=version, message=f"promoted: {version.name} is the active version")
    return version


def held_out_grading_agreement(*, model_dir: Path | str, name: str) -> dict:
    """How the version in `model_dir` grades the test split's teacher-graded answers, run in this
    process: {"n": 0} when there are none (and the model is not loaded)."""
    answers = list(teacher_graded_answers(split="test"))
    if not answers:
        return {"n": 0}
    return grading_agreement(answers, client=local_engine(model_dir, name))


def local_engine(model_dir: Path | str, name: str) -> Engine:
    """The version loaded in this process (torch is imported when it first answers)."""
    from inference.engines.local import LocalEngine

    return LocalEngine(model_dir, name)
