"""A student who signed in with the one-time password from a class import chooses their own before
any other page (the sign-out, the language switch and static files stay reachable)."""

from __future__ import annotations

from django.shortcuts import redirect
from django.urls import reverse

from quizbank.selectors.classes import must_change_password

# Pages a student with a one-time password may still open; the API refuses nothing here: its clients
# sign in with a token the page flow hands out only after the change.
CHOSEN_KEY = "password_chosen"
_OPEN_PREFIXES = ("/accounts/", "/i18n/", "/static/", "/api/", "/healthz", "/livez")


class FirstPasswordMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(_OPEN_PREFIXES)
            and not request.session.get(CHOSEN_KEY)
        ):
            if must_change_password(user=user):
                return redirect(reverse("password-first"))
            # asked once per sign-in: a password once chosen stays chosen (a new sign-in starts a new session)
            request.session[CHOSEN_KEY] = True
        return self.get_response(request)
