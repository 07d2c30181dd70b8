"""What a test hands to a process of its own (a worker, a model server supervisor)."""

from urllib.parse import quote

from django.db import connection


def database_url(*, host: str | None = None, port: int | None = None) -> str:
    """The test database as a DATABASE_URL for another process (optionally through host:port)."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    assert connection.vendor == "postgresql", connection.vendor
    auth = quote(settings_dict["USER"] or "", safe="")
    if settings_dict["PASSWORD"]:
        auth += ":" + quote(settings_dict["PASSWORD"], safe="")
    host = host or settings_dict["HOST"] or "127.0.0.1"
    port = port or int(settings_dict["PORT"] or 5432)
    return f"postgres://{auth}@{host}:{port}/{settings_dict['NAME']}"
