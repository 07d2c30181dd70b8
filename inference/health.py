"""The model servers' health check, registered with core's health registry as "model"."""

from core.health import timed


def model_health() -> dict[str, dict]:
    """The model servers (INFERENCE_URLS) or the in-process model: ok while at least one answers,
    as the client routes around the others."""
    from inference.engines import get_engine

    def served() -> dict:
        servers = get_engine().health()
        if not any(servers.values()):
            raise ConnectionError("no model server is ready")
        return {"servers": {url: "up" if up else "down" for url, up in servers.items()}}

    return {"model": timed(served)}
