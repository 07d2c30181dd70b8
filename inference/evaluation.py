"""How well the served model knows the bank: the right option letter, and the bank's 解析 by
character-level ROUGE-L (the same measure the training runs report)."""

from __future__ import annotations

import time

from inference.client import ModelClient
from inference.services import explanation_from_result, question_chat_request
from quizbank.models import Question, QuestionType
from tuning.metrics import rouge_l_chars


def evaluate_questions(
    questions: list[Question], *, client: ModelClient, concurrency: int = 8, max_tokens: int = 256
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
