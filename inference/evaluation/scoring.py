"""Scoring a model version on a suite, through the path students use (the served model, or the
version in this process where no server serves it), each item stored with what it was asked, what
came back, how it was read and who answered."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.exceptions import ApplicationError
from inference.engines.base import ChatResult, Engine
from inference.evaluation.stats import chrf, wilson_interval
from inference.explanations import question_chat_request
from inference.grading import GradingOutputError, decoding_schema, grade_parse
from inference.models import EvalItem, EvalResult, EvalRun, EvalSuite
from quizbank import prompts
from quizbank.models import Answer
from quizbank.normalize import normalize_text
from quizbank.prompt_inputs import grading_prompt_parts
from tuning.metrics import quadratic_weighted_kappa, rouge_l_chars
from tuning.models import ModelVersion

GRADE_STEPS = 10  # grades compared on a 0..10 scale of the item's worth
# The headline figures of a version on a suite: versions --json, evaluate --json, the version's metrics.
SUMMARY_KEYS = ("n", "answer_accuracy", "ci95", "explanation_fidelity", "grading_qwk", "parse_failures")


class AnsweredByAnother(ApplicationError):
    """The engine answered with another version than the one being scored: nothing is stored as its score."""


def grade_steps(score: Decimal, worth: Decimal) -> int:
    if not worth:
        return 0
    steps = (Decimal(GRADE_STEPS) * Decimal(score) / Decimal(worth)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return min(max(int(steps), 0), GRADE_STEPS)


def grading_request(answer: Answer, *, max_tokens: int | None = None) -> tuple[dict, list[dict]]:
    """The live grader's request for a teacher-graded answer (its examples are the teacher's own sample
    answers, so no held-out grade is shown to the model), and the rubric to read its output with."""
    max_tokens = max_tokens or settings.GRADING_MAX_TOKENS
    parts = grading_prompt_parts(answer, examples=settings.GRADING_EXAMPLES)
    request = {
        "messages": prompts.grading_messages(**parts),
        "max_tokens": max_tokens,
        "json_schema": decoding_schema(parts["rubric"], max_tokens),
    }
    return request, parts["rubric"]


def grading_figures(scores: list[tuple[Decimal, Decimal, Decimal]]) -> tuple[float, float, float]:
    """(QWK on a 0..10 scale of each item's worth, exact agreement on that scale, mean difference in
    points) of (teacher's score, model's score, worth) triples; a missing grade counts as 0 marks."""
    if not scores:
        return (1.0, 0.0, 0.0)
    teacher = [grade_steps(mine, worth) for mine, _, worth in scores]
    model = [grade_steps(theirs, worth) for _, theirs, worth in scores]
    difference = sum(abs(theirs - mine) for mine, theirs, _ in scores)
    return (
        round(quadratic_weighted_kappa(teacher, model, min_score=0, max_score=GRADE_STEPS), 4),
        round(sum(a == b for a, b in zip(teacher, model, strict=True)) / len(scores), 4),
        round(float(difference) / len(scores), 4),
    )


def item_request(item: EvalItem, *, max_tokens: int) -> dict:
    if item.kind == EvalItem.Kind.ANSWER:
        return question_chat_request(item.question, max_tokens=max_tokens)
    request, rubric = grading_request(item.answer)
    return request | {"_rubric": rubric}


def _same_key(given: str | None, key: str) -> bool:
    return given is not None and normalize_text(given).replace(" ", "") == normalize_text(key).replace(" ", "")


def _result(item: EvalItem, request: dict, outcome: ChatResult | Exception, latency_ms: int) -> EvalResult:
    result = EvalResult(item=item, prompt=request["messages"], latency_ms=latency_ms)
    if isinstance(outcome, Exception):
        result.error = f"{type(outcome).__name__}: {outcome}"[:2000]
        result.correct = False if item.kind == EvalItem.Kind.ANSWER else None
        return result
    result.raw_output, result.answered_by, result.tokens = outcome.text, outcome.model, outcome.completion_tokens
    if item.kind == EvalItem.Kind.ANSWER:
        parsed = prompts.parse_output(outcome.text)
        result.parsed_answer = (parsed.answer or "")[:64]
        result.parse_failed = not parsed.answer
        result.correct = _same_key(parsed.answer, item.key)
        if item.reference:
            result.fidelity = round(rouge_l_chars(parsed.explanation, item.reference), 4)
            result.chrf = round(chrf(parsed.explanation, item.reference), 4)
        return result
    try:
        grade = grade_parse(outcome.text, rubric=request["_rubric"], worth=item.worth or Decimal(0))
    except GradingOutputError:
        result.parse_failed = True
        result.model_score = Decimal(0)  # as the live grader: no grade, so no marks
    else:
        result.model_score = grade.score
    return result


def score_version(
    *,
    version: ModelVersion,
    suite: EvalSuite,
    engine: Engine,
    engine_kind: str,
    again: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> EvalRun:
    """Score `version` on `suite` with `engine` (unless already scored, or `again`). The suite is frozen
    from now on. Raises AnsweredByAnother, storing nothing as the version's score, when another
    version answered. `on_progress` is told the items scored so far and the suite's size."""
    existing = EvalRun.objects.filter(suite=suite, version=version).first()
    if existing is not None and existing.status == EvalRun.Status.DONE and not again:
        return existing
    EvalSuite.objects.filter(pk=suite.pk, frozen_at__isnull=True).update(frozen_at=timezone.now())
    items = list(
        suite.items.select_related("question", "question__subject", "question__root", "answer", "answer__question")
    )
    max_tokens = settings.EVALUATION_MAX_TOKENS
    concurrency = max(1, settings.EVALUATION_CONCURRENCY)
    results: list[EvalResult] = []
    if on_progress:
        on_progress(0, len(items))
    for start in range(0, len(items), concurrency):
        chunk = items[start : start + concurrency]
        requests_ = [item_request(item, max_tokens=max_tokens) for item in chunk]
        started = time.monotonic()
        outcomes = engine.chat_many(
            [{key: value for key, value in request.items() if not key.startswith("_")} for request in requests_],
            concurrency=concurrency,
        )
        latency_ms = int((time.monotonic() - started) * 1000)
        results += [
            _result(item, request, outcome, latency_ms)
            for item, request, outcome in zip(chunk, requests_, outcomes, strict=True)
        ]
        if on_progress:
            on_progress(len(results), len(items))
    answered = Counter(result.answered_by for result in results if result.answered_by)
    others = sorted(name for name in answered if name != version.name)
    if others:
        raise AnsweredByAnother(
            f"asked to score {version.name}, but {', '.join(others)} answered: serve {version.name} first "
            f"(`manage.py serve_model --version {version.name}`) or score it in process",
            extra={"version": version.name, "answered_by": others},
        )
    with transaction.atomic():
        run, _ = EvalRun.objects.update_or_create(
            suite=suite,
            version=version,
            defaults={
                "status": EvalRun.Status.DONE,
                "engine": engine_kind,
                "answered_by": version.name if answered else "",
                "metrics": aggregate(items, results),
                "error": "",
                "finished_at": timezone.now(),
            },
        )
        run.results.all().delete()
        for result in results:
            result.run = run
        EvalResult.objects.bulk_create(results)
    return run


def aggregate(items: list[EvalItem], results: list[EvalResult]) -> dict:
    answers = [(item, result) for item, result in zip(items, results, strict=True) if item.kind == EvalItem.Kind.ANSWER]
    grades = [(item, result) for item, result in zip(items, results, strict=True) if item.kind == EvalItem.Kind.GRADE]
    metrics: dict = {
        "n": len(items),
        "parse_failures": sum(result.parse_failed for result in results),
        "failed_requests": sum(bool(result.error) for result in results),
        "tokens": sum(result.tokens or 0 for result in results),
        "mean_latency_ms": round(sum(result.latency_ms or 0 for result in results) / len(results)) if results else 0,
    }
    if answers:
        correct = sum(bool(result.correct) for _, result in answers)
        metrics["answered"] = len(answers)
        metrics["answer_accuracy"] = round(correct / len(answers), 4)
        metrics["ci95"] = list(wilson_interval(correct, len(answers)))
        metrics["by_subject"] = _accuracy_by(answers, lambda item: item.subject)
        metrics["by_type"] = _accuracy_by(answers, lambda item: item.qtype)
        explained = [result for item, result in answers if result.fidelity is not None]
        if explained:
            metrics["explanation_fidelity"] = round(
                sum(result.fidelity or 0 for result in explained) / len(explained), 4
            )
            metrics["explanation_chrf"] = round(sum(result.chrf or 0 for result in explained) / len(explained), 4)
    if grades:
        scores = [
            (item.teacher_score or Decimal(0), result.model_score or Decimal(0), item.worth or Decimal(0))
            for item, result in grades
        ]
        metrics["graded"] = len(grades)
        metrics["grading_qwk"], metrics["grading_exact_agreement"], metrics["grading_mae"] = grading_figures(scores)
    return metrics


def _accuracy_by(pairs: list[tuple[EvalItem, EvalResult]], key) -> dict:
    groups: dict[str, list[bool]] = defaultdict(list)
    for item, result in pairs:
        groups[key(item) or "-"].append(bool(result.correct))
    return {
        name: {"n": len(verdicts), "answer_accuracy": round(sum(verdicts) / len(verdicts), 4)}
        for name, verdicts in sorted(groups.items())
    }
