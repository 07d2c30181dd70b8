"""What a process keeps for a few seconds: values read from the database that many requests in a row
ask for (a class starting an exam together, an exam's autosaves), forgotten when they change here and
after at most `seconds` when they change in another process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Value = TypeVar("Value")


class Recent(Generic[Value]):
    """A map of recently read values, each kept `seconds` (a number, or a function read at each write,
    such as a setting); at most `limit` of them (all are dropped when it is reached). Safe from any
    thread. A value may be None: it is kept like any other."""

    def __init__(self, *, seconds: float | Callable[[], float], limit: int) -> None:
        self.seconds, self.limit = seconds, limit
        self._values: dict[Hashable, tuple[float, Value]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[bool, Value | None]:
        """(True, the value) if it is kept and fresh, else (False, None)."""
        with self._lock:
            kept = self._values.get(key)
            if kept is None:
                return False, None
            if kept[0] <= time.monotonic():
                del self._values[key]
                return False, None
            return True, kept[1]

    def put(self, key: Hashable, value: Value) -> None:
        seconds = self.seconds() if callable(self.seconds) else self.seconds
        if seconds <= 0:
            return
        with self._lock:
            if len(self._values) >= self.limit:
                self._values.clear()
            self._values[key] = (time.monotonic() + seconds, value)

    def read(self, key: Hashable, reader: Callable[[], Value]) -> Value:
        """The kept value, else `reader()`, kept."""
        found, value = self.get(key)
        if found:
            return value  # type: ignore[return-value]
        value = reader()
        self.put(key, value)
        return value

    def forget(self, key: Hashable | None = None) -> None:
        """Forget one value, or every value (None)."""
        with self._lock:
            if key is None:
                self._values.clear()
            else:
                self._values.pop(key, None)

    def forget_where(self, test: Callable[[Hashable, Value], bool]) -> None:
        with self._lock:
            for key in [key for key, (_, value) in self._values.items() if test(key, value)]:
                del self._values[key]
