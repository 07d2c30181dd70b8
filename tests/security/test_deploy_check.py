"""Production settings pass Django's deployment checklist with no warning, and the local defaults
stay usable over plain http."""

import os
import secrets
import subprocess
import sys

from tests.conftest import REPO

# Anything the calling environment sets for these would change what is checked.
SECURITY_VARIABLES = (
    "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ENV", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
    "BEHIND_TLS_PROXY",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set by the test run (Playwright), never in deployment
)  # fmt: skip


def manage(*args: str, **variables: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in SECURITY_VARIABLES}
    env.update(DJANGO_SETTINGS_MODULE="quizsite.settings", **variables)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


PRODUCTION = {
    "DJANGO_ENV": "production",
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "quiz.example.edu",
    "CSRF_TRUSTED_ORIGINS": "https://quiz.example.edu",
}


def test_production_settings_pass_check_deploy_without_a_warning():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output and "?: (" not in output, output
    assert "no issues" in output


def test_production_refuses_to_start_without_a_secret_key_or_hosts_or_with_debug():
    for missing in ("SECRET_KEY", "ALLOWED_HOSTS"):
        variables = {key: value for key, value in PRODUCTION.items() if key != missing}
        result = manage("check", **variables)
        assert result.returncode != 0 and missing in result.stderr, result.stderr[-2000:]
    result = manage("check", **{**PRODUCTION, "DEBUG": "true"})
    assert result.returncode != 0 and "DEBUG" in result.stderr


def test_the_local_defaults_keep_cookies_usable_over_plain_http(settings):
    # `make run` serves http://127.0.0.1: a Secure cookie would never come back, and login would fail.
    assert settings.DJANGO_ENV == "local"
    assert not settings.SESSION_COOKIE_SECURE and not settings.CSRF_COOKIE_SECURE
    assert not settings.SECURE_SSL_REDIRECT and settings.SECURE_HSTS_SECONDS == 0
