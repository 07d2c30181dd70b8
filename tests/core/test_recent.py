"""core.recent.Recent: values kept a few seconds in a process, forgotten on demand."""

from __future__ import annotations

import time

from core.recent import Recent


def test_a_value_is_read_once_and_kept_until_its_seconds_pass():
    reads = []
    recent: Recent[str | None] = Recent(seconds=0.2, limit=10)

    def reader(value):
        def read():
            reads.append(value)
            return value

        return read

    assert recent.read("a", reader("first")) == "first"
    assert recent.read("a", reader("second")) == "first"
    assert recent.read("b", reader(None)) is None and recent.read("b", reader("later")) is None  # None is kept
    time.sleep(0.25)
    assert recent.read("a", reader("third")) == "third"
    assert reads == ["first", None, "third"]


def test_forgetting_one_some_or_all_and_the_limit():
    recent: Recent[int] = Recent(seconds=60, limit=3)
    for key in "abc":
        recent.put(key, ord(key))
    recent.forget("a")
    recent.forget_where(lambda key, value: value == ord("b"))
    assert recent.get("a") == (False, None) and recent.get("b") == (False, None) and recent.get("c") == (True, 99)
    for key in "defg":  # past the limit: everything kept is dropped, then the new one kept
        recent.put(key, 0)
    assert recent.get("c") == (False, None) and recent.get("g") == (True, 0)
    recent.forget()
    assert recent.get("g") == (False, None)


def test_seconds_read_at_each_write_and_none_kept_at_zero():
    seconds = [5.0]
    recent: Recent[int] = Recent(seconds=lambda: seconds[0], limit=10)
    recent.put("a", 1)
    seconds[0] = 0
    recent.put("b", 2)
    assert recent.get("a") == (True, 1) and recent.get("b") == (False, None)
