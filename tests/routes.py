"""Every route of the site, walked from the URL conf (recursively) and read from the OpenAPI schema,
so that tests over "every route" cover the routes added later without being touched."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings as django_settings
from django.urls import URLResolver, get_resolver
from django.urls.resolvers import LocalePrefixPattern, RegexPattern, RoutePattern
from django.utils.regex_helper import normalize

_ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_FORMAT_PARAMETER = re.compile(r"%\((\w+)\)s")
BRACED_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    """A path template ("/api/v1/sessions/{session_id}") with the kinds of its parameters."""

    template: str
    params: tuple[tuple[str, str], ...] = ()
    namespace: str = ""
    url_name: str = ""


def _segment(pattern) -> tuple[str, list[tuple[str, str]]]:
    """One pattern of the URL conf as a template piece and its parameters."""
    if isinstance(pattern, RoutePattern):
        params: list[tuple[str, str]] = []

        def placeholder(match: re.Match) -> str:
            params.append((match["name"], match["converter"] or "str"))
            return "{" + match["name"] + "}"

        return _ROUTE_PARAMETER.sub(placeholder, str(pattern)), params
    if isinstance(pattern, LocalePrefixPattern):
        return pattern.language_prefix, []
    if isinstance(pattern, RegexPattern):
        template, names = normalize(pattern.regex.pattern)[0]
        return _FORMAT_PARAMETER.sub(r"{\1}", template.replace("%%", "%")), [(name, "regex") for name in names]
    raise TypeError(f"unknown URL pattern {pattern!r}")


def _walk(resolver, prefix: str = "", params: tuple = (), namespace: str = ""):
    for entry in resolver.url_patterns:
        text, found = _segment(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = ":".join(part for part in (namespace, entry.namespace) if part)
            yield from _walk(entry, prefix + text, params + tuple(found), inner)
        else:
            yield Route("/" + prefix + text, params + tuple(found), namespace, entry.name or "")


def urlconf_routes() -> list[Route]:
    """Every route of the URL conf but the static and media files that a development server's unnamed
    `static()` routes serve (a named view under /media/, the question images, is a route like any), each
    template once."""
    static = tuple(
        f"/{prefix.strip('/')}/" for prefix in (django_settings.STATIC_URL, django_settings.MEDIA_URL) if prefix
    )
    routes: dict[str, Route] = {}
    for route in _walk(get_resolver()):
        if route.url_name or not route.template.startswith(static):
            routes.setdefault(route.template, route)
    return list(routes.values())


def schema_paths() -> tuple[dict[str, list[str]], str]:
    """The OpenAPI paths with their methods, or the error that stopped the schema."""
    try:
        from drf_spectacular.generators import SchemaGenerator

        schema = SchemaGenerator().get_schema(request=None, public=True)
    except Exception as exc:  # reported by a test, not as a collection error
        return {}, f"{type(exc).__name__}: {exc}"
    return {path: [method.lower() for method in operations] for path, operations in schema["paths"].items()}, ""
