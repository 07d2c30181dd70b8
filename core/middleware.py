"""The page language: 简体中文 for everyone unless the user chose another with the language switch."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

GetResponse = Callable[[HttpRequest], HttpResponse]


class ChosenLanguageMiddleware:
    """Like Django's LocaleMiddleware, but the browser's Accept-Language is not consulted: a school's
    pages are in the school's language (LANGUAGE_CODE) until a user picks English (the set_language
    view stores the choice in the language cookie)."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.languages = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        language = chosen if chosen in self.languages else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch = response.headers.get("Vary", "")
        if "Cookie" not in patch:
            response.headers["Vary"] = f"{patch}, Cookie" if patch else "Cookie"
        return response


# Scripts and styles come only from our own static files (KaTeX included: var/vendor/katex), with no
# inline script anywhere, so a tag that slips past the HTML sanitiser cannot run. Inline styles are
# allowed (the templates' <style> blocks; KaTeX sets sizes in style attributes), but with images,
# fonts and fetches limited to this site, injected CSS has nowhere to send what it reads. `data:`
# images are the favicon placeholder and raster images inside imported questions.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """Sends CONTENT_SECURITY_POLICY with every response that does not set its own."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
