"""The project's settings with the bench's URLs (tests.bench_site): for the bench's gunicorn only."""

from quizsite.settings import *  # noqa: F403

ROOT_URLCONF = "tests.bench_site"
