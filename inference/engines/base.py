"""The one interface every inference engine offers, and what it answers: a ChatResult, a ChatStream,
or a ModelServerError (ModelRequestRefused when the request itself is at fault).

Callers hold an `Engine` and never ask which one: the model servers over HTTP (`engines.http`) or
the model in this process (`engines.local`); `inference.engines.get_engine()` picks it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from core.exceptions import ServiceUnavailable

# A chat message ({"role": ..., "content": ...}) and a chat request (`chat`'s keyword arguments).
Message = dict[str, Any]
ChatRequest = dict[str, Any]


class ModelServerError(ServiceUnavailable):
    """No engine could answer: the server is down or failed while answering, or the model would not load."""


class ModelRequestRefused(ModelServerError):
    """The server answered 4xx: the request itself is wrong, so retrying it later would not help."""


@dataclass
class ChatResult:
    text: str
    model: str
    finish_reason: str | None
    prompt_token_ids: list[int] | None = None
    server: str = ""
    completion_tokens: int | None = None  # tokens generated, where the engine says


@dataclass
class ChatStream:
    """A streamed reply: iterate for the text as it is generated. `model` is the version that
    answers; the connection is made before this exists, so a server that is down raises at once."""

    pieces: Iterator[str]
    model: str
    server: str

    def __iter__(self) -> Iterator[str]:
        return self.pieces


class Engine(ABC):
    """Chat with the served model. `model` is the name the engine answers to.

    Output constraints (`chat`): `regex` or `json_schema`, one per request; `seed` makes sampling
    repeatable; `return_token_ids` returns the prompt's token ids as the model saw them. `min_tokens`
    keeps the model from ending its reply sooner (0: it ends when it is done); equal to `max_tokens`,
    every reply has exactly that many tokens.
    """

    model: str

    def cooling_down(self) -> bool:
        """Whether every server has just failed and is left alone for a while (a request now would fail
        at once): callers may skip the work of building one. False where there is no such state."""
        return False

    @abstractmethod
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
        """One reply; raises ModelServerError when no server answers."""

    @abstractmethod
    def chat_many(self, requests_: list[ChatRequest], *, concurrency: int = 8) -> list[ChatResult | Exception]:
        """Many chat requests at once (`chat`'s keyword arguments each); each result is a ChatResult
        or the error it raised."""

    @abstractmethod
    def chat_stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = 0,
        min_tokens: int = 0,
    ) -> ChatStream:
        """The reply as it is generated; a failure once text flows raises ModelServerError from the iteration."""

    @abstractmethod
    def served_models(self) -> list[str]:
        """The names the engine answers to (the common alias and the version's own name)."""

    @abstractmethod
    def served_version(self, server: str) -> str:
        """The model version `server` serves."""

    @abstractmethod
    def health(self) -> dict[str, bool]:
        """Each server (or "local") and whether it is ready to answer."""
