"""The HTTP client for the model servers (vLLM's OpenAI-compatible API). HTTP only: no torch here.

Requests are spread over INFERENCE_URLS round-robin; a server that fails is skipped for a
cool-down (a small circuit breaker), failures are retried on the next server with backoff,
and `chat_many` keeps several requests in flight so the server can batch them.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests
from django.conf import settings

from quizsite.exceptions import ServiceUnavailable


class ModelServerError(ServiceUnavailable):
    pass


class ModelRequestRefused(ModelServerError):
    """The server answered 4xx: the request itself is wrong, so retrying it later would not help."""


@dataclass
class ChatResult:
    text: str
    model: str
    finish_reason: str | None
    prompt_token_ids: list[int] | None = None
    server: str = ""


@dataclass
class ChatStream:
    """A streamed reply: iterate for the text as it is generated. `model` is the version that
    answers; the connection is made before this exists, so a server that is down raises at once."""

    pieces: Iterator[str]
    model: str
    server: str

    def __iter__(self) -> Iterator[str]:
        return self.pieces


@dataclass
class _Breaker:
    failures: int = 0
    open_until: float = 0.0


@dataclass
class ModelClient:
    urls: list[str]
    model: str
    timeout: float = 60.0
    retries: int = 2
    failure_threshold: int = 2
    cooldown: float = 15.0
    _breakers: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _turn: itertools.count = field(default_factory=itertools.count)
    _session: requests.Session = field(default_factory=requests.Session)
    _versions: dict = field(default_factory=dict)

    # --- the OpenAI-compatible calls ----------------------------------------------------------

    def chat(
        self,
        messages: list[dict],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        regex: str | None = None,
        json_schema: dict | None = None,
        return_token_ids: bool = False,
        seed: int | None = 0,
    ) -> ChatResult:
        payload: dict = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if seed is not None:
            payload["seed"] = seed
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
            model=self.served_version(server),
            finish_reason=choice.get("finish_reason"),
            prompt_token_ids=body.get("prompt_token_ids"),
            server=server,
        )

    def chat_many(self, requests_: list[dict], *, concurrency: int = 8) -> list[ChatResult | Exception]:
        """Run many chat requests at once; each result is a ChatResult or the error it raised."""

        def one(kwargs: dict) -> ChatResult | Exception:
            try:
                return self.chat(**kwargs)
            except ModelServerError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            return list(pool.map(one, requests_))

    def chat_stream(
        self, messages: list[dict], *, max_tokens: int = 256, temperature: float = 0.0, seed: int | None = 0
    ) -> ChatStream:
        """A chat reply streamed as it is generated (OpenAI `stream: true`, server-sent events).

        Connecting retries on the next server like `chat`; a failure once text flows raises
        ModelServerError from the iteration (the caller has already shown part of the reply)."""
        payload: dict = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        if seed is not None:
            payload["seed"] = seed
        server, response = self._open_stream("/v1/chat/completions", payload)
        return ChatStream(
            pieces=self._stream_pieces(server, response), model=self.served_version(server), server=server
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
        """The model version a server serves: its name other than the common alias."""
        if server not in self._versions:
            try:
                body = self._session.get(f"{server}/v1/models", timeout=self.timeout).json()
                names = [entry["id"] for entry in body.get("data", []) if entry["id"] != self.model]
            except (requests.RequestException, ValueError, KeyError):
                return self.model
            self._versions[server] = names[0] if names else self.model
        return self._versions[server]

    def health(self) -> dict[str, bool]:
        status = {}
        for url in self.urls:
            try:
                status[url] = self._session.get(f"{url}/health", timeout=min(self.timeout, 5)).status_code == 200
            except requests.RequestException:
                status[url] = False
        return status

    # --- transport ------------------------------------------------------------------------------

    def _request(self, method: str, path: str, payload: dict | None) -> tuple[str, dict]:
        url, response = self._send(method, path, payload)
        return url, response.json()

    def _open_stream(self, path: str, payload: dict) -> tuple[str, requests.Response]:
        """`_request` for a streamed reply: the open response, its body not read yet."""
        return self._send("POST", path, payload, stream=True)

    def _send(self, method: str, path: str, payload: dict | None, *, stream: bool = False):
        """The next healthy server's response; a failing server is marked and the next one tried, with
        backoff. A 4xx is the request's fault, not the server's: refused at once, never retried."""
        errors: list[str] = []
        attempts = self.retries + 1
        for attempt in range(attempts):
            url = self._pick()
            if url is None:
                errors.append("every model server is cooling down after failures")
                break
            try:
                response = self._session.request(
                    method, f"{url}{path}", json=payload, timeout=self.timeout, stream=stream
                )
            except requests.RequestException as exc:
                self._failed(url)
                errors.append(f"{url}: {type(exc).__name__}")
            else:
                if response.status_code < 500:
                    self._succeeded(url)
                    if response.status_code >= 400:
                        detail = response.text[:500]
                        response.close()
                        raise ModelRequestRefused(
                            f"the model server refused the request ({response.status_code})",
                            extra={"server": url, "detail": detail},
                        )
                    return url, response
                response.close()
                self._failed(url)
                errors.append(f"{url}: HTTP {response.status_code}")
            if attempt + 1 < attempts:
                time.sleep(min(0.25 * 2**attempt, 2.0))
        raise ModelServerError("the model server is not available", extra={"attempts": errors})

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


_client: ModelClient | None = None
_client_lock = threading.Lock()


def get_client() -> ModelClient:
    """The process-wide client, built from settings."""
    global _client
    with _client_lock:
        if _client is None:
            _client = ModelClient(
                urls=settings.INFERENCE_URLS,
                model=settings.INFERENCE_MODEL_NAME,
                timeout=settings.INFERENCE_TIMEOUT,
                retries=settings.INFERENCE_RETRIES,
            )
        return _client


def reset_client() -> None:
    global _client
    with _client_lock:
        _client = None
