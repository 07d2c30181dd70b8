"""Student pages for exams, practice papers and the wrong-answer book.

A session page is rendered from `session_view` alone, never from Question rows: whatever the review
policy keeps from the student cannot reach the HTML. The page's script saves answers through the
session API (/api/v1/sessions/...).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.exceptions import ApplicationError
from core.throttling import request_ident, throttle_hit, throttled_message
from quizbank.importers.base import parse_bool
from quizbank.models import Paper, PaperMode, QuizSession, SessionState
from quizbank.selectors.access import Terms
from quizbank.selectors.exams import (
    attempts_at,
    paper_for_student,
    review_visibility,
    session_of_student,
    session_view,
    sessions_of_student,
    wrong_book_of,
    wrong_book_practice_open,
)
from quizbank.selectors.papers import papers_with_attempts
from quizbank.services import session_finish, session_start, wrong_book_practice_start
from quizbank.services.answers import response_text

QTYPE_LABELS = {
    "single_choice": gettext_lazy("Single choice"),
    "multiple_choice": gettext_lazy("Multiple choice"),
    "true_false": gettext_lazy("True or false"),
    "fill_blank": gettext_lazy("Fill in the blanks"),
    "numerical": gettext_lazy("Numerical"),
    "matching": gettext_lazy("Matching"),
    "short_answer": gettext_lazy("Short answer"),
    "essay": gettext_lazy("Essay"),
    "cloze": gettext_lazy("Cloze"),
    "description": gettext_lazy("Description"),
}
STATE_LABELS = {
    SessionState.IN_PROGRESS: gettext_lazy("In progress"),
    SessionState.OVERDUE: gettext_lazy("Time is up (grace period)"),
    SessionState.FINISHED: gettext_lazy("Submitted"),
    SessionState.ABANDONED: gettext_lazy("Void (time ran out)"),
}
REVIEW_WHEN_LABELS = {
    "immediately": gettext_lazy("right after you submit"),
    "after_close": gettext_lazy("after the paper closes"),
    "never": gettext_lazy("never"),
}
# The services refuse in English; students read these instead, by the refusal's code.
REFUSALS = {
    "not_available": gettext_lazy("This paper is not available."),
    "not_open": gettext_lazy("This paper is not open yet."),
    "closed": gettext_lazy("This paper is closed."),
    "no_attempts": gettext_lazy("You have used all your attempts at this paper."),
    "rule_short": gettext_lazy("This paper cannot be drawn from the question bank now; tell your teacher."),
    "empty": gettext_lazy("Your wrong-answer book is empty."),
    "time_up": gettext_lazy("Time is up: answers are no longer accepted."),
}


LOCKED_MISTAKES = gettext_lazy("Your mistakes are on exams that are still open: practise them after the exams close.")


def _refusal(exc: ApplicationError) -> str:
    if exc.extra.get("code") == "empty" and exc.extra.get("locked"):
        return str(LOCKED_MISTAKES)
    return str(REFUSALS.get(exc.extra.get("code"), exc.message))


def _points(value) -> str:
    """2.00 → "2", 1.50 → "1.5"."""
    if value is None:
        return ""
    number = Decimal(str(value)).normalize()
    return f"{number:f}"


def _paper_status(terms: Terms, now: datetime) -> tuple[str, str]:
    if terms.open_at and now < terms.open_at:
        return "not_open", _("Not open yet")
    if terms.close_at and now >= terms.close_at:
        return "closed", _("Closed")
    return "open", _("Open")


def _session_row(session: QuizSession, now: datetime) -> dict:
    visible = review_visibility(session, now=now)
    return {
        "session": session,
        "state_label": STATE_LABELS.get(session.state, session.state),
        "score": _points(session.score) if visible.score and session.score is not None else None,
        "max_score": _points(session.max_score),
        "pending": visible.score and session.pending_count > 0,
        "url": reverse("session-take" if session.is_open else "session-review", args=[session.pk]),
    }


def _paper_row(paper: Paper, now: datetime) -> dict:
    """A paper of `papers_with_attempts`: the student's attempts and the grade they may see are loaded."""
    sessions = paper.own_sessions
    terms = paper.terms
    status, status_label = _paper_status(terms, now)
    # The grade shows only where the review policy shows the score of the attempts it comes from.
    grade = paper.shown_grade
    return {
        "paper": paper,
        "status": status,
        "status_label": status_label,
        "terms": terms,
        "minutes": _points(Decimal(terms.time_limit_seconds) / 60) if terms.time_limit_seconds else None,
        "attempts_used": len(sessions),
        "open_session": next((s for s in sessions if s.is_open), None),
        "grade": _points(grade) if grade is not None else None,
        "sessions": [_session_row(s, now) for s in sessions],
    }


@login_required
def exam_index(request):
    now = timezone.now()
    rows = [_paper_row(paper, now) for paper in papers_with_attempts(user=request.user, now=now)]
    sessions = [_session_row(s, now) for s in sessions_of_student(user=request.user)[:50]]
    return render(
        request,
        "quizbank/exam_index.html",
        {
            "exams": [row for row in rows if row["paper"].mode == PaperMode.EXAM],
            "practice_papers": [row for row in rows if row["paper"].mode == PaperMode.PRACTICE],
            "sessions": sessions,
        },
    )


def _own_paper(request, paper_id: int) -> Paper:
    paper = paper_for_student(user=request.user, paper_id=paper_id)
    if paper is None:
        raise Http404("no such paper")
    return paper


@login_required
def exam_paper(request, paper_id: int):
    now = timezone.now()
    papers = papers_with_attempts(user=request.user, paper_id=paper_id, now=now)
    if not papers:
        raise Http404("no such paper")
    paper = papers[0]
    row = _paper_row(paper, now)
    review = [
        (_("Score"), REVIEW_WHEN_LABELS.get(paper.review_score, paper.review_score)),
        (_("Right or wrong"), REVIEW_WHEN_LABELS.get(paper.review_correctness, paper.review_correctness)),
        (_("Right answers"), REVIEW_WHEN_LABELS.get(paper.review_answer, paper.review_answer)),
        (_("Explanations"), REVIEW_WHEN_LABELS.get(paper.review_explanation, paper.review_explanation)),
    ]
    return render(
        request,
        "quizbank/exam_paper.html",
        {
            "row": row,
            "paper": paper,
            "review": review,
            "practice": paper.mode == PaperMode.PRACTICE,
            "sequential": paper.navigation == "sequential",
        },
    )


@login_required
@require_POST
def exam_start(request, paper_id: int):
    paper = _own_paper(request, paper_id)
    attempts = attempts_at(user=request.user, paper=paper)
    if paper.attempts_allowed == 0 and attempts.open is None:
        # Any number of attempts, each of which may queue model grading: new ones are limited.
        wait = throttle_hit(scope="attempt", ident=request_ident(request))
        if wait is not None:
            messages.error(request, throttled_message(wait))
            return redirect("exam-paper", paper_id=paper.pk)
    try:
        session = session_start(user=request.user, paper=paper, attempts=attempts)
    except ApplicationError as exc:
        messages.error(request, _refusal(exc))
        return redirect("exam-paper", paper_id=paper.pk)
    return redirect("session-take", session_id=session.pk)


def _own_session(request, session_id: int) -> QuizSession:
    session = session_of_student(user=request.user, session_id=session_id)
    if session is None:
        raise Http404("no such session")
    return session


# --- taking a session ---------------------------------------------------------------------------------


def _true_false_value(response) -> str:
    if response is None or response == "":
        return ""
    chosen = response if isinstance(response, bool) else parse_bool(str(response))
    return "" if chosen is None else ("true" if chosen else "false")


def _as_list(response) -> list:
    if isinstance(response, list | tuple):
        return list(response)
    if response in (None, ""):
        return []
    return [response]


def _form(entry: dict) -> dict:
    """What the inputs of one question show: the student's saved response, in the inputs' shape."""
    qtype, response = entry["qtype"], entry.get("response")
    if qtype == "single_choice":
        return {"options": [{**o, "checked": o["key"] == response} for o in entry.get("options", [])]}
    if qtype == "multiple_choice":
        chosen = set(_as_list(response)) if isinstance(response, list) else set(str(response or ""))
        return {"options": [{**o, "checked": o["key"] in chosen} for o in entry.get("options", [])]}
    if qtype == "true_false":
        return {"value": _true_false_value(response)}
    if qtype == "fill_blank":
        given = _as_list(response)
        return {"parts": [given[i] if i < len(given) and given[i] is not None else "" for i in range(entry["blanks"])]}
    if qtype == "matching":
        chosen = response if isinstance(response, dict) else {}
        return {"rows": [{"left": left, "value": chosen.get(left) or ""} for left in entry.get("lefts", [])]}
    if qtype == "cloze":
        given = _as_list(response)
        return {
            "gaps": [
                {**gap, "number": i + 1, "value": given[i] if i < len(given) and given[i] is not None else ""}
                for i, gap in enumerate(entry.get("gaps", []))
            ]
        }
    return {"value": "" if response is None else str(response)}


def _key_text(entry: dict) -> str:
    """The right answer as one readable line, from what session_view allowed (entry["key"])."""
    key = entry.get("key") or {}
    qtype = entry["qtype"]
    if "correct_options" in key:
        texts = {o["key"]: o["text"] for o in entry.get("options", [])}
        return "；".join(f"{k}. {texts.get(k, '')}".strip() for k in key["correct_options"])
    if key.get("pairs"):
        return "；".join(f"{p['left']} → {p['right']}" for p in key["pairs"])
    if key.get("blanks"):
        return "；".join(" / ".join(str(a) for a in blank) for blank in key["blanks"])
    if qtype == "true_false":
        value = _true_false_value(key.get("answer"))
        return str(_("True") if value == "true" else _("False") if value == "false" else key.get("answer", ""))
    return str(key.get("answer", ""))


def _response_display(entry: dict) -> str:
    if entry["qtype"] == "true_false":
        value = _true_false_value(entry.get("response"))
        return str(_("True") if value == "true" else _("False") if value == "false" else "")
    return response_text(entry.get("response"))


def _item(entry: dict) -> dict:
    """One question of the session view, with what its template needs; nothing beyond the view. The
    per-question phrases are made here once rather than by a translation tag per question."""
    graded_status = entry.get("grade_status")
    points, awarded_points = _points(entry["score"]), _points(entry.get("awarded"))
    return {
        **entry,
        "label": QTYPE_LABELS.get(entry["qtype"], entry.get("qtype_label", "")),
        "heading": _("Question %(number)s") % {"number": entry["position"]},
        "points": points,
        "points_label": _("%(points)s pt") % {"points": points},
        "awarded_points": awarded_points,
        "awarded_label": _("%(points)s / %(total)s pt") % {"points": awarded_points, "total": points}
        if "awarded" in entry
        else "",
        "explanation_label": _("AI generated · %(version)s") % {"version": entry["explanation_version"]}
        if entry.get("explanation_source") == "model"
        else "",
        "html": entry.get("stem_format") == "html",
        "form": _form(entry),
        "answered": entry.get("response") not in (None, "", [], {}),
        "response_display": _response_display(entry),
        "has_key": "key" in entry,
        "key_text": _key_text(entry) if "key" in entry else "",
        "has_explanation": "explanation" in entry,
        "pending": graded_status in ("pending", "needs_review"),
        "checked": "correct" in entry or "key" in entry,
    }


def _strings() -> dict:
    return {
        "saving": _("Saving…"),
        "saved": _("Saved %(time)s"),
        "retrying": _("Save failed, retrying"),
        "refused": _("This answer cannot be saved:"),
        "draft": _("Not saved yet"),
        "offline": _("Offline: your answers are kept on this device and sent when you are back online"),
        "timeUp": _("Time is up: submitting…"),
        "confirmFinish": _("Submit your answers? You cannot change them afterwards."),
        "confirmUnanswered": _("%(count)s question(s) are unanswered. Submit anyway?"),
        "correct": _("✓ Correct"),
        "wrong": _("✗ Wrong"),
        "pending": _("Awaiting grading"),
        "rightAnswer": _("Right answer:"),
        "explanation": _("Explanation"),
        "aiLabel": _("AI generated · %(version)s"),
        "bankLabel": _("Question bank explanation"),
        "true": _("True"),
        "false": _("False"),
        "newer": _("A newer answer was saved elsewhere; reloading…"),
    }


@login_required
def session_take(request, session_id: int):
    session = _own_session(request, session_id)
    if not session.is_open:
        return redirect("session-review", session_id=session.pk)
    view = session_view(session)
    practice = view["paper"]["mode"] == PaperMode.PRACTICE
    sequential = view["paper"]["navigation"] == "sequential"
    items = [_item(entry) for entry in view["items"]]
    last_position = items[-1]["position"] if items else 0
    shown = [item for item in items if item["position"] == view["current_position"]] if sequential else items
    config = {
        "session": session.pk,
        "practice": practice,
        "sequential": sequential,
        "state": view["state"],
        "secondsLeft": view["seconds_left"],
        "urls": {
            "session": f"/api/v1/sessions/{session.pk}",
            "answers": f"/api/v1/sessions/{session.pk}/answers/",
            "answerBatch": f"/api/v1/sessions/{session.pk}/answers",
            "advance": f"/api/v1/sessions/{session.pk}/advance",
            "review": reverse("session-review", args=[session.pk]),
        },
        "strings": _strings(),
    }
    return render(
        request,
        "quizbank/session_take.html",
        {
            "view": view,
            "items": shown,
            "practice": practice,
            "sequential": sequential,
            "overdue": view["state"] == SessionState.OVERDUE,
            "has_next": sequential and view["current_position"] < last_position,
            "count": len(items),
            "config": config,
        },
    )


@login_required
@require_POST
def session_finish_page(request, session_id: int):
    session = _own_session(request, session_id)
    try:
        session_finish(user=request.user, session_id=session.pk)
    except ApplicationError as exc:
        messages.error(request, _refusal(exc))
    return redirect("session-review", session_id=session.pk)


@login_required
def session_review(request, session_id: int):
    session = _own_session(request, session_id)
    if session.is_open:
        return redirect("session-take", session_id=session.pk)
    view = session_view(session)
    return render(
        request,
        "quizbank/session_review.html",
        {
            "view": view,
            "session": session,
            "state_label": STATE_LABELS.get(session.state, session.state),
            "items": [_item(entry) for entry in view["items"]],
            "score": _points(view.get("score")),
            "max_score": _points(view["max_score"]),
            "review": view["review"],
        },
    )


# --- the wrong-answer book ------------------------------------------------------------------------------


@login_required
def wrong_book(request):
    return _wrong_book_page(request)


def _wrong_book_page(request, *, status: int = 200):
    entries = list(wrong_book_of(user=request.user, include_mastered=True))
    for entry in entries:
        entry.label = QTYPE_LABELS.get(entry.question.qtype, "")
    return render(
        request,
        "quizbank/wrong_book.html",
        {"entries": entries, "open_count": sum(1 for e in entries if e.mastered_at is None)},
        status=status,
    )


@login_required
@require_POST
def wrong_book_practice(request):
    if wrong_book_practice_open(user=request.user) is None:  # only a new paper counts against the limit
        wait = throttle_hit(scope="wrong_book_practice", ident=request_ident(request))
        if wait is not None:
            messages.error(request, throttled_message(wait))
            return _wrong_book_page(request, status=429)
    try:
        session, _created = wrong_book_practice_start(user=request.user)
    except ApplicationError as exc:
        messages.error(request, _refusal(exc))
        return redirect("wrong-book")
    return redirect("session-take", session_id=session.pk)
