"""Explanations from the served model, all of them: one question explained and kept on a practice
answer (synchronously, the bank's explanation where no model server answers), the whole bank explained
once per model version (so a review page shows them without a model call), and one student's mistake
explained on request, streamed as the model writes it and then kept on the answer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache

from core.exceptions import ApplicationError
from inference.engines import active_version_name, get_engine
from inference.engines.base import ChatResult, Engine, ModelServerError
from inference.key_quotes import KeyLineFilter, question_key
from quizbank import prompts
from quizbank.importers.base import parse_bool
from quizbank.models import Answer, ExplanationSource, PaperMode, Question, QuestionExplanation, QuestionType
from quizbank.prompt_inputs import question_record
from quizbank.selectors.exams import question_locked_for_practice, review_visibility
from quizbank.selectors.explanations import questions_unexplained

logger = logging.getLogger(__name__)


# --- one question, answered and explained at once -----------------------------------------------


@dataclass(frozen=True)
class ModelExplanation:
    answer: str | None
    explanation: str
    raw: str
    model: str


def question_chat_request(question: Question, *, max_tokens: int) -> dict:
    """The chat request for one question: the trained prompt, its answer format enforced."""
    record = question_record(question)
    request: dict = {"messages": prompts.prompt_messages(record), "max_tokens": max_tokens}
    if question.qtype == QuestionType.SINGLE_CHOICE:
        request["regex"] = prompts.choice_output_pattern(question.option_keys)
    return request


def explanation_from_result(text: str, model: str) -> ModelExplanation:
    parsed = prompts.parse_output(text)
    return ModelExplanation(answer=parsed.answer, explanation=parsed.explanation, raw=text, model=model)


def question_explain(*, question: Question, client: Engine | None = None, max_tokens: int = 256) -> ModelExplanation:
    client = client or get_engine()
    result = client.chat(**question_chat_request(question, max_tokens=max_tokens))
    return explanation_from_result(result.text, result.model)


def answer_explain(*, answer: Answer, client: Engine | None = None) -> Answer:
    """Attach the served model's explanation; if no model server answers, the bank's own."""
    try:
        explained = question_explain(question=answer.question, client=client)
    except ModelServerError as exc:
        answer.explanation = answer.question.explanation
        answer.explanation_source = ExplanationSource.BANK
        answer.explanation_error = exc.message
    else:
        answer.explanation = explained.explanation
        answer.explanation_source = ExplanationSource.MODEL
        answer.model_answer = explained.answer or ""
        answer.model_version = explained.model
        answer.explanation_error = ""
    answer.save(
        update_fields=["explanation", "explanation_source", "model_answer", "model_version", "explanation_error"]
    )
    return answer


# --- the bank, once per model version ----------------------------------------------------------


@dataclass
class BankExplainProgress:
    done: int = 0
    total: int = 0
    failed: int = 0


def bank_explain_progress_key(version_name: str) -> str:
    return f"inference:bank-explain:{version_name}"


def bank_explain_progress(*, version_name: str) -> BankExplainProgress | None:
    """The last progress a run for this version reported (None before any)."""
    value = cache.get(bank_explain_progress_key(version_name))
    return BankExplainProgress(**value) if value else None


def bank_explain(
    *,
    version_name: str,
    client: Engine | None = None,
    batch: int = 32,
    progress: Callable[[BankExplainProgress], None] | None = None,
    question_ids: Iterable[int] | None = None,
    max_tokens: int | None = None,
) -> BankExplainProgress:
    """Explain every current bank question that has no explanation by this version yet.

    A batch is sent at once so the server batches it; what fails is counted, kept as a row without
    text (the model page counts it, the review page never shows it) and left for the next run, which
    explains only what is still missing (a second run after a full one does nothing). Descriptions
    are not asked about: they are no question. A cloze text is asked as the fill-in-the-blank question
    it is trained as."""
    client = client or get_engine()
    max_tokens = max_tokens or settings.INFERENCE_MAX_TOKENS
    questions = questions_unexplained(version_name=version_name)
    if question_ids is not None:
        questions = questions.filter(pk__in=list(question_ids))
    ids = list(questions.order_by("pk").values_list("pk", flat=True))
    state = BankExplainProgress(total=len(ids))
    _report(state, version_name, progress)
    for start in range(0, len(ids), max(1, batch)):
        chunk = list(Question.objects.filter(pk__in=ids[start : start + batch]).order_by("pk"))
        requests_ = [question_chat_request(question, max_tokens=max_tokens) for question in chunk]
        results = client.chat_many(requests_, concurrency=max(1, batch))
        rows, failures = [], []
        for question, result in zip(chunk, results, strict=True):
            row = _explanation_row(question, result, version_name)
            if row is None:
                failures.append(QuestionExplanation(question=question, model_version=version_name, text=""))
            else:
                rows.append(row)
        # An explanation replaces a failure kept by an earlier run (or one stored meanwhile by another
        # run, written by the same version); a failure never replaces anything.
        QuestionExplanation.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["question", "model_version"],
            update_fields=["text", "model_answer"],
        )
        QuestionExplanation.objects.bulk_create(failures, ignore_conflicts=True)
        state.done += len(rows)
        state.failed += len(failures)
        _report(state, version_name, progress)
    return state


def _explanation_row(question: Question, result: ChatResult | Exception, version_name: str):
    if isinstance(result, Exception):
        logger.warning("explaining question %s with %s failed: %s", question.pk, version_name, result)
        return None
    explained = explanation_from_result(result.text, result.model)
    if not explained.explanation:
        return None
    if result.model and result.model != version_name:
        # Kept under the version that wrote it: the label on the review page must be true.
        logger.warning("asked for %s but %s answered (question %s)", version_name, result.model, question.pk)
    return QuestionExplanation(
        question=question,
        model_version=result.model or version_name,
        text=explained.explanation,
        model_answer=(explained.answer or "")[:100],
    )


def _report(state: BankExplainProgress, version_name: str, progress) -> None:
    logger.info(
        "explaining the bank with %s: %s/%s done, %s failed", version_name, state.done, state.total, state.failed
    )
    cache.set(bank_explain_progress_key(version_name), asdict(state), timeout=24 * 3600)
    if progress is not None:
        progress(state)


# --- the bank's job: once a server serves the version, and the sweep after it -------------------


class VersionNotServed(ModelServerError):
    """No model server serves the version (yet: it is starting or switching to it; or any more: it went
    away while explaining). The job is tried again later."""


def version_served(*, version_name: str, client: Engine | None = None) -> bool:
    """Whether a model server is ready and serves `version_name`, so what it writes is that version's."""
    client = client or get_engine()
    if not any(client.health().values()):
        return False
    try:
        return version_name in client.served_models()
    except ModelServerError:
        return False


def bank_explain_when_served(
    *, version_name: str, client: Engine | None = None, question_ids: Iterable[int] | None = None
) -> BankExplainProgress | None:
    """The bank's explanation job for a promoted version: bank_explain once a server serves it.

    Raises VersionNotServed while none does, asking nothing, and when the server went away during the
    run (what failed is asked again on the next try). None, asking nothing, once another version is
    active: its own job explains the bank."""
    active = active_version_name()
    if active != version_name:
        logger.info("not explaining the bank with %s: the active version is %s", version_name, active)
        return None
    client = client or get_engine()
    if not version_served(version_name=version_name, client=client):
        raise VersionNotServed(f"no model server serves {version_name} yet", extra={"version": version_name})
    state = bank_explain(version_name=version_name, client=client, question_ids=question_ids)
    if state.failed and not version_served(version_name=version_name, client=client):
        raise VersionNotServed(
            f"the model server stopped serving {version_name} while explaining the bank",
            extra={"version": version_name, "failed": state.failed},
        )
    return state


def bank_explain_missing(*, client: Engine | None = None) -> BankExplainProgress | None:
    """The sweep: explain what the active version has not (failed, never asked, or added to the bank
    since), when a server serves it. None, asking nothing, when nothing is missing or none serves it."""
    version_name = active_version_name()
    if version_name is None or not questions_unexplained(version_name=version_name).exists():
        return None
    try:
        return bank_explain_when_served(version_name=version_name, client=client)
    except VersionNotServed as exc:
        logger.info("explanations sweep: %s", exc.message)
        return None


# --- one student's mistake, streamed ------------------------------------------------------------


@dataclass(frozen=True)
class ExplanationEvent:
    """One server-sent event: `message` carries text as it comes, `note` says why the text is not
    the model's, `done` ends the stream with where the text came from."""

    event: str
    data: dict = field(default_factory=dict)


def answer_for_explanation(*, user, answer_id: int, now: datetime | None = None) -> Answer:
    """The student's own wrong answer, if its explanation may be shown now.

    In a session both the explanation and right-or-wrong must be visible by the review policy
    (a practice paper shows them once the question is checked), so that asking says nothing the
    review does not; a practice answer outside sessions is refused while its question is on an
    exam that is still open."""
    answer = Answer.objects.select_related("question", "session__paper").filter(pk=answer_id, user=user).first()
    if answer is None:
        raise ApplicationError("no such answer", extra={"code": "not_found"})
    session = answer.session
    practising = session is None or session.paper.mode == PaperMode.PRACTICE
    if practising and question_locked_for_practice(question_id=answer.question_id, now=now, user=user):
        # Practice shows the key, but not while a version of the question is on an exam still open.
        raise ApplicationError("this question is on an exam that is still open", extra={"code": "locked"})
    if session is not None:
        checked = session.paper.mode == PaperMode.PRACTICE and answer.response_data is not None
        visible = review_visibility(session, now=now)
        if not checked and not (visible.explanation and visible.correctness):
            raise ApplicationError("the explanation is not shown yet", extra={"code": "not_available"})
    if answer.is_correct is not False:
        raise ApplicationError("only a wrong answer is explained this way", extra={"code": "not_wrong"})
    if not answer.response.strip():
        raise ApplicationError("there is no answer to explain", extra={"code": "unanswered"})
    return answer


def key_shown(answer: Answer, *, now: datetime | None = None) -> bool:
    """Whether the student may see this answer's key now: by the review policy in a session (a practice
    paper shows it once the question is checked); a practice answer outside sessions shows it (one on an
    exam still open is refused before anything is asked)."""
    session = answer.session
    if session is None:
        return True
    if session.paper.mode == PaperMode.PRACTICE and answer.response_data is not None:
        return True
    return review_visibility(session, now=now).answer


def wrong_answer_request(answer: Answer, *, max_tokens: int, min_tokens: int = 0) -> dict:
    """The chat asking why this answer is wrong (a question with no training record, such as a cloze
    text without a key, is asked about as a plain question)."""
    question = answer.question
    record = question_record(question) or {
        "instruction": prompts.SHORT_ANSWER_INSTRUCTION,
        "input": question.stem,
        "output": prompts.answer_output(question.answer, ""),
    }
    response = answer.response
    if question.qtype == QuestionType.TRUE_FALSE and parse_bool(response) is not None:
        response = "对" if parse_bool(response) else "错"  # as the trained prompt writes it
    request = {"messages": prompts.wrong_answer_messages(record, response=response), "max_tokens": max_tokens}
    if min_tokens:
        request["min_tokens"] = min_tokens
    return request


def answer_explanation_stream(
    *, answer: Answer, client: Engine | None = None, now: datetime | None = None
) -> Iterator[ExplanationEvent]:
    """Why the student's answer is wrong, as the model writes it; kept on the answer once complete.

    An explanation already kept is sent whole. With no model server the bank's explanation comes
    with a note and nothing is kept; a reply cut short is not kept either. While the paper's policy
    hides the key, lines that state it (答案：…) or quote it are left out of what is sent and kept:
    the model was shown the key to explain the mistake. Lines are decided whole, so a key split over
    streamed pieces is caught."""
    hidden = None if key_shown(answer, now=now) else KeyLineFilter(question_key(answer.question))

    def shown(text: str) -> str:
        return hidden.text(text) if hidden is not None else text

    if answer.explanation_source == ExplanationSource.MODEL and answer.explanation:
        yield ExplanationEvent("message", {"text": shown(answer.explanation)})
        yield ExplanationEvent("done", {"source": "model", "version": answer.model_version})
        return
    client = client or get_engine()
    try:
        stream = client.chat_stream(
            **wrong_answer_request(
                answer, max_tokens=settings.INFERENCE_MAX_TOKENS, min_tokens=settings.EXPLAIN_MIN_TOKENS
            )
        )
    except ModelServerError as exc:
        logger.warning("no model server for answer %s: %s", answer.pk, exc.message)
        yield ExplanationEvent("note", {"code": "model_unavailable", "message": exc.message})
        yield ExplanationEvent("message", {"text": shown(answer.question.explanation)})
        yield ExplanationEvent("done", {"source": "bank", "version": ""})
        return
    pieces: list[str] = []
    try:
        for piece in stream:
            pieces.append(piece)
            text = hidden.feed(piece) if hidden is not None else piece
            if text:
                yield ExplanationEvent("message", {"text": text})
    except ModelServerError as exc:
        logger.warning("the model stopped explaining answer %s: %s", answer.pk, exc.message)
        yield ExplanationEvent("note", {"code": "interrupted", "message": exc.message})
        yield ExplanationEvent("done", {"source": "", "version": ""})
        return
    if hidden is not None and (rest := hidden.flush()):
        yield ExplanationEvent("message", {"text": rest})
    parsed = prompts.parse_output("".join(pieces))
    if hidden is not None:
        # Kept as sent: the review page shows a kept explanation by the explanation policy alone.
        parsed = prompts.ParsedOutput(answer="", explanation=shown(parsed.explanation).strip())
    if parsed.explanation:
        answer_explanation_keep(
            answer=answer, text=parsed.explanation, model_answer=parsed.answer or "", model_version=stream.model
        )
    # The text as kept (without the 答案： line), so the page shows what a reload will show.
    yield ExplanationEvent("done", {"source": "model", "version": stream.model, "text": parsed.explanation})


def answer_explanation_keep(*, answer: Answer, text: str, model_answer: str, model_version: str) -> None:
    """Keep a model's explanation on the answer. Only these columns are written, so a grade stored
    meanwhile stays, and `updated_at` (when the response was saved) does not move."""
    fields = {
        "explanation": text,
        "explanation_source": ExplanationSource.MODEL,
        "model_answer": model_answer[:16],
        "model_version": model_version,
        "explanation_error": "",
    }
    Answer.objects.filter(pk=answer.pk).update(**fields)
    for name, value in fields.items():
        setattr(answer, name, value)
