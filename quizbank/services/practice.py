"""Starting the practice of one's wrong answers: at most one open at a time."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from quizbank.models import QuizSession
from quizbank.selectors.exams import wrong_book_practice_open
from quizbank.services.sessions import session_expire_if_due, session_start
from quizbank.services.wrongbook import wrong_book_practice_create


def wrong_book_practice_start(*, user: User, now: datetime | None = None) -> tuple[QuizSession, bool]:
    """The practice attempt the student left unfinished, else a new practice paper and its attempt
    (True: new). Asking again makes no new paper until the open one is finished: each paper's essays
    are graded by the model."""
    now = now or timezone.now()
    with transaction.atomic():  # no practice paper is left behind if the attempt cannot start
        open_session = wrong_book_practice_open(user=user)
        if open_session is not None:
            open_session = session_expire_if_due(session=open_session, now=now)
            if open_session.is_open:
                return open_session, False
        paper = wrong_book_practice_create(user=user, now=now)
        return session_start(user=user, paper=paper, now=now), True
