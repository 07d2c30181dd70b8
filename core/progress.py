"""The progress bar a long management command shows while it reads, writes or scores.

Only a person watching a terminal gets one: when the command's stderr is not a TTY (CI logs, a pipe,
a test's captured output) or its output is machine-read (--json), no bar is made and the services
are handed no callback at all, so they count nothing for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO, TypeVar

from django.core.management.base import OutputWrapper

T = TypeVar("T")


class ProgressReport(Protocol):
    """Called with the count done so far (not an increment), and the total once it is known."""

    def __call__(self, done: int, total: int | None = None) -> None: ...


class _RawStream:
    """tqdm redraws with a carriage return: Django's OutputWrapper would add a newline to each write,
    and on a terminal colour stderr as an error."""

    def __init__(self, out: OutputWrapper) -> None:
        self._out = out

    def write(self, text: str) -> int:
        self._out.write(text, style_func=_plain, ending="")
        return len(text)

    def flush(self) -> None:
        self._out.flush()

    def fileno(self) -> int:  # tqdm sizes the bar to the terminal's width through it
        return self._out.fileno()


def _plain(text: str) -> str:
    return text


@contextmanager
def progress_bar(
    *, stream: OutputWrapper | TextIO, unit: str, description: str = "", total: int | None = None, enabled: bool = True
) -> Iterator[ProgressReport | None]:
    """A bar on `stream` (a command's `self.stderr`) counting `unit`s; yields None when none is shown."""
    if not enabled or not stream.isatty():
        yield None
        return
    from tqdm import tqdm  # only a command on a terminal needs it

    out = _RawStream(stream) if isinstance(stream, OutputWrapper) else stream
    # tqdm's own throttle (mininterval) keeps a report per item cheap: it redraws a few times a second
    with tqdm(total=total, unit=f" {unit}", desc=description or None, file=out, dynamic_ncols=True) as bar:

        def report(done: int, total: int | None = None) -> None:
            if total is not None and total != bar.total:
                bar.total = total
                bar.refresh()
            if done > bar.n:
                bar.update(done - bar.n)

        yield report


def counted(items: Iterable[T], report: Callable[[int], None] | None) -> Iterator[T]:
    """`items` unchanged, reporting how many have been taken so far."""
    if report is None:
        yield from items
        return
    for done, item in enumerate(items, start=1):
        yield item
        report(done)
