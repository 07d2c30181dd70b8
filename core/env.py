"""Helpers that turn environment values into settings, refusing bad ones at start-up."""

import secrets
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured


def read_secret_key(env: environ.Env, var_dir: Path, *, debug: bool, required: bool = False) -> str:
    """SECRET_KEY from the environment; a fresh clone gets a random key kept under var/.
    required (production): no fallback, every web process and worker must share one key."""
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if required:
        raise ImproperlyConfigured("SECRET_KEY must be set in production (DJANGO_ENV=production)")
    key_file = var_dir / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def url_list(urls: list[str]) -> list[str]:
    """Validate INFERENCE_URLS: one or more http(s) base URLs, without a trailing slash."""
    cleaned = []
    for url in urls:
        url = url.strip().rstrip("/")
        if not url:
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ImproperlyConfigured(f"INFERENCE_URLS: {url!r} is not an http(s) URL")
        cleaned.append(url.removesuffix("/v1"))
    if not cleaned:
        raise ImproperlyConfigured("INFERENCE_URLS: at least one model server URL is needed")
    return cleaned


def one_of(name: str, value: str, choices: tuple[str, ...]) -> str:
    """A setting that takes one of a few named values."""
    if value not in choices:
        raise ImproperlyConfigured(f"{name}: {value!r} is not one of {', '.join(choices)}")
    return value
