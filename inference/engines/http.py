"""The model servers over HTTP (vLLM's OpenAI-compatible API). HTTP only: no torch here.

Requests are spread over INFERENCE_URLS round-robin; a server that fails is skipped for a
cool-down (a small circuit breaker), failures are retried on the next server with backoff,
and `chat_many` keeps several requests in flight so the server can batch them. Every request
carries the model servers' API key (`model_server_api_key`).
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ProtocolError

from inference.engines.base import (
    ChatRequest,
    ChatResult,
    ChatStream,
    Engine,
    Message,
    ModelRequestRefused,
    ModelServerError,
)

API_KEY_FILE = "vllm-api-key"


def model_server_api_key() -> str:
    """The key the model servers require (`Authorization: Bearer <key>`): VLLM_API_KEY, which production
    must set; in local development a random key generated into var/vllm-api-key (mode 0600) on first
    use and kept, so the web, the workers and serve_model agree on it across restarts."""
    if settings.VLLM_API_KEY:
        return str(settings.VLLM_API_KEY)
    if settings.PRODUCTION:
        raise ImproperlyConfigured(
            "VLLM_API_KEY must be set in production (DJANGO_ENV=production): the same key on every host "
            "that serves or calls the models"
        )
    path = Path(settings.VAR_DIR) / API_KEY_FILE
    if not path.exists():
        # A private file linked into place: processes started together (web, worker and model under
        # honcho) never read a half-written key, and all keep the one that was linked first.
        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{API_KEY_FILE}.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32))
            try:
                os.link(partial, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(partial)
    key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty: delete it to have a new model server key generated")
    return key


def auth_headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def _closed_before_answering(exc: requests.RequestException) -> bool:
    """The connection was closed before any answer came (urllib3's ProtocolError: "Connection aborted")."""
    return isinstance(exc, requests.ConnectionError) and bool(exc.args) and isinstance(exc.args[0], ProtocolError)


def _pooled_session() -> requests.Session:
    """One session for every thread: enough pooled connections per server for the requests in flight
    (a web worker's threads, a batch), so none is opened and thrown away per request."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=16, pool_maxsize=64)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass
class _Breaker:
    failures: int = 0
    open_until: float = 0.0


@dataclass
class HttpEngine(Engine):
    urls: list[str]
    model: str
    timeout: float = 60.0
    retries: int = 2
    failure_threshold: int = 2
    cooldown: float = 15.0
    _breakers: dict[str, _Breaker] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    # the active version's name: asked for by name on servers that list it (a hot-loaded LoRA adapter)
    preferred: Callable[[], str | None] | None = None
    listing_ttl: float = 5.0
    _session: requests.Session = field(default_factory=lambda: _pooled_session())
    _listings: dict[str, tuple[float, list[str]]] = field(default_factory=dict)  # url -> (expires, names served)
    _preferred: tuple[float, str | None] = (0.0, None)
    # None: the configured key (model_server_api_key), which production refuses to run without
    api_key: str | None = None

    def __post_init__(self) -> None:
        if self.api_key is None:
            self.api_key = model_server_api_key()
        if self.api_key:
            self._session.headers.update(auth_headers(self.api_key))

    # --- the OpenAI-compatible calls ----------------------------------------------------------

    def chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        regex: str | None = None,
        json_schema: dict[str, Any] | None = None,
        return_token_ids: bool = False,
        seed: int | None = 0,
        min_tokens: int = 0,
    ) -> ChatResult:
        payload: dict[str, Any] = {
            "model": self.model,  # each server is asked for the name it serves (see _model_for)
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if seed is not None:
            payload["seed"] = seed
        if min_tokens:
            payload["min_tokens"] = min_tokens  # vLLM's sampling parameter: no end (EOS) before it
        if regex and json_schema:
            raise ValueError("one output constraint per request: regex or json_schema")
        if regex:
            payload["structured_outputs"] = {"regex": regex}
        if json_schema:
            payload["structured_outputs"] = {"json": json_schema}
        if return_token_ids:
            payload["return_token_ids"] = True
        server, body = self._request("POST", "/v1/chat/completions", payload)
        choice = body["choices"][0]
        return ChatResult(
            text=choice["message"].get("content") or "",
            model=self._answered_by(server, body.get("model", "")),
            finish_reason=choice.get("finish_reason"),
            prompt_token_ids=body.get("prompt_token_ids"),
            server=server,
            completion_tokens=(body.get("usage") or {}).get("completion_tokens"),
        )

    def chat_many(self, requests_: list[ChatRequest], *, concurrency: int = 8) -> list[ChatResult | Exception]:
        """Run many chat requests at once; each result is a ChatResult or the error it raised."""

        def one(kwargs: ChatRequest) -> ChatResult | Exception:
            try:
                return self.chat(**kwargs)
            except ModelServerError as exc:
                return exc

        self._preferred_name()  # read here, in the caller's thread (and database connection)
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            return list(pool.map(one, requests_))

    def chat_stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = 0,
        min_tokens: int = 0,
    ) -> ChatStream:
        """A chat reply streamed as it is generated (OpenAI `stream: true`, server-sent events).

        Connecting retries on the next server like `chat`; a failure once text flows raises
        ModelServerError from the iteration (the caller has already shown part of the reply)."""
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        if seed is not None:
            payload["seed"] = seed
        if min_tokens:
            payload["min_tokens"] = min_tokens
        server, response, model = self._send("POST", "/v1/chat/completions", payload, stream=True)
        return ChatStream(
            pieces=self._stream_pieces(server, response), model=self._answered_by(server, model), server=server
        )

    def _stream_pieces(self, server: str, response: requests.Response) -> Iterator[str]:
        try:
            for line in response.iter_lines():
                # Whole lines only, so a character split across network chunks decodes intact.
                if not line.startswith(b"data:"):
                    continue
                data = line[len(b"data:") :].strip()
                if data == b"[DONE]":
                    return
                chunk = json.loads(data)
                if "error" in chunk:
                    raise ModelServerError("the model server failed while answering", extra={"server": server})
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        yield piece
        except (requests.RequestException, ValueError) as exc:
            self._failed(server)
            raise ModelServerError(
                "the model server stopped while answering", extra={"server": server, "error": type(exc).__name__}
            ) from exc
        finally:
            response.close()

    def served_models(self) -> list[str]:
        _, body = self._request("GET", "/v1/models", None)
        return [entry["id"] for entry in body.get("data", [])]

    def served_version(self, server: str) -> str:
        """The model version a server serves: its first name other than the common alias."""
        own = [name for name in self._listed(server) or [] if name != self.model]
        return own[0] if own else self.model

    def _answered_by(self, server: str, requested: str) -> str:
        return requested if requested and requested != self.model else self.served_version(server)

    def _listed(self, server: str, *, refresh: bool = False) -> list[str] | None:
        """The model names a server serves (cached for `listing_ttl` seconds); None if it does not say."""
        now = time.monotonic()
        cached = self._listings.get(server)
        if cached and cached[0] > now and not refresh:
            return cached[1]
        try:
            body = self._session.get(f"{server}/v1/models", timeout=min(self.timeout, 5)).json()
            names = [entry["id"] for entry in body.get("data", [])]
        except (requests.RequestException, ValueError, KeyError, TypeError, AttributeError):
            return None
        self._listings[server] = (now + self.listing_ttl, names)
        return names

    def _preferred_name(self) -> str | None:
        if self.preferred is None:
            return None
        expires, name = self._preferred
        if expires <= time.monotonic():
            name = self.preferred()
            self._preferred = (time.monotonic() + self.listing_ttl, name)
        return name

    def _model_for(self, server: str, *, refresh: bool = False) -> str:
        """The name to ask a server for: the active version if it serves it (a LoRA adapter hot-loaded
        on promotion is served under its version's name), else the version it serves, so the reply
        says exactly which version answered; the common alias when the server does not say."""
        names = self._listed(server, refresh=refresh)
        if not names:
            return self.model
        preferred = self._preferred_name()
        if preferred and preferred in names:
            return preferred
        own = [name for name in names if name != self.model]
        return own[0] if own else self.model

    def health(self) -> dict[str, bool]:
        status = {}
        for url in self.urls:
            try:
                status[url] = self._session.get(f"{url}/health", timeout=min(self.timeout, 5)).status_code == 200
            except requests.RequestException:
                status[url] = False
        return status

    # --- transport ------------------------------------------------------------------------------

    def _request(self, method: str, path: str, payload: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        url, response, _ = self._send(method, path, payload)
        body: dict[str, Any] = response.json()
        return url, body

    def _send(
        self, method: str, path: str, payload: dict[str, Any] | None, *, stream: bool = False
    ) -> tuple[str, requests.Response, str]:
        """The next healthy server's response (and the model name it was asked for); a failing server
        is marked and the next one tried, with backoff. A 4xx is the request's fault, not the server's:
        refused at once, never retried, except an unknown model name, asked again once with the names
        the server serves now (another version has just replaced the one it served)."""
        errors: list[str] = []
        attempts = self.retries + 1
        attempt = 0
        renamed = reconnected = False
        while attempt < attempts:
            url = self._pick()
            if url is None:
                errors.append("every model server is cooling down after failures")
                break
            body, model = payload, ""
            if payload is not None and "model" in payload:
                model = self._model_for(url, refresh=renamed)
                body = {**payload, "model": model}
            try:
                response = self._session.request(method, f"{url}{path}", json=body, timeout=self.timeout, stream=stream)
            except requests.RequestException as exc:
                if _closed_before_answering(exc) and not reconnected:
                    # A pooled connection the server (or the public port, switching servers) had closed:
                    # asked again at once on a new connection, and not held against the server.
                    reconnected = True
                    continue
                self._failed(url)
                errors.append(f"{url}: {type(exc).__name__}")
            else:
                if response.status_code == 404 and model and not renamed:
                    response.close()
                    renamed = True
                    continue
                if response.status_code < 500:
                    self._succeeded(url)
                    if response.status_code >= 400:
                        detail = response.text[:500]
                        response.close()
                        raise ModelRequestRefused(
                            f"the model server refused the request ({response.status_code})",
                            extra={"server": url, "detail": detail},
                        )
                    return url, response, model
                response.close()
                self._failed(url)
                errors.append(f"{url}: HTTP {response.status_code}")
            attempt += 1
            if attempt < attempts:
                time.sleep(min(0.25 * 2 ** (attempt - 1), 2.0))
        raise ModelServerError("the model server is not available", extra={"attempts": errors})

    def cooling_down(self) -> bool:
        now = time.monotonic()
        with self._lock:
            return all(self._breakers.get(url, _Breaker()).open_until > now for url in self.urls)

    def _pick(self) -> str | None:
        now = time.monotonic()
        start = next(self._turn)
        with self._lock:
            for offset in range(len(self.urls)):
                url = self.urls[(start + offset) % len(self.urls)]
                if self._breakers.get(url, _Breaker()).open_until <= now:
                    return url
        return None

    def _failed(self, url: str) -> None:
        with self._lock:
            breaker = self._breakers.setdefault(url, _Breaker())
            breaker.failures += 1
            if breaker.failures >= self.failure_threshold:
                breaker.open_until = time.monotonic() + self.cooldown
                breaker.failures = 0

    def _succeeded(self, url: str) -> None:
        with self._lock:
            self._breakers[url] = _Breaker()
