"""Reads for papers and sessions, and the one place that decides what a student may see.

Every page and API response a student gets is built from `session_view`, which copies only the
fields the review policy allows at that moment: during an attempt no key, explanation, per-option
fraction or feedback, correctness or score leaves the server (practice mode shows them for each
checked question, that being its purpose).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeGuard

from django.contrib.auth.models import User
from django.db.models import Case, Count, Exists, OuterRef, Q, QuerySet, Subquery, Value, When, Window
from django.db.models.functions import Coalesce
from django.utils import timezone

from quizbank.models import (
    OPEN_SESSION_STATES,
    Answer,
    GradingMethod,
    Paper,
    PaperAssignment,
    PaperMode,
    PaperQuestion,
    Question,
    QuestionExplanation,
    QuestionType,
    QuizSession,
    ReviewWhen,
    SessionItem,
    SessionState,
    WrongBookEntry,
)
from quizbank.normalize import normalize_text
from quizbank.selectors.access import paper_reached_by, paper_terms, papers_visible_to_student


def papers_for_student(*, user: User, now: datetime | None = None) -> QuerySet[Paper]:
    """Published papers for the student: those open to everyone, those assigned to a class of theirs,
    and their own practice papers."""
    papers = Paper.objects.filter(published=True).filter(Q(owner__isnull=True) | Q(owner=user))
    return papers_visible_to_student(papers, user=user).select_related("subject").order_by("-created_at", "-id")


def paper_for_student(*, user: User, paper_id: int) -> Paper | None:
    """The paper, if the student may see it (as `papers_for_student` has it), with the assignments of it
    to their classes (`own_assignments`, for `terms_of`). The instance remembers for whom it was found,
    so a service given it need not ask again (`paper_reach`)."""
    paper = Paper.objects.select_related("subject").filter(pk=paper_id).first()
    own = paper_reached_by(paper=paper, user=user) if paper is not None else None
    if paper is None or own is None:
        return None
    paper.own_assignments = own  # type: ignore[attr-defined]
    paper.found_for_student = user.pk  # type: ignore[attr-defined]
    return paper


def paper_reach(*, paper: Paper, user: User) -> list[PaperAssignment] | None:
    """None where the student may not see this paper, else its assignments to their classes: known if
    `paper_for_student` found this very instance for them, else read."""
    if getattr(paper, "found_for_student", None) == user.pk:
        return paper.own_assignments  # type: ignore[attr-defined]
    found = paper_for_student(user=user, paper_id=paper.pk)
    return None if found is None else found.own_assignments  # type: ignore[attr-defined]


def sessions_of_student(
    *, user: User, paper: Paper | None = None, paper_id: int | None = None
) -> QuerySet[QuizSession]:
    """The student's attempts, newest first (of one paper, given the paper or its id)."""
    queryset = QuizSession.objects.filter(user=user).select_related("paper")
    if paper is not None:
        queryset = queryset.filter(paper=paper)
    return queryset.filter(paper_id=paper_id) if paper_id is not None else queryset


def session_of_student(*, user: User, session_id: int) -> QuizSession | None:
    """A student's own session, or None: another student's sessions do not exist for them."""
    return QuizSession.objects.filter(pk=session_id, user=user).select_related("paper").first()


@dataclass(frozen=True)
class Attempts:
    """A student's attempts at a paper: the one still open (if any) and how many were started."""

    open: QuizSession | None
    taken: int


def attempts_at(*, user: User, paper: Paper) -> Attempts:
    """The student's attempts at the paper, in one query: the open one first, counted with the rest."""
    first = (
        QuizSession.objects.filter(user=user, paper=paper)
        .annotate(
            taken=Window(Count("pk")),
            still_open=Case(When(state__in=OPEN_SESSION_STATES, then=Value(1)), default=Value(0)),
        )
        .order_by("-still_open", "-number")
        .first()
    )
    if first is None:
        return Attempts(open=None, taken=0)
    return Attempts(open=first if first.still_open else None, taken=first.taken)


def seconds_left(session: QuizSession, *, now: datetime | None = None) -> int | None:
    if session.deadline is None:
        return None
    return max(0, int((session.deadline - (now or timezone.now())).total_seconds()))


@dataclass(frozen=True)
class Visibility:
    score: bool
    correctness: bool
    answer: bool
    explanation: bool

    @property
    def any(self) -> bool:
        return self.score or self.correctness or self.answer or self.explanation


NOTHING = Visibility(False, False, False, False)


def _allowed(when: str, session: QuizSession, now: datetime, close_at: Callable[[], datetime | None]) -> bool:
    if session.state != SessionState.FINISHED or when == ReviewWhen.NEVER:
        return False
    if when == ReviewWhen.IMMEDIATELY:
        return True
    closes = close_at()
    return closes is not None and now >= closes  # after_close: never while the paper has no close


def review_visibility(session: QuizSession, *, now: datetime | None = None) -> Visibility:
    """What the review policy lets the student see of a session now."""
    now = now or timezone.now()
    paper = session.paper

    @functools.cache
    def close_at() -> datetime | None:
        # the terms papers_with_attempts loaded for the paper, else the student's own, read once now
        terms = getattr(paper, "terms", None) or paper_terms(paper=paper, user=session.user_id, now=now)
        return terms.close_at

    return Visibility(
        score=_allowed(paper.review_score, session, now, close_at),
        correctness=_allowed(paper.review_correctness, session, now, close_at),
        answer=_allowed(paper.review_answer, session, now, close_at),
        explanation=_allowed(paper.review_explanation, session, now, close_at),
    )


def _question_view(item: SessionItem, question: Question) -> dict:
    """The question as a student may see it while answering: no key, no fraction, no feedback."""
    view: dict = {
        "position": item.position,
        "qtype": question.qtype,
        "qtype_label": question.get_qtype_display(),
        "stem": question.stem,
        "stem_format": question.stem_format,
        "score": str(item.score),
    }
    if question.qtype in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        texts = {option["key"]: option.get("text", "") for option in question.options}
        order = item.option_order or list(texts)
        view["options"] = [{"key": key, "text": texts[key]} for key in order if key in texts]
    elif question.qtype == QuestionType.FILL_BLANK:
        view["blanks"] = len((question.answer_data or {}).get("blanks") or []) or 1
    elif question.qtype == QuestionType.MATCHING:
        pairs = (question.answer_data or {}).get("pairs") or []
        view["lefts"] = [str(pair["left"]) for pair in pairs]
        view["choices"] = list(item.option_order)
    elif question.qtype == QuestionType.CLOZE:
        view["gaps"] = [
            {
                "type": sub.get("type", ""),
                # Drop-down gaps show their option texts, sorted so the key's position says nothing.
                "options": sorted(str(option.get("text", "")) for option in sub.get("options") or []),
            }
            for sub in (question.answer_data or {}).get("subquestions") or []
        ]
    return view


def _key_view(question: Question) -> dict:
    """The right answer in the shape the student answered in."""
    data = question.answer_data or {}
    key: dict = {"answer": question.answer}
    if question.qtype in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        # As grading reads it: the letters of the key, or, without one, the options worth something.
        letters = set(normalize_text(question.answer).upper())
        key["correct_options"] = [
            o["key"]
            for o in question.options
            if (str(o["key"]).upper() in letters if letters else Decimal(str(o.get("fraction") or 0)) > 0)
        ]
    elif question.qtype == QuestionType.MATCHING:
        key["pairs"] = [{"left": str(p["left"]), "right": str(p["right"])} for p in data.get("pairs") or []]
    elif question.qtype == QuestionType.FILL_BLANK:
        key["blanks"] = [list(blank.get("answers") or []) for blank in data.get("blanks") or []]
    return key


# What session_view reads of each slot, its question and its answer: a question's or an answer's other
# columns (sources, the grader's prompt and raw output...) can be long and are never shown.
_ITEM_FIELDS = ("session_id", "position", "question_id", "score", "option_order")
_QUESTION_FIELDS = (
    "qtype", "stem", "stem_format", "options", "answer", "answer_data", "explanation", "general_feedback",
)  # fmt: skip
_ANSWER_FIELDS = (
    "session_id", "item_id", "response_data", "updated_at", "score", "grade_status", "feedback",
    "grading_model_version", "is_correct", "explanation", "explanation_source", "model_version",
)  # fmt: skip


def session_slots(session: QuizSession) -> QuerySet[SessionItem]:
    """The session's slots in order, each with what `session_view` shows of its question and answer
    (the answer: None where it has none), in one query."""
    return (
        session.items.select_related("question", "answer")
        .only(
            *_ITEM_FIELDS,
            *(f"question__{name}" for name in _QUESTION_FIELDS),
            *(f"answer__{name}" for name in _ANSWER_FIELDS),
        )
        .order_by("position")
    )


def slots_keep(session: QuizSession, slots: list[SessionItem]) -> None:
    """Keep on this session instance the slots a service has just read (`session_slots`) or made, each
    with its answer cached (None where it has none), for the response of the same request."""
    session.__dict__["slots_read"] = slots


def slots_taken(session: QuizSession) -> list[SessionItem] | None:
    """The slots `slots_keep` kept on this instance, taken off it (None where none were): for the view
    the request answers with right after the service, never for a later one."""
    return session.__dict__.pop("slots_read", None)


def _session_items(session: QuizSession, *, precomputed: bool) -> list[SessionItem]:
    """The session's slots as `session_slots` reads them. With `precomputed`, each slot also carries
    the newest model version's explanation of its question (`precomputed_text` and
    `precomputed_version`, None where the model wrote none)."""
    items = session_slots(session)
    if precomputed:
        newest = (
            QuestionExplanation.objects.filter(question_id=OuterRef("question_id"))
            .exclude(text="")
            .order_by("-created_at", "-id")
        )
        items = items.annotate(
            precomputed_text=Subquery(newest.values("text")[:1]),
            precomputed_version=Subquery(newest.values("model_version")[:1]),
        )
    return list(items)


def _precomputed(item: SessionItem) -> tuple[str, str] | None:
    text = getattr(item, "precomputed_text", None)
    return None if text is None else (text, getattr(item, "precomputed_version", ""))


def _by_model(answer: Answer | None) -> TypeGuard[Answer]:
    return answer is not None and answer.explanation_source == "model" and bool(answer.explanation)


def _explanation_view(question: Question, answer: Answer | None, precomputed: tuple[str, str] | None) -> dict:
    """The explanation to show: the one the model wrote for this answer, else the newest one it wrote
    for the question (precomputed, no model call), else the bank's; labelled with where it came from."""
    if _by_model(answer):
        text, source, version = answer.explanation, "model", answer.model_version
    elif precomputed is not None:
        (text, version), source = precomputed, "model"
    else:
        text, source, version = question.explanation, "bank", ""
    return {"explanation": text, "explanation_source": source, "explanation_version": version}


def _answer_of(item: SessionItem, session: QuizSession) -> Answer | None:
    """The item's answer, or None where it has none (select_related keeps the absence too)."""
    answer = getattr(item, "answer", None)
    return answer if answer is not None and answer.session_id == session.pk else None


def _item_view(item: SessionItem, session: QuizSession, *, visible: Visibility, practice: bool, locked: bool) -> dict:
    """One slot of `session_view`: the question, the saved response, and what the policy shows of the rest."""
    question = item.question
    answer = _answer_of(item, session)
    entry = _question_view(item, question)
    entry["response"] = answer.response_data if answer else None
    entry["saved_at"] = answer.updated_at.isoformat() if answer else None
    checked = practice and answer is not None and answer.response_data is not None
    shown = Visibility(True, True, True, True) if checked else visible
    if locked:
        entry["locked"] = True
        shown = NOTHING
    if shown.score:
        entry["awarded"] = None if answer is None or answer.score is None else str(answer.score)
        entry["grade_status"] = answer.grade_status if answer else "unanswered"
        # Model-written feedback is labelled as such wherever it is shown, and shown only when the
        # policy shows the key: the model was shown the key and can quote it.
        by_model = answer is not None and answer.grade_status == "model"
        entry["feedback"] = answer.feedback if answer and (shown.answer or not by_model) else ""
        entry["feedback_source"] = "model" if by_model else "teacher"
        entry["feedback_version"] = answer.grading_model_version if by_model and answer is not None else ""
    if shown.correctness:
        entry["correct"] = answer.is_correct if answer else False
    if shown.answer:
        entry["key"] = _key_view(question)
    if shown.explanation:
        entry.update(_explanation_view(question, answer, _precomputed(item)))
        # The answer's id lets the page ask the model why this answer is wrong.
        entry["answer_id"] = answer.pk if answer else None
        entry["general_feedback"] = question.general_feedback
    return entry


def session_view(session: QuizSession, *, now: datetime | None = None, slots: list[SessionItem] | None = None) -> dict:
    """Everything a student's page or API response about a session may carry, and nothing more.
    `slots`: those the service of this request has just read or made (`slots_taken`: a start's new
    slots, a submission's slots read under its lock), not read again unless the view needs the
    model's explanations; only where nothing can have happened to the session since."""
    now = now or timezone.now()
    visible = review_visibility(session, now=now)
    practice = session.paper.mode == PaperMode.PRACTICE
    precomputed = visible.explanation or practice
    if slots is not None and not precomputed:
        session_items = sorted(slots, key=lambda item: item.position)
    else:
        session_items = _session_items(session, precomputed=precomputed)
    # Practice shows a checked question's key, but not while a version of it is on an exam still open.
    locked = (
        questions_locked_for_practice(
            question_ids={item.question_id for item in session_items}, now=now, user=session.user_id
        )
        if practice
        else set()
    )
    items = [
        _item_view(item, session, visible=visible, practice=practice, locked=item.question_id in locked)
        for item in session_items
    ]
    return {**_session_head(session, visible=visible, now=now), "items": items}


def _session_head(session: QuizSession, *, visible: Visibility, now: datetime) -> dict:
    """A session as `session_view` shows it, without its questions."""
    paper = session.paper
    view = {
        "id": session.pk,
        "paper": {"id": paper.pk, "title": paper.title, "mode": paper.mode, "navigation": paper.navigation},
        "number": session.number,
        "state": session.state,
        "started_at": session.started_at.isoformat(),
        "deadline": session.deadline.isoformat() if session.deadline else None,
        "seconds_left": seconds_left(session, now=now) if session.is_open else None,
        "finished_at": session.finished_at.isoformat() if session.finished_at else None,
        "current_position": session.current_position,
        "max_score": str(session.max_score),
        "review": {
            "score": visible.score,
            "correctness": visible.correctness,
            "answer": visible.answer,
            "explanation": visible.explanation,
        },
    }
    if visible.score:
        view["score"] = None if session.score is None else str(session.score)
        view["pending_count"] = session.pending_count
    return view


def session_summaries(*, user: User, paper_id: int | None = None, now: datetime | None = None) -> list[dict]:
    """The student's attempts as `session_view` shows them, without their questions but with how many
    there are and how many have a saved response; in two queries whatever the number of attempts."""
    now = now or timezone.now()
    sessions = list(sessions_of_student(user=user, paper_id=paper_id))
    counts: dict[int, list[int]] = {session.pk: [0, 0] for session in sessions}
    slots = SessionItem.objects.filter(session__in=[session.pk for session in sessions]).values_list(
        "session_id", "answer__session_id", "answer__response_data"
    )
    for session_id, answer_session_id, response in slots:
        counts[session_id][0] += 1
        # As session_view reads a slot: its answer in this session, with a response saved.
        counts[session_id][1] += answer_session_id == session_id and response is not None
    return [
        {
            **_session_head(session, visible=review_visibility(session, now=now), now=now),
            "question_count": counts[session.pk][0],
            "answered_count": counts[session.pk][1],
        }
        for session in sessions
    ]


def grade_of(*, paper: Paper, sessions: Iterable[QuizSession]) -> Decimal | None:
    """A student's grade on a paper by its grading method, from their attempts at it (already loaded):
    finished ones only, those still waiting for a grade left out."""
    finished = sorted((s for s in sessions if s.state == SessionState.FINISHED), key=lambda s: s.number)
    scores = [s.score for s in finished if s.score is not None]
    if not scores:
        return None
    if paper.grading_method == GradingMethod.LAST:
        return scores[-1]
    if paper.grading_method == GradingMethod.AVERAGE:
        return (sum(scores, Decimal(0)) / len(scores)).quantize(Decimal("0.01"))
    return max(scores)


def paper_grade(*, paper: Paper, user: User) -> Decimal | None:
    """The student's grade on a paper by its grading method over finished attempts (pending excluded)."""
    return grade_of(paper=paper, sessions=QuizSession.objects.filter(paper=paper, user=user))


def grade_shown(*, paper: Paper, sessions: Iterable[QuizSession], now: datetime | None = None) -> Decimal | None:
    """The grade as the student may see it (loaded attempts): only once the review policy shows the score
    of their latest finished attempt, the grade being a score."""
    finished = [s for s in sessions if s.state == SessionState.FINISHED]
    if not finished or not review_visibility(max(finished, key=lambda s: s.number), now=now).score:
        return None
    return grade_of(paper=paper, sessions=sessions)


def open_exams(*, now: datetime | None = None) -> QuerySet[Paper]:
    """Class exams not closed yet: while they are open their questions' keys and verdicts are guarded."""
    now = now or timezone.now()
    # a class whose own window closes later keeps the paper open for the lock too
    later = PaperAssignment.objects.filter(paper=OuterRef("pk"), close_at__gt=now)
    return Paper.objects.filter(mode=PaperMode.EXAM, owner__isnull=True).filter(
        Q(close_at__isnull=True) | Q(close_at__gt=now) | Exists(later)
    )


def _lineages_on(papers: QuerySet[Paper]) -> QuerySet:
    """The lineages (a question's first version: `coalesce(root, id)`) of every question these papers
    use, fixed or drawn into an attempt of a random paper. An edit of a question makes a new version
    with the same lineage, so a lock by lineage also holds for every later (or earlier) version."""
    used = Question.objects.filter(
        Q(id__in=PaperQuestion.objects.filter(paper__in=papers).values("question_id"))
        | Q(id__in=SessionItem.objects.filter(session__paper__in=papers).values("question_id"))
    )
    return used.annotate(lineage=Coalesce("root_id", "id")).values("lineage")


def _in_lineages(lineages: Iterable[int] | QuerySet, prefix: str = "") -> Q:
    """Questions (or rows pointing at a question through `prefix`) of these lineages."""
    return Q(**{f"{prefix}root__in": lineages}) | Q(**{f"{prefix}id__in": lineages})


def locked_question_ids(*, now: datetime | None = None, user: User | int | None = None) -> set[int]:
    """Every version of every question on an exam not closed yet: practice, the model's training data
    and anything else that would show or teach the key must leave them out while the exam is open.

    With `user` (or their id), the question versions that an exam has already shown that user (an exam whose policy
    shows the key on submission, in an attempt they have submitted) are not locked for them by that
    exam: practising them tells them nothing new, and their wrong-answer book stays usable."""
    exams = open_exams(now=now)
    lineage = Coalesce("question__root_id", "question_id")
    on_exam = set(
        PaperQuestion.objects.filter(paper__in=exams).annotate(lineage=lineage).values_list("paper_id", "lineage")
    )
    on_exam |= set(
        SessionItem.objects.filter(session__paper__in=exams)
        .annotate(lineage=lineage)
        .values_list("session__paper_id", "lineage")
        .distinct()
    )
    if not on_exam:
        return set()
    versions: dict[int, set[int]] = {}
    lineages = {lineage_id for _, lineage_id in on_exam}
    for pk, lineage_id in (
        Question.objects.filter(_in_lineages(lineages))
        .annotate(lineage=Coalesce("root_id", "id"))
        .values_list("id", "lineage")
    ):
        versions.setdefault(lineage_id, set()).add(pk)
    shown: dict[int, set[int]] = {}
    if user is not None:
        for paper_id, question_id in SessionItem.objects.filter(
            session__paper__in=exams.filter(review_answer=ReviewWhen.IMMEDIATELY),
            session__user=user,
            session__state=SessionState.FINISHED,
        ).values_list("session__paper_id", "question_id"):
            shown.setdefault(paper_id, set()).add(question_id)
    locked: set[int] = set()
    for paper_id, lineage_id in on_exam:
        locked |= versions.get(lineage_id, set()) - shown.get(paper_id, set())
    return locked


def wrong_book_of(
    *, user: User, include_mastered: bool = False, now: datetime | None = None
) -> QuerySet[WrongBookEntry]:
    """The student's mistakes, except those on exams still open whose policy does not yet show right
    and wrong: listing them would tell the student which answers were wrong."""
    hiding = open_exams(now=now).exclude(review_correctness=ReviewWhen.IMMEDIATELY)
    hidden = _in_lineages(_lineages_on(hiding), prefix="question__")
    queryset = WrongBookEntry.objects.filter(user=user).exclude(hidden).select_related("question__subject")
    return queryset if include_mastered else queryset.filter(mastered_at__isnull=True)


def wrong_book_practice_open(*, user: User) -> QuizSession | None:
    """The student's practice of their wrong answers left unfinished (only that practice has a personal paper)."""
    return (
        QuizSession.objects.filter(user=user, paper__owner=user, state__in=OPEN_SESSION_STATES)
        .select_related("paper")
        .order_by("-started_at", "-id")
        .first()
    )


def questions_locked_for_practice(
    *, question_ids: Iterable[int], now: datetime | None = None, user: User | int | None = None
) -> set[int]:
    """Those of the questions that are locked for practice (`locked_question_ids`): practice shows the key."""
    return set(question_ids) & locked_question_ids(now=now, user=user)


def question_locked_for_practice(
    *, question_id: int, now: datetime | None = None, user: User | int | None = None
) -> bool:
    """A question of which a version is on an exam that is not closed yet cannot be practised:
    practice shows the key (see `locked_question_ids` for what `user` changes)."""
    return question_id in locked_question_ids(now=now, user=user)
