"""A student who signed in with the one-time password from a class import chooses their own before
any other page (the sign-out, the language switch and static files stay reachable).

Whether they must is read once, at sign-in (quizbank.receivers), and kept in their session: a page asks nothing of the
database for it, and no page writes the session for it."""

from __future__ import annotations

from django.shortcuts import redirect
from django.urls import reverse

MUST_CHOOSE_KEY = "must_choose_password"
# Pages a student with a one-time password may still open; the API refuses nothing here: its clients
# sign in with a token the page flow hands out only after the change.
_OPEN_PREFIXES = ("/accounts/", "/i18n/", "/static/", "/api/", "/healthz", "/livez")


class FirstPasswordMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and session.get(MUST_CHOOSE_KEY) and not request.path.startswith(_OPEN_PREFIXES):
            return redirect(reverse("password-first"))
        return self.get_response(request)
