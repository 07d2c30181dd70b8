"""The web app, loaded by each gunicorn worker before it takes a request."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quizsite.settings")
application = get_wsgi_application()


def warm_up() -> None:
    """Load now what the first requests of a worker would otherwise load while students wait: every
    URL and its view module, the tasks, and the broker's client library (for a submission's first
    grading task). On an exam day the first submissions arrive together, and each worker paid about
    0.2 s for these then. Nothing here connects anywhere: connections are still made by the first
    request that needs one, after the fork."""
    from django.urls import get_resolver
    from kombu import Connection

    from quizsite.celery import app

    get_resolver().url_patterns  # noqa: B018 (imports the URL modules and their views)
    app.finalize(auto=True)  # the tasks, bound to the app
    Connection(app.conf.broker_write_url or app.conf.broker_url).get_transport_cls()  # imports it, connects nowhere


warm_up()
