"""Sessions (attempts): start, autosave, finish, the deadline sweeper and teacher grading.

The deadline is the server's. Every save locks its session row, so saves of one session are applied
one at a time; a save is an upsert of the item's single Answer row, and a save that carries an older
`client_seq` than the stored one (another tab, a retry arriving late) is ignored. Only these functions
change a session's state, and they refuse illegal transitions.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.exceptions import ApplicationError
from quizbank.grading import MultipleChoicePolicy, is_empty_response
from quizbank.models import (
    OPEN_SESSION_STATES,
    UNGRADED,
    Answer,
    GradeStatus,
    Navigation,
    OverdueRule,
    Paper,
    PaperKind,
    PaperMode,
    Question,
    QuestionType,
    QuizSession,
    SessionItem,
    SessionState,
    answer_worth,
)
from quizbank.selectors.access import Terms, terms_of
from quizbank.selectors.exams import (
    Attempts,
    attempts_at,
    locked_question_ids,
    paper_reach,
    question_locked_for_practice,
    session_slots,
    slots_keep,
)
from quizbank.selectors.papers import fixed_paper_slots
from quizbank.services.answers import answer_fields, answer_length_check
from quizbank.services.autosave import answer_save_at_once
from quizbank.services.papers import rule_candidates
from quizbank.services.wrongbook import wrong_book_record, wrong_book_record_session
from quizbank.signals import answers_need_grading

# Who may grade through answer_grade.
GRADERS = (GradeStatus.TEACHER, GradeStatus.MODEL)

logger = logging.getLogger(__name__)


def paper_check_open(*, paper: Paper, user: User, now: datetime) -> Terms:
    """Refuse a paper the user may not take now (unpublished, someone else's, before or after its
    window); return the student's terms for it."""
    assignments = paper_reach(paper=paper, user=user)
    if assignments is None:
        raise ApplicationError("this paper is not available", extra={"code": "not_available"})
    terms = terms_of(paper=paper, assignments=assignments, now=now)
    if terms.open_at and now < terms.open_at:
        raise ApplicationError(
            f"this paper opens at {timezone.localtime(terms.open_at):%Y-%m-%d %H:%M}", extra={"code": "not_open"}
        )
    if terms.close_at and now >= terms.close_at:
        raise ApplicationError("this paper is closed", extra={"code": "closed"})
    return terms


def session_start(
    *, user: User, paper: Paper, now: datetime | None = None, attempts: Attempts | None = None
) -> QuizSession:
    """Start an attempt, or return the attempt the student already has open (resume). `attempts`: the
    student's attempts at the paper where the caller has just read them (selectors.exams.attempts_at).
    Two starts at once number their attempts alike: the second fails the unique number and resumes
    the first."""
    now = now or timezone.now()
    attempts = attempts or attempts_at(user=user, paper=paper)
    existing = attempts.open
    if existing is not None:
        existing = session_expire_if_due(session=existing, now=now)
        if existing.is_open:
            return existing
    terms = paper_check_open(paper=paper, user=user, now=now)
    try:
        with transaction.atomic():
            return _session_create(user=user, paper=paper, now=now, terms=terms, taken=attempts.taken)
    except IntegrityError:
        # Two tabs pressed "start" at once: the other one created the session.
        opened = attempts_at(user=user, paper=paper).open
        if opened is None:
            raise
        return opened


def _session_create(*, user: User, paper: Paper, now: datetime, terms: Terms, taken: int) -> QuizSession:
    if paper.attempts_allowed and taken >= paper.attempts_allowed:
        raise ApplicationError(
            f"no attempts left: {paper.attempts_allowed} allowed, {taken} used", extra={"code": "no_attempts"}
        )
    deadline = now + timedelta(seconds=terms.time_limit_seconds) if terms.time_limit_seconds else None
    if terms.close_at and (deadline is None or deadline > terms.close_at):
        deadline = terms.close_at
    seed = random.SystemRandom().randrange(1, 2**62)
    rng = random.Random(seed)
    slots = _draw(paper, rng, now=now, user=user)
    if paper.shuffle_questions:
        rng.shuffle(slots)
    session = QuizSession.objects.create(
        paper=paper, user=user, number=taken + 1, started_at=now, deadline=deadline, seed=seed,
        max_score=sum((score for _, score in slots), Decimal(0)),
    )  # fmt: skip
    items = [
        SessionItem(
            session=session,
            position=position,
            question=question,
            score=score,
            option_order=_option_order(question, rng, shuffle=paper.shuffle_options),
        )
        for position, (question, score) in enumerate(slots, start=1)
    ]
    SessionItem.objects.bulk_create(items)
    for item in items:
        SessionItem.answer.related.set_cached_value(item, None)  # none yet: a view of it reads no answer
    slots_keep(session, items)  # its first view reads nothing again
    return session


def _draw(
    paper: Paper, rng: random.Random, *, now: datetime | None = None, user: User | None = None
) -> list[tuple[Question, Decimal]]:
    if paper.kind == PaperKind.FIXED:
        return fixed_paper_slots(paper=paper)
    slots: list[tuple[Question, Decimal]] = []
    # Practice shows each key once checked: it never draws a question of an exam still open.
    chosen: set[int] = (
        locked_question_ids(now=now or timezone.now(), user=user) if paper.mode == PaperMode.PRACTICE else set()
    )
    for rule in paper.rules.select_related("subject"):
        ids = [pk for pk in rule_candidates(rule).values_list("id", flat=True) if pk not in chosen]
        if len(ids) < rule.count:
            raise ApplicationError(
                f"rule {rule.position} of this paper needs {rule.count} questions but the bank has {len(ids)}",
                extra={"code": "rule_short", "rule": rule.position},
            )
        picked = rng.sample(ids, rule.count)
        chosen.update(picked)
        questions = rule_candidates(rule).in_bulk(picked)
        slots.extend((questions[pk], rule.score) for pk in picked)
    return slots


def _option_order(question: Question, rng: random.Random, *, shuffle: bool) -> list[str]:
    """Display order: option keys (shuffled if the paper says so); for matching, the right-hand choices
    (always shuffled, or pair order would give the key away)."""
    if question.qtype in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        keys = question.option_keys
        if shuffle:
            rng.shuffle(keys)
        return keys
    if question.qtype == QuestionType.MATCHING:
        data = question.answer_data or {}
        choices = sorted({str(pair["right"]) for pair in data.get("pairs", [])} | set(data.get("distractors", [])))
        rng.shuffle(choices)
        return choices
    return []


def session_expire_if_due(*, session: QuizSession, now: datetime | None = None) -> QuizSession:
    """Apply the paper's overdue rule to an open session whose time is up; otherwise change nothing."""
    now = now or timezone.now()
    if not session.is_open or session.deadline is None or now < session.deadline:
        return session
    with transaction.atomic():
        session = QuizSession.objects.select_for_update(of=("self",)).select_related("paper").get(pk=session.pk)
        # read again under the lock: finished, or given more time, meanwhile
        if not session.is_open or session.deadline is None or now < session.deadline:
            return session
        rule = session.paper.overdue_rule
        if rule == OverdueRule.AUTOSUBMIT:
            return _finish(session, by="timer", now=now)
        if rule == OverdueRule.GRACE and now < session.deadline + timedelta(seconds=session.paper.grace_seconds):
            if session.state != SessionState.OVERDUE:
                session.state = SessionState.OVERDUE
                session.save(update_fields=["state"])
            return session
        session.state = SessionState.ABANDONED
        session.finished_at = now
        session.finished_by = "timer"
        session.save(update_fields=["state", "finished_at", "finished_by"])
        return session


def sessions_sweep(*, now: datetime | None = None) -> int:
    """Finish or abandon every open session whose time is up (run by beat); returns how many changed.
    One session that fails is logged and left for the next sweep; it does not hold up the others."""
    now = now or timezone.now()
    changed = 0
    # The ids first: the sweep changes the very rows it looks for.
    due = list(
        QuizSession.objects.filter(state__in=OPEN_SESSION_STATES, deadline__lte=now)
        .order_by("deadline", "id")
        .values_list("pk", flat=True)
    )
    for pk in due:
        session = QuizSession.objects.select_related("paper").get(pk=pk)
        before = session.state
        try:
            after = session_expire_if_due(session=session, now=now).state
        except Exception:
            logger.exception("could not close overdue session %s", pk)
            continue
        if after != before:
            changed += 1
    return changed


def _locked_session(session_id: int, user: User) -> QuizSession:
    """The student's session, its row locked (not its paper's) until the transaction ends."""
    session = (
        QuizSession.objects.select_for_update(of=("self",))
        .select_related("paper")
        .filter(pk=session_id, user=user)
        .first()
    )
    if session is None:
        raise ApplicationError("no such session", extra={"code": "not_found"})
    return session


def _locked_open_session(session_id: int, user: User, now: datetime) -> QuizSession:
    session = _locked_session(session_id, user)
    if session.is_open and session.deadline is not None and now >= session.deadline:
        raise ApplicationError("time is up: answers are no longer accepted", extra={"code": "time_up"})
    if not session.is_open:
        raise ApplicationError(f"this session is {session.get_state_display()}", extra={"code": "not_open"})
    return session


def session_answer_save(
    *, user: User, session_id: int, position: int, response: Any, client_seq: int = 0, now: datetime | None = None
) -> Answer:
    """Autosave one answer: graded at once (kept from the student until the review policy allows),
    stored as the item's only Answer. Refused after the deadline, outside sequential order, or, in
    practice mode, once the question was checked with another response."""
    now = now or timezone.now()
    saved = answer_save_at_once(
        user_id=user.pk, session_id=session_id, position=position, response=response, client_seq=client_seq, now=now
    )
    if saved is not None:
        return saved
    with transaction.atomic():
        # Only the session row is locked (not its paper: every student of the paper would queue).
        session = (
            QuizSession.objects.select_for_update(of=("self",), no_key=True)
            .select_related("paper")
            .filter(pk=session_id, user=user)
            .first()
        )
        if session is None:
            raise ApplicationError("no such session", extra={"code": "not_found"})
        late = session.deadline is not None and now >= session.deadline
        if not late:
            return _answer_save_locked(session, position=position, response=response, client_seq=client_seq, now=now)
    # The rare path: apply the overdue rule (committed), then refuse.
    session_expire_if_due(session=session, now=now)
    raise ApplicationError("time is up: answers are no longer accepted", extra={"code": "time_up"})


# Refusals that concern the whole attempt, not one answer: a batch of saves stops at the first.
SESSION_REFUSALS = ("not_found", "time_up", "not_open")


@dataclass(frozen=True)
class SaveOutcome:
    """One answer of a batch: saved (`answer`), or refused on its own (`refusal`)."""

    position: int
    answer: Answer | None = None
    refusal: ApplicationError | None = None


def session_answers_save(
    *, user: User, session_id: int, answers: list[dict[str, Any]], now: datetime | None = None
) -> list[SaveOutcome]:
    """Several autosaves sent together (the exam page sends every answer changed in the last moment in
    one request): each is `session_answer_save` with its own rules and its own statement, so one answer
    refused (a response its question cannot take) leaves the others saved. A refusal of the attempt
    itself (not found, time up, not open) is raised, as for one save. Positions in the order given;
    a position twice keeps the save with the higher client_seq, as two requests would."""
    now = now or timezone.now()
    outcomes = []
    for entry in answers:
        position = entry["position"]
        try:
            answer = session_answer_save(
                user=user,
                session_id=session_id,
                position=position,
                response=entry["response"],
                client_seq=entry.get("client_seq", 0),
                now=now,
            )
        except ApplicationError as refusal:
            if refusal.extra.get("code") in SESSION_REFUSALS:
                raise
            outcomes.append(SaveOutcome(position=position, refusal=refusal))
        else:
            outcomes.append(SaveOutcome(position=position, answer=answer))
    return outcomes


def _answer_save_locked(
    session: QuizSession, *, position: int, response: Any, client_seq: int, now: datetime
) -> Answer:
    if not session.is_open:
        raise ApplicationError(f"this session is {session.get_state_display()}", extra={"code": "not_open"})
    if session.state == SessionState.OVERDUE:
        raise ApplicationError("time is up: you can only submit now", extra={"code": "time_up"})
    item = session.items.select_related("question", "answer").filter(position=position).first()
    if item is None:
        raise ApplicationError(f"this session has no question {position}", extra={"field": "position"})
    if session.paper.navigation == Navigation.SEQUENTIAL and position != session.current_position:
        raise ApplicationError(
            f"questions are answered in order: question {session.current_position} is the current one",
            extra={"code": "sequential", "field": "position"},
        )
    answer_length_check(response, position=position)
    practice = session.paper.mode == PaperMode.PRACTICE
    try:
        answer = item.answer
    except Answer.DoesNotExist:
        answer = None
    if answer is not None and client_seq and answer.client_seq > client_seq:
        return answer  # an older save arriving late
    if answer is not None and practice and answer.response_data is not None:
        if answer.response_data == response:
            return answer  # the same check sent twice
        raise ApplicationError("this question was already checked", extra={"code": "checked"})
    if practice and question_locked_for_practice(question_id=item.question_id, now=now, user=session.user_id):
        # A check shows the key: not while a version of the question is on an exam still open.
        raise ApplicationError(
            "this question is on an exam that is still open: check it after the exam closes",
            extra={"code": "locked", "position": position},
        )
    if practice and is_empty_response(response):
        # In practice a save is a check that shows the key: an empty one would give it away for nothing.
        raise ApplicationError("give an answer to check", extra={"field": "response", "position": position})
    # the paper's policy is one of MULTIPLE_CHOICE_POLICIES (papers._check_settings); grade checks again
    policy = cast(MultipleChoicePolicy, session.paper.multiple_choice_policy)
    fields = answer_fields(item.question, response, policy=policy, max_score=item.score, position=position)
    fields["client_seq"] = client_seq
    if answer is None:
        answer = Answer.objects.create(
            user_id=session.user_id, question=item.question, session=session, item=item, **fields
        )
    else:
        for name, value in fields.items():
            setattr(answer, name, value)
        answer.save(update_fields=[*fields, "updated_at"])
    if practice:
        wrong_book_record(answer=answer, practice=True, now=now)
    answer.session = session
    return answer


@transaction.atomic
def session_advance(*, user: User, session_id: int, now: datetime | None = None) -> QuizSession:
    """Sequential navigation: move on to the next question (there is no way back)."""
    now = now or timezone.now()
    session = _locked_open_session(session_id, user, now)
    if session.current_position < session.items.count():
        session.current_position += 1
        session.save(update_fields=["current_position"])
    return session


def session_finish(*, user: User, session_id: int, now: datetime | None = None) -> QuizSession:
    """The student submits. Finishing twice returns the finished session (a retried click)."""
    now = now or timezone.now()
    with transaction.atomic():
        session = _locked_session(session_id, user)
        if session.state == SessionState.FINISHED:
            return session
        overdue = session.is_open and session.deadline is not None and now >= session.deadline
        if not overdue:
            if not session.is_open:
                raise ApplicationError(f"this session is {session.get_state_display()}", extra={"code": "not_open"})
            return _finish(session, by="student", now=now)
    # Past the deadline: its overdue rule first (committed: an abandoned attempt stays abandoned), then
    # the submission, if the rule leaves the attempt open (a grace period).
    session = session_expire_if_due(session=session, now=now)
    with transaction.atomic():
        session = QuizSession.objects.select_for_update(of=("self",)).select_related("paper").get(pk=session.pk)
        if session.state == SessionState.FINISHED:
            return session
        if not session.is_open:
            raise ApplicationError(f"this session is {session.get_state_display()}", extra={"code": "not_open"})
        return _finish(session, by="student", now=now)


def _finish(session: QuizSession, *, by: str, now: datetime) -> QuizSession:
    """Close a locked session: unanswered items get an empty answer worth 0, the score is summed, the
    wrong-answer book learns the mistakes, and ungraded answers are announced for grading. The items and
    their answers are read in one statement (the total, what waits for a grade and the view of the
    finished session come from it), and the wrong-answer book is written in one more."""
    slots = list(session_slots(session))
    unanswered = [slot for slot in slots if getattr(slot, "answer", None) is None]
    for slot in unanswered:
        slot.answer = Answer(
            user_id=session.user_id,
            question_id=slot.question_id,
            session=session,
            item_id=slot.pk,
            response="",
            is_correct=False,
            score=Decimal("0.00"),  # as stored: the view of the finished session shows it as read
            max_score=slot.score,
            grade_status=GradeStatus.AUTO,
        )
    Answer.objects.bulk_create([slot.answer for slot in unanswered])
    slots_keep(session, slots)  # the view of the finished session reads them from here
    # the empty answers add 0 and wait for nothing
    pending = _set_totals(session, [(slot.answer.pk, slot.answer.score, slot.answer.grade_status) for slot in slots])
    session.state = SessionState.FINISHED
    session.finished_at = now
    session.finished_by = by
    session.save(update_fields=["state", "finished_at", "finished_by", "score", "pending_count"])
    if session.paper.mode == PaperMode.EXAM:
        # Answers still to be graded join the book when graded (answer_grade), if they are wrong then.
        wrong_book_record_session(session=session, now=now)
    if pending:
        transaction.on_commit(lambda: answers_need_grading.send(sender=QuizSession, answer_ids=pending))
    return session


def _set_totals(session: QuizSession, answers: list[tuple[int, Decimal | None, str]]) -> list[int]:
    """The session's score and count of answers still to be graded, from (id, score, grade_status) of
    every answer of it; returns the ids still to be graded."""
    pending = [answer_id for answer_id, _, status in answers if status in UNGRADED]
    session.score = sum((score for _, score, _ in answers if score is not None), Decimal(0)).quantize(Decimal("0.01"))
    session.pending_count = len(pending)
    return pending


def _sum_scores(session: QuizSession) -> None:
    """The session's score and its answers still to be graded, from one read of its answers."""
    _set_totals(
        session, list(Answer.objects.filter(session=session).order_by().values_list("pk", "score", "grade_status"))
    )


@transaction.atomic
def answer_grade(
    *, answer_id: int, score: Decimal, feedback: str = "", grader: User | None, status: str = GradeStatus.TEACHER
) -> Answer:
    """A teacher (or the model grader, status=model) grades or overrides one answer. The first grade
    that replaces the key's or the model's is kept as the original, for agreement and retraining.
    A model's grade never replaces a teacher's (it may arrive after the teacher has graded)."""
    if status not in GRADERS:
        raise ApplicationError(f"status must be one of {', '.join(GRADERS)}", extra={"field": "status"})
    # Only the answer row is locked: PostgreSQL refuses FOR UPDATE on the nullable side of the join.
    answer = (
        Answer.objects.select_for_update(of=("self",))
        .select_related("session", "question")
        .filter(pk=answer_id)
        .first()
    )
    if answer is None:
        raise ApplicationError("no such answer", extra={"code": "not_found"})
    if answer.session is not None and answer.session.is_open:
        raise ApplicationError("the student is still answering this", extra={"code": "session_open"})
    if answer.session is not None and answer.session.state == SessionState.ABANDONED:
        raise ApplicationError("this attempt was abandoned: it is not graded", extra={"code": "not_open"})
    if status == GradeStatus.MODEL and answer.grade_status == GradeStatus.TEACHER:
        return answer
    worth = answer_worth(answer)
    try:
        score = Decimal(str(score))
        valid = score.is_finite()
    except (ArithmeticError, ValueError):
        valid = False
    if not valid:
        raise ApplicationError(f"the score {score!r} is not a number", extra={"field": "score"})
    score = score.quantize(Decimal("0.01"))
    if not Decimal(0) <= score <= worth:
        raise ApplicationError(f"the score must be between 0 and {worth}", extra={"field": "score"})
    was_ungraded = answer.grade_status in UNGRADED
    if not answer.original_status:
        answer.original_score = answer.score
        answer.original_status = answer.grade_status
    answer.score = score
    answer.is_correct = score == worth
    answer.grade_status = status
    answer.feedback = (feedback or "").strip()
    answer.graded_by = grader if status == GradeStatus.TEACHER else None
    answer.graded_at = timezone.now()
    answer.save()
    if answer.session_id:
        session = QuizSession.objects.select_for_update(of=("self",)).select_related("paper").get(pk=answer.session_id)
        _sum_scores(session)
        session.save(update_fields=["score", "pending_count"])
        if was_ungraded and session.paper.mode == PaperMode.EXAM and answer.response:
            # The mistake the finish left out while the answer waited for its grade.
            wrong_book_record(answer=answer, practice=False)
    return answer
